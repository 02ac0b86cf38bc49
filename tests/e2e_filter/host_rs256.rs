//! RS256 through Envoy's own `verify_signature` (BoringSSL): the filter's decisions in Envoy must
//! equal the core's with ring, natively, on genuine, tampered, wrong-key, truncated and
//! oversized signatures under 2048-, 3072- and 4096-bit keys. (Wycheproof's vectors sign
//! arbitrary messages, which no JWS carries; they run through the host encoding natively, in
//! the core's `verify::host_rs256` tests.)

use rand::RngExt;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use tenantgate_core::gate::{Gate, Outcome, RequestView};
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::verify::KeySource;

use super::*;
use support::keys::b64;

struct Key {
    kid: String,
    signer: SigningKey<Sha256>,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Key {
    fn generate(kid: &str, bits: usize) -> Key {
        let private = rsa::RsaPrivateKey::new(&mut rand::rng(), bits).expect("key generation");
        let public = private.to_public_key();
        Key {
            kid: kid.into(),
            n: public.n_bytes().to_vec(),
            e: public.e_bytes().to_vec(),
            signer: SigningKey::<Sha256>::new(private),
        }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
               "n": b64(&self.n), "e": b64(&self.e)})
    }

    /// Header and payload segments naming `kid`, and this key's signature over them.
    fn sign(&self, kid: &str, claims: &Value) -> (String, Vec<u8>) {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.signer.sign(input.as_bytes()).to_vec();
        (input, sig)
    }
}

/// Claims of a valid token whose size varies with `padding`.
fn claims_with(user: &str, padding: usize) -> Value {
    let mut c = claims(ISSUER, AUDIENCE, "acme", user, &["viewer"]);
    c["pad"] = json!("x".repeat(padding));
    c
}

fn jws(input: &str, sig: &[u8]) -> String {
    format!("{input}.{}", b64(sig))
}

/// Every case for `key`: (what, token).
fn cases(key: &Key, wrong: &Key, keys: &[&Key]) -> Vec<(String, String)> {
    let mut rng = rand::rng();
    let mut out = Vec::new();
    let kid = &key.kid;
    let (input, sig) = key.sign(kid, &claims_with(&format!("{kid}-valid"), 0));
    out.push(("genuine".into(), jws(&input, &sig)));

    let (_, other_payload) = key.sign(kid, &claims_with(&format!("{kid}-other"), 3));
    let tampered_input = {
        let (header, _) = input.split_once('.').expect("input");
        let claims = claims_with(&format!("{kid}-mallory"), 0);
        format!("{header}.{}", b64(claims.to_string().as_bytes()))
    };
    out.push(("tampered payload".into(), jws(&tampered_input, &sig)));
    out.push((
        "another payload's signature".into(),
        jws(&input, &other_payload),
    ));
    for at in [0, sig.len() / 2, sig.len() - 1] {
        let mut flipped = sig.clone();
        flipped[at] ^= 1 << rng.random_range(0..8);
        out.push((format!("bit flipped at {at}"), jws(&input, &flipped)));
    }
    let (wrong_input, wrong_sig) = wrong.sign(kid, &claims_with(&format!("{kid}-wrong"), 0));
    out.push(("wrong key".into(), jws(&wrong_input, &wrong_sig)));
    for other in keys.iter().filter(|k| k.kid != *kid) {
        let (i, s) = other.sign(kid, &claims_with(&format!("{kid}-{}", other.kid), 0));
        out.push((format!("signed by {} under {kid}", other.kid), jws(&i, &s)));
    }
    out.push(("truncated by one".into(), jws(&input, &sig[1..])));
    out.push(("truncated tail".into(), jws(&input, &sig[..sig.len() - 1])));
    out.push(("half".into(), jws(&input, &sig[..sig.len() / 2])));
    out.push((
        "leading zero".into(),
        jws(&input, &[&[0], &sig[..]].concat()),
    ));
    out.push((
        "trailing byte".into(),
        jws(&input, &[&sig[..], &[0]].concat()),
    ));
    out.push((
        "doubled".into(),
        jws(&input, &[&sig[..], &sig[..]].concat()),
    ));
    out.push(("zeros".into(), jws(&input, &vec![0; sig.len()])));
    out.push(("ones".into(), jws(&input, &vec![0xff; sig.len()])));
    out.push(("the modulus".into(), jws(&input, &key.n)));
    out.push(("one byte".into(), jws(&input, &[1])));
    // Signing inputs of many lengths, genuine and with one bit flipped.
    for round in 0..6 {
        let padding = rng.random_range(0..600);
        let (i, s) = key.sign(kid, &claims_with(&format!("{kid}-r{round}"), padding));
        let mut flipped = s.clone();
        let at = rng.random_range(0..flipped.len());
        flipped[at] ^= 0x10;
        out.push((format!("genuine, {padding} bytes of padding"), jws(&i, &s)));
        out.push((
            format!("flipped, {padding} bytes of padding"),
            jws(&i, &flipped),
        ));
    }
    out
}

struct Keys(KeySet);

impl KeySource for Keys {
    fn key_set(&self, _: usize) -> Option<&KeySet> {
        Some(&self.0)
    }
}

#[test]
fn decisions_through_the_host_equal_ring() {
    let signers = [
        Key::generate("k2048", 2048),
        Key::generate("k3072", 3072),
        Key::generate("k4096", 4096),
    ];
    let wrong = Key::generate("stranger", 2048);
    let document = json!({"keys": signers.iter().map(Key::jwk).collect::<Vec<_>>()});
    let Some(gw) = Gateway::start(Setup::default(), JwksServer::serving(&document, 300)) else {
        return;
    };
    // The reference: the core natively, verifying with ring.
    let gate = Gate::from_json(policy().to_string().as_bytes()).expect("the policy compiles");
    let reference_keys = Keys(KeySet::from_value(&document).expect("the key set"));

    let (mut allowed, mut refused) = (0, 0);
    let all: Vec<&Key> = signers.iter().collect();
    for key in &signers {
        for (what, tok) in cases(key, &wrong, &all) {
            let what = format!("{}: {what}", key.kid);
            let authorization = format!("Bearer {tok}");
            let headers = [("authorization", authorization.as_str())];
            let view = RequestView {
                method: "GET",
                authority: ACME,
                path: "/api/x",
                headers: &headers,
            };
            let now = u64::try_from(keys::now()).expect("clock");
            let req = Req::get(ACME, "/api/x").bearer(&tok);
            match gate.decide(&view, &reference_keys, None, now) {
                Outcome::Allow { .. } => {
                    gw.allow(&what, req);
                    allowed += 1;
                }
                Outcome::Deny { denial, .. } => {
                    gw.deny(&what, req, denial);
                    refused += 1;
                }
                Outcome::AwaitKeys { .. } => panic!("{what}: the reference has every key"),
            }
        }
    }
    assert!(
        allowed >= 21 && refused >= 60,
        "{allowed} allowed, {refused} refused"
    );

    let stats = gw.envoy.stats();
    let get = |name: &str| {
        stats
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or_else(|| panic!("{name} not in /stats"))
    };
    assert_eq!(
        get("tenantgate.rs256.host"),
        1,
        "Envoy's verify_signature is in use"
    );
    assert_eq!(get("tenantgate.rs256.host_failures"), 0);
    assert!(get("tenantgate.denied.signature_invalid") >= 40);
}
