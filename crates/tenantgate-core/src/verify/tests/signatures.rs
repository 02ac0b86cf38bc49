//! Signatures and algorithms: only RS256 by a trusted key verifies, whatever the token claims
//! about itself.

use super::*;
use crate::token::claims::{AccessClaims, AccessHeader, Audience};

#[test]
fn a_valid_token_verifies() {
    let f = fixture();
    let v = f.check(&claims()).expect("verifies");
    let key = f.keys.sets[0]
        .as_ref()
        .and_then(|set| set.find(Some("a1")))
        .map(RsaKey::fingerprint);
    assert!(key.is_some());
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
            key,
            kept: serde_json::Map::new(),
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
        permissions: None,
        target_tenant: None,
        amr: None,
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
fn larger_keys_verify() {
    let key = TestKey::new(KEY_3072, "big");
    let keys = Keys {
        sets: vec![Some(key_set(&[&key]))],
        refetch: false,
    };
    assert!(verify(&key.sign(&claims()), &[provider(json!({}))], &keys, NOW).is_ok());
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
