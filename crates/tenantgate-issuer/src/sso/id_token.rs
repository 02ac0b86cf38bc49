//! Verification of an IdP's ID token (OIDC Core 1.0, section 3.1.3.7), with the filter core's
//! strict JWS parser and RS256 verifier: RS256 only, the key by `kid` from the IdP's JWKS, `iss`
//! exactly the tenant's configured issuer, `aud` containing the tenant's client id (`azp` equal
//! to it when there are several audiences), `nonce` the one stored with the `state`, `exp` in
//! the future and `iat` not far ahead (a minute of clock skew either way), and a `sub`.

use std::fmt;

use serde_json::Value;
use tenantgate_core::jwks::KeySet;
use tenantgate_core::token::jws;
use tenantgate_core::verify::rs256;

/// Clock skew tolerated between the IdP and this issuer.
pub const SKEW: i64 = 60;

/// What the ID token must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

/// The verified claims the issuer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub sub: String,
    pub email: Option<String>,
    /// The IdP's `amr`, if it sent one.
    pub amr: Vec<String>,
}

/// Why an ID token is refused; each names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    AuthorizedParty,
    Nonce,
    Expired,
    IssuedInFuture,
    Subject,
}

impl IdTokenError {
    /// A stable reason for audit lines.
    pub fn reason(&self) -> &'static str {
        match self {
            IdTokenError::Malformed => "id_token_malformed",
            IdTokenError::Algorithm => "id_token_algorithm",
            IdTokenError::UnknownKey => "id_token_unknown_key",
            IdTokenError::Signature => "id_token_signature",
            IdTokenError::Issuer => "id_token_issuer",
            IdTokenError::Audience => "id_token_audience",
            IdTokenError::AuthorizedParty => "id_token_azp",
            IdTokenError::Nonce => "id_token_nonce",
            IdTokenError::Expired => "id_token_expired",
            IdTokenError::IssuedInFuture => "id_token_iat",
            IdTokenError::Subject => "id_token_sub",
        }
    }
}

impl fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdTokenError::Malformed => "the IdP's ID token is not a well-formed JWS",
            IdTokenError::Algorithm => "the IdP's ID token is not signed with RS256",
            IdTokenError::UnknownKey => "the IdP's ID token names a key its JWKS does not have",
            IdTokenError::Signature => "the IdP's ID token signature does not verify",
            IdTokenError::Issuer => "the ID token was issued by another IdP than the tenant's",
            IdTokenError::Audience => "the ID token was issued to another client than the tenant's",
            IdTokenError::AuthorizedParty => "the ID token's azp is not the tenant's client",
            IdTokenError::Nonce => "the ID token's nonce is not the one of this sign-in",
            IdTokenError::Expired => "the ID token has expired",
            IdTokenError::IssuedInFuture => "the ID token's iat is in the future",
            IdTokenError::Subject => "the ID token has no usable sub",
        })
    }
}

impl std::error::Error for IdTokenError {}

