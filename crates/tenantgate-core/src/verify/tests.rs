//! Verification tests with real RS256 signatures. The keys under `testdata/` are throwaway
//! test keys generated for these tests only (PKCS#1 DER, RSAPrivateKey); nothing trusts them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use super::*;
use crate::config::Provider;
use crate::jwks::keyset::KeySet;
use crate::token::claims::{AccessClaims, AccessHeader, Audience};

pub(crate) const KEY_A: &[u8] = include_bytes!("testdata/rsa2048_a.der");
pub(crate) const KEY_B: &[u8] = include_bytes!("testdata/rsa2048_b.der");
pub(crate) const KEY_3072: &[u8] = include_bytes!("testdata/rsa3072.der");

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

#[test]
fn a_valid_token_verifies() {
    let f = fixture();
    let v = f.check(&claims()).expect("verifies");
    assert_eq!(
        v,
        VerifiedToken {
            provider: 0,
            tenant: "acme".into(),
            subject: "alice".into(),
            roles: vec!["admin".into(), "viewer".into()],
            expires_at: (NOW + 300) as i64,
            valid_until: (NOW + 360) as i64,
            kid: Some("a1".into()),
        }
    );
}

#[test]
fn the_issuers_own_tokens_verify() {
    let f = fixture();
    let c = AccessClaims {
        iss: "https://idp.example.com".into(),
        sub: "u-1".into(),
        aud: Audience::Many(vec!["other".into(), "api".into()]),
        tenant_id: "globex".into(),
        roles: vec![],
        iat: NOW as i64,
        nbf: NOW as i64,
        exp: NOW as i64 + 600,
        jti: "j".into(),
        sid: Some("s".into()),
    };
    let header = serde_json::to_string(&AccessHeader::rs256("a1")).expect("json");
    let payload = serde_json::to_string(&c).expect("json");
    let v = verify(
        &f.key.sign_json(&header, &payload),
        &f.providers,
        &f.keys,
        NOW,
    )
    .expect("verifies");
    assert_eq!(
        (v.tenant.as_str(), v.subject.as_str(), v.roles.len()),
        ("globex", "u-1", 0)
    );
}

#[test]
fn a_tampered_token_is_refused() {
    let f = fixture();
    let token = f.key.sign(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims();
    forged["roles"] = json!(["superuser"]);
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    parts[1] = &payload;
    assert_eq!(
        verify(&parts.join("."), &f.providers, &f.keys, NOW),
        denied(Denial::SignatureInvalid)
    );

    // Signed by another key under the same kid.
    let other = TestKey::new(KEY_B, "a1");
    assert_eq!(
        verify(&other.sign(&claims()), &f.providers, &f.keys, NOW),
        denied(Denial::SignatureInvalid)
    );

    // A signature of the wrong length.
    let (input, _) = token.rsplit_once('.').expect("dot");
    let short = format!("{input}.{}", URL_SAFE_NO_PAD.encode([1u8; 255]));
    assert_eq!(
        verify(&short, &f.providers, &f.keys, NOW),
        denied(Denial::SignatureInvalid)
    );
}

#[test]
fn algorithm_confusion_is_refused() {
    let f = fixture();
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    // alg none with an empty signature, and HS256 "signed" with the public key as secret.
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"HS256","kid":"a1"}"#,
        r#"{"alg":"RS512","kid":"a1"}"#,
        r#"{"alg":"PS256","kid":"a1"}"#,
    ] {
        let token = format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode(header));
        assert_eq!(
            verify(&token, &f.providers, &f.keys, NOW),
            denied(Denial::AlgorithmNotAllowed),
            "{header}"
        );
        let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
        assert!(verify(&unsigned, &f.providers, &f.keys, NOW).is_err());
    }
}

