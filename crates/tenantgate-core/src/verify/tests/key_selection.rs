//! Which provider and which key a token is checked against, and when it waits for keys.

use super::*;

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