fn int(claims: &serde_json::Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

fn audience_ok(
    claims: &serde_json::Map<String, Value>,
    client_id: &str,
) -> Result<(), IdTokenError> {
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(IdTokenError::Audience),
    };
    if !auds.contains(&client_id) {
        return Err(IdTokenError::Audience);
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if (auds.len() > 1 || azp.is_some()) && azp != Some(client_id) {
        return Err(IdTokenError::AuthorizedParty);
    }
    Ok(())
}

/// Verifies `token` against the IdP's `keys` and what is `expected` of it.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<IdClaims, IdTokenError> {
    let jws = jws::parse(token).map_err(|d| match d {
        tenantgate_core::denial::Denial::AlgorithmNotAllowed => IdTokenError::Algorithm,
        _ => IdTokenError::Malformed,
    })?;
    let key = keys
        .find(jws.kid.as_deref())
        .ok_or(IdTokenError::UnknownKey)?;
    if !rs256::verify(key, jws.signing_input.as_bytes(), &jws.signature) {
        return Err(IdTokenError::Signature);
    }
    let c = &jws.claims;
    if c.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(IdTokenError::Issuer);
    }
    audience_ok(c, expected.client_id)?;
    let nonce = c.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !crate::constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) || nonce.is_empty() {
        return Err(IdTokenError::Nonce);
    }
    match int(c, "exp") {
        Some(exp) if exp + SKEW > expected.now => {}
        _ => return Err(IdTokenError::Expired),
    }
    if int(c, "iat").is_none_or(|iat| iat > expected.now + SKEW) {
        return Err(IdTokenError::IssuedInFuture);
    }
    let sub = c
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(IdTokenError::Subject)?;
    let amr = match c.get("amr") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(IdClaims {
        sub: sub.to_string(),
        email: c.get("email").and_then(Value::as_str).map(str::to_owned),
        amr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    use serde_json::json;

    use crate::b64;

    struct Idp {
        kp: RsaKeyPair,
        keys: KeySet,
    }

    fn idp() -> Idp {
        let (der, n, e) = crate::keys::generate().expect("key");
        let keys = KeySet::from_value(&json!({"keys": [
            {"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": e}
        ]}))
        .expect("jwks");
        Idp {
            kp: RsaKeyPair::from_pkcs8(&der).expect("pkcs8"),
            keys,
        }
    }

    fn sign(kp: &RsaKeyPair, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; kp.public().modulus_len()];
        kp.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .expect("sign");
        format!("{input}.{}", b64(&sig))
    }

    const NOW: i64 = 1_800_000_000;

    fn good() -> Value {
        json!({"iss": "https://idp.acme.example", "aud": "gate", "sub": "00u1", "nonce": "n-1",
               "iat": NOW, "exp": NOW + 300, "email": "ana@acme.example", "amr": ["pwd", "mfa"]})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.acme.example",
            client_id: "gate",
            nonce: "n-1",
            now: NOW,
        }
    }

    #[test]
    fn a_good_token_verifies_and_every_wrong_member_is_named() {
        let idp = idp();
        let header = json!({"alg": "RS256", "kid": "k1"});
        let ok = verify(&sign(&idp.kp, &header, &good()), &idp.keys, &expected()).expect("valid");
        assert_eq!(ok.sub, "00u1");
        assert_eq!(ok.amr, ["pwd", "mfa"]);
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            sign(&idp.kp, &header, &c)
        };
        let cases = [
            (
                with("iss", json!("https://idp.globex.example")),
                IdTokenError::Issuer,
            ),
            (with("aud", json!("other-client")), IdTokenError::Audience),
            (
                with("aud", json!(["gate", "other"])),
                IdTokenError::AuthorizedParty,
            ),
            (with("nonce", json!("n-2")), IdTokenError::Nonce),
            (with("exp", json!(NOW - SKEW - 1)), IdTokenError::Expired),
            (
                with("iat", json!(NOW + SKEW + 1)),
                IdTokenError::IssuedInFuture,
            ),
            (with("sub", json!("")), IdTokenError::Subject),
        ];
        for (token, want) in cases {
            assert_eq!(
                verify(&token, &idp.keys, &expected()),
                Err(want.clone()),
                "{want}"
            );
        }
        let mut multi = good();
        multi["aud"] = json!(["gate", "other"]);
        multi["azp"] = json!("gate");
        assert!(verify(&sign(&idp.kp, &header, &multi), &idp.keys, &expected()).is_ok());
    }

    #[test]
    fn keys_and_algorithms_are_the_idps_only() {
        let (idp, other) = (idp(), idp());
        let header = json!({"alg": "RS256", "kid": "k1"});
        let forged = sign(&other.kp, &header, &good());
        assert_eq!(
            verify(&forged, &idp.keys, &expected()),
            Err(IdTokenError::Signature)
        );
        let unknown = sign(&idp.kp, &json!({"alg": "RS256", "kid": "k9"}), &good());
        assert_eq!(
            verify(&unknown, &idp.keys, &expected()),
            Err(IdTokenError::UnknownKey)
        );
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(good().to_string().as_bytes())
        );
        assert_eq!(
            verify(&none, &idp.keys, &expected()),
            Err(IdTokenError::Algorithm)
        );
        assert_eq!(
            verify("a.b", &idp.keys, &expected()),
            Err(IdTokenError::Malformed)
        );
    }
}