#[test]
fn embedded_keys_are_never_trusted() {
    let f = fixture();
    let attacker = TestKey::new(KEY_B, "evil");
    let header = json!({"alg": "RS256", "kid": "evil", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"});
    let token = attacker.sign_json(&header.to_string(), &claims().to_string());
    assert_eq!(
        verify(&token, &f.providers, &f.keys, NOW),
        denied(Denial::KeyNotFound)
    );
    // Even naming a trusted kid, the signature must come from the trusted key.
    let header = json!({"alg": "RS256", "kid": "a1", "jwk": attacker.jwk()});
    let token = attacker.sign_json(&header.to_string(), &claims().to_string());
    assert_eq!(
        verify(&token, &f.providers, &f.keys, NOW),
        denied(Denial::SignatureInvalid)
    );
}

#[test]
fn crit_is_refused() {
    let f = fixture();
    let token = f.key.sign_json(
        r#"{"alg":"RS256","kid":"a1","crit":["exp"]}"#,
        &claims().to_string(),
    );
    assert_eq!(
        verify(&token, &f.providers, &f.keys, NOW),
        denied(Denial::CriticalHeaderUnsupported)
    );
}

#[test]
fn the_issuer_chooses_the_provider() {
    let f = fixture();
    assert_eq!(
        f.with("iss", json!("https://evil.example.com")),
        denied(Denial::IssuerNotTrusted)
    );
    assert_eq!(
        f.with("iss", json!("https://idp.example.com/")),
        denied(Denial::IssuerNotTrusted),
        "exact match"
    );
    assert_eq!(
        f.with("iss", json!(["https://idp.example.com"])),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(f.without("iss"), denied(Denial::ClaimMissing));

    let key_b = TestKey::new(KEY_B, "b1");
    let providers = vec![
        provider(json!({})),
        provider(
            json!({"name": "partner", "issuer": "https://partner.example", "tenant": "partner-co"}),
        ),
    ];
    let keys = Keys {
        sets: vec![Some(key_set(&[&f.key])), Some(key_set(&[&key_b]))],
        refetch: false,
    };
    let mut c = claims();
    c["iss"] = json!("https://partner.example");
    c["tenantId"] = json!("acme");
    let v = verify(&key_b.sign(&c), &providers, &keys, NOW).expect("partner token");
    assert_eq!(
        (v.provider, v.tenant.as_str()),
        (1, "partner-co"),
        "a bound provider ignores the claim"
    );
    // The partner's key cannot sign for the first provider, and the reverse.
    assert_eq!(
        verify(&key_b.sign(&claims()), &providers, &keys, NOW),
        denied(Denial::KeyNotFound)
    );
    let forged = TestKey::new(KEY_B, "a1");
    assert_eq!(
        verify(&forged.sign(&claims()), &providers, &keys, NOW),
        denied(Denial::SignatureInvalid)
    );
    assert_eq!(
        verify(&f.key.sign(&c), &providers, &keys, NOW),
        denied(Denial::KeyNotFound)
    );
}

#[test]
fn missing_keys_and_unknown_kids() {
    let f = fixture();
    let token = f.key.sign(&claims());
    let none = Keys {
        sets: vec![None],
        refetch: true,
    };
    assert_eq!(
        verify(&token, &f.providers, &none, NOW),
        Err(VerifyFailure::AwaitKeys {
            provider: 0,
            unknown_kid: false
        })
    );
    let other = TestKey::new(KEY_B, "b1");
    let rotated = Keys {
        sets: vec![Some(key_set(&[&other]))],
        refetch: true,
    };
    assert_eq!(
        verify(&token, &f.providers, &rotated, NOW),
        Err(VerifyFailure::AwaitKeys {
            provider: 0,
            unknown_kid: true
        })
    );
    let limited = Keys {
        sets: vec![Some(key_set(&[&other]))],
        refetch: false,
    };
    assert_eq!(
        verify(&token, &f.providers, &limited, NOW),
        denied(Denial::KeyNotFound)
    );
}

#[test]
fn a_token_without_kid_needs_a_single_key_set() {
    let f = fixture();
    let token = f.key.sign_json(r#"{"alg":"RS256"}"#, &claims().to_string());
    assert!(verify(&token, &f.providers, &f.keys, NOW).is_ok());
    let other = TestKey::new(KEY_B, "b1");
    let two = Keys {
        sets: vec![Some(key_set(&[&f.key, &other]))],
        refetch: true,
    };
    assert_eq!(
        verify(&token, &f.providers, &two, NOW),
        denied(Denial::KeyNotFound),
        "no refetch can help"
    );
}

#[test]
fn larger_keys_verify() {
    let key = TestKey::new(KEY_3072, "big");
    let keys = Keys {
        sets: vec![Some(key_set(&[&key]))],
        refetch: false,
    };
    assert!(verify(&key.sign(&claims()), &[provider(json!({}))], &keys, NOW).is_ok());
}

#[test]
fn audience_rules() {
    let f = fixture();
    assert!(f.with("aud", json!("admin-api")).is_ok());
    assert!(f.with("aud", json!(["other", "api"])).is_ok());
    assert_eq!(
        f.with("aud", json!("other")),
        denied(Denial::AudienceMismatch)
    );
    assert_eq!(f.with("aud", json!([])), denied(Denial::AudienceMismatch));
    assert_eq!(
        f.with("aud", json!("API")),
        denied(Denial::AudienceMismatch)
    );
    assert_eq!(
        f.with("aud", json!(["api", 1])),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(
        f.with("aud", json!({"api": true})),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(f.without("aud"), denied(Denial::ClaimMissing));
}

#[test]
fn time_rules_with_skew() {
    let f = fixture();
    let now = NOW as i64;
    // Default skew: 60 s.
    assert!(f.with("exp", json!(now - 59)).is_ok());
    assert_eq!(f.with("exp", json!(now - 60)), denied(Denial::TokenExpired));
    assert_eq!(f.without("exp"), denied(Denial::ClaimMissing));
    assert_eq!(
        f.with("exp", json!(NOW.to_string())),
        denied(Denial::ClaimInvalid)
    );
    assert_eq!(f.with("exp", json!(null)), denied(Denial::ClaimInvalid));
    assert!(
        f.with("exp", json!(now as f64 + 0.5)).is_ok(),
        "NumericDate may be fractional"
    );
    assert!(
        f.with("exp", json!(u64::MAX)).is_ok(),
        "far future saturates"
    );

    assert!(f.with("nbf", json!(now + 60)).is_ok());
    assert_eq!(
        f.with("nbf", json!(now + 61)),
        denied(Denial::TokenNotYetValid)
    );
    assert_eq!(f.with("nbf", json!("soon")), denied(Denial::ClaimInvalid));
    assert!(f.without("nbf").is_ok());

    assert!(f.with("iat", json!(now + 60)).is_ok());
    assert_eq!(
        f.with("iat", json!(now + 61)),
        denied(Denial::TokenIssuedInFuture)
    );
    assert_eq!(f.with("iat", json!(true)), denied(Denial::ClaimInvalid));
    assert!(f.without("iat").is_ok());

    let strict = Fixture {
        providers: vec![provider(json!({"clock_skew_seconds": 0}))],
        ..fixture()
    };
    assert_eq!(strict.with("exp", json!(now)), denied(Denial::TokenExpired));
    assert!(strict.with("exp", json!(now + 1)).is_ok());
    assert_eq!(
        strict.with("nbf", json!(now + 1)),
        denied(Denial::TokenNotYetValid)
    );
}

#[test]
fn maximum_lifetime() {
    let f = Fixture {
        providers: vec![provider(json!({"max_lifetime_seconds": 3600}))],
        ..fixture()
    };
    let now = NOW as i64;
    let mut c = claims();
    c["iat"] = json!(now - 100);
    c["exp"] = json!(now - 100 + 3600);
    assert!(f.check(&c).is_ok());
    c["exp"] = json!(now - 100 + 3601);
    assert_eq!(f.check(&c), denied(Denial::TokenLifetimeExceeded));
    // Without iat, the remaining lifetime counts.
    c.as_object_mut().map(|o| o.remove("iat"));
    c["exp"] = json!(now + 3600);
    assert!(f.check(&c).is_ok());
    c["exp"] = json!(now + 3601);
    assert_eq!(f.check(&c), denied(Denial::TokenLifetimeExceeded));
}

#[test]
fn subject_rules() {
    let f = fixture();
    assert_eq!(f.without("sub"), denied(Denial::ClaimMissing));
    assert_eq!(f.with("sub", json!("")), denied(Denial::ClaimInvalid));
    assert_eq!(f.with("sub", json!(42)), denied(Denial::ClaimInvalid));
    for bad in ["a\r\nx-tenant-id: evil", "a\0b", "a\u{7f}", "a\u{85}b"] {
        assert_eq!(
            f.with("sub", json!(bad)),
            denied(Denial::ClaimInvalid),
            "{bad:?}"
        );
    }
    assert_eq!(
        f.with("sub", json!("élodie@example.com"))
            .map(|v| v.subject),
        Ok("élodie@example.com".into())
    );
}

#[test]
fn tenant_rules() {
    let f = fixture();
    assert_eq!(f.without("tenantId"), denied(Denial::TenantMissing));
    assert_eq!(f.with("tenantId", json!(7)), denied(Denial::TenantMissing));
    assert_eq!(f.with("tenantId", json!("")), denied(Denial::TenantMissing));
    assert_eq!(
        f.with("tenantId", json!("ac\nme")),
        denied(Denial::ClaimInvalid)
    );

    let custom = Fixture {
        providers: vec![provider(json!({"tenant_claim": "tid"}))],
        ..fixture()
    };
    assert_eq!(custom.check(&claims()), denied(Denial::TenantMissing));
    assert_eq!(
        custom.with("tid", json!("initech")).map(|v| v.tenant),
        Ok("initech".into())
    );

    let bound = Fixture {
        providers: vec![provider(json!({"tenant": "solo"}))],
        ..fixture()
    };
    assert_eq!(
        bound.without("tenantId").map(|v| v.tenant),
        Ok("solo".into())
    );
}

#[test]
fn roles_rules() {
    let f = fixture();
    assert_eq!(f.without("roles").map(|v| v.roles), Ok(vec![]));
    assert_eq!(f.with("roles", json!([])).map(|v| v.roles), Ok(vec![]));
    for bad in [
        json!("admin"),
        json!(null),
        json!({"admin": true}),
        json!(["admin", 1]),
        json!(["a,b"]),
        json!(["a\nb"]),
        json!([""]),
    ] {
        assert_eq!(
            f.with("roles", bad.clone()),
            denied(Denial::ClaimInvalid),
            "{bad}"
        );
    }
    let groups = Fixture {
        providers: vec![provider(json!({"roles_claim": "groups"}))],
        ..fixture()
    };
    let mut c = claims();
    c["groups"] = json!(["ops"]);
    assert_eq!(
        groups.check(&c).map(|v| v.roles),
        Ok(vec!["ops".to_string()])
    );
}

#[test]
fn duplicate_claims_are_refused_even_when_signed() {
    let f = fixture();
    let payload = r#"{"iss":"https://idp.example.com","sub":"alice","sub":"admin","aud":"api","tenantId":"acme","exp":9999999999}"#;
    let token = f.key.sign_json(r#"{"alg":"RS256","kid":"a1"}"#, payload);
    assert_eq!(
        verify(&token, &f.providers, &f.keys, NOW),
        denied(Denial::TokenMalformed)
    );
}

/// Thousands of random and mutated tokens: none verifies, none panics.
#[test]
fn random_and_mutated_tokens_are_refused() {
    let f = fixture();
    let valid = f.key.sign(&claims());
    assert!(verify(&valid, &f.providers, &f.keys, NOW).is_ok());
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
    let mut refused = 0;
    for round in 0..4_000 {
        let mut bytes = valid.clone().into_bytes();
        match round % 5 {
            0 => {
                let at = next() as usize % bytes.len();
                bytes[at] = alphabet[next() as usize % alphabet.len()];
            }
            1 => {
                let at = next() as usize % bytes.len();
                bytes.remove(at);
            }
            2 => {
                let at = next() as usize % bytes.len();
                bytes.insert(at, alphabet[next() as usize % alphabet.len()]);
            }
            3 => {
                let len = next() as usize % bytes.len();
                bytes.truncate(len);
            }
            _ => {
                let len = next() as usize % 600;
                bytes = (0..len)
                    .map(|_| alphabet[next() as usize % alphabet.len()])
                    .collect();
            }
        }
        let Ok(token) = String::from_utf8(bytes) else {
            continue;
        };
        if token == valid {
            continue;
        }
        match verify(&token, &f.providers, &f.keys, NOW) {
            Err(VerifyFailure::Denied(_)) => refused += 1,
            other => panic!("mutated token {token:?} was not refused: {other:?}"),
        }
    }
    assert!(refused > 3_900, "{refused}");
}
