//! Arbitrary header and payload JSON, genuinely signed, through full verification: reaches the
//! claim rules. Never panics; whatever verifies satisfies the invariants of a verified token.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tenantgate_core::verify;

#[path = "common.rs"]
mod common;

type Setup = (
    Vec<tenantgate_core::config::Provider>,
    common::Keys,
    ring::signature::RsaKeyPair,
);

fuzz_target!(|data: &[u8]| {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    let (providers, keys, pair) = SETUP.get_or_init(common::setup);
    // Header and payload are separated by the first NUL byte.
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (header, payload) = (&data[..split], &data[split + 1..]);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let rng = ring::rand::SystemRandom::new();
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &rng,
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
    if let Ok(v) = verify::verify(&token, providers, keys, common::NOW) {
        assert!(!v.subject.is_empty() && !v.tenant.is_empty());
        assert!(!v.subject.chars().any(char::is_control));
        assert!(!v.tenant.chars().any(char::is_control));
        assert!(v
            .roles
            .iter()
            .all(|r| !r.is_empty() && !r.contains(',') && !r.chars().any(char::is_control)));
        assert!(v.valid_until > common::NOW as i64);
        assert!(v.provider < providers.len());
    }
});
