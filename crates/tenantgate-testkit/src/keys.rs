//! Test signing keys and tokens. Two 2048-bit RSA keys are generated once per test binary with
//! the `rsa` crate (independent of the code under test), and sign with ring from their PKCS#8.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384};
use serde_json::{json, Value};

/// A fresh 2048-bit RSA key as PKCS#8 DER.
fn generate() -> Vec<u8> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand::rng(), 2048).expect("RSA key generation");
    key.to_pkcs8_der()
        .expect("PKCS#8 encoding")
        .as_bytes()
        .to_vec()
}

/// The PKCS#8 DER of test key `slot`, generated on first use and then shared by every test of
/// this binary.
fn pkcs8(slot: usize) -> &'static [u8] {
    static KEYS: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    KEYS[slot].get_or_init(generate)
}

/// An RSA signing key with its `kid`.
pub struct TestKey {
    pair: RsaKeyPair,
    pub kid: String,
}

impl TestKey {
    /// The first 2048-bit key (the same key on every call within a test binary).
    pub fn a(kid: &str) -> TestKey {
        TestKey::from_pkcs8(pkcs8(0), kid)
    }

    /// The second 2048-bit key, distinct from the first.
    pub fn b(kid: &str) -> TestKey {
        TestKey::from_pkcs8(pkcs8(1), kid)
    }

    fn from_pkcs8(der: &[u8], kid: &str) -> TestKey {
        TestKey {
            pair: RsaKeyPair::from_pkcs8(der).expect("ring accepts the generated PKCS#8 key"),
            kid: kid.into(),
        }
    }

    /// The public key as a JWK (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    pub fn jwk(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        json!({
            "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
            "n": b64(&public.n), "e": b64(&public.e),
        })
    }

    /// An RS256 token with the usual header (`alg`, `typ`, `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// An RS256 signature over exactly this header and these claims.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_parts(&header.to_string(), &claims.to_string(), &RSA_PKCS1_SHA256)
    }

    /// An RS384 token (a real signature with another algorithm).
    pub fn sign_rs384(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS384", "typ": "JWT", "kid": self.kid});
        self.sign_parts(&header.to_string(), &claims.to_string(), &RSA_PKCS1_SHA384)
    }

    fn sign_parts(
        &self,
        header: &str,
        claims: &str,
        alg: &'static dyn ring::signature::RsaEncoding,
    ) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(alg, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .expect("RSA signing");
        format!("{input}.{}", b64(&sig))
    }
}

/// A JWKS document with these keys.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .expect("clock after 1970")
}

/// Claims of a token valid for five minutes: `iss`, `aud`, `sub`, `tenantId`, `roles`, `iat`,
/// `nbf`, `exp`, `jti`. Tests change fields on the returned value.
pub fn claims(issuer: &str, audience: &str, tenant: &str, user: &str, roles: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": issuer, "aud": audience, "sub": user, "tenantId": tenant, "roles": roles,
        "iat": now, "nbf": now, "exp": now + 300, "jti": format!("{user}-{now}"),
    })
}

/// A token with `"alg": "none"` and an empty signature.
pub fn unsigned_token(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An HS256 token, MAC'd with `secret` (for example the public key's bytes, the classic
/// algorithm-confusion attack).
pub fn hs256_token(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}
