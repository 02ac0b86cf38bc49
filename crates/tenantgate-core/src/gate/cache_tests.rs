//! The cache-hit path: the gate asks the verified-token cache with the credential as found and
//! checks its characters only on a miss. These pin that this changes nothing but the cost: a
//! credential that fails a check never hits, and every refusal keeps its code and order, with
//! no cache, an empty one or a warm one.

use serde_json::{json, Value};

use super::*;
use crate::config::CacheConfig;
use crate::verify::tests::{claims, key_set, Keys, TestKey, KEY_A, NOW};

fn gate(max_token_bytes: usize) -> Gate {
    let doc = json!({
        "providers": [{"name": "idp", "issuer": "https://idp.example.com", "audiences": ["api"],
                       "jwks": {"remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks"}}}],
        "tenants": {"acme": {"hosts": ["acme.test"]}},
        "routes": [{"path": {"prefix": "/"}, "require": "authenticated"}],
        "max_token_bytes": max_token_bytes,
    });
    super::gate_of(&doc)
}

fn keys(key: &TestKey) -> Keys {
    Keys {
        sets: vec![Some(key_set(&[key]))],
        refetch: false,
    }
}

fn decide(
    gate: &Gate,
    keys: &Keys,
    cache: Option<&mut TokenCache>,
    headers: &[(&str, &str)],
) -> Result<String, Denial> {
    let req = RequestView {
        method: "GET",
        authority: "acme.test",
        path: "/x",
        headers,
    };
    match gate.decide(&req, keys, cache, NOW) {
        Outcome::Allow {
            identity: Some(id), ..
        } => Ok(id.user),
        Outcome::Deny { denial, .. } => Err(denial),
        other => panic!("{other:?}"),
    }
}

/// A cache holding `token`, verified by `gate`, and a remembered refusal of another token.
fn warm(gate: &Gate, keys: &Keys, token: &str, refused: &str) -> TokenCache {
    let mut cache = TokenCache::new(&CacheConfig::default());
    let bearer = format!("Bearer {token}");
    let got = decide(gate, keys, Some(&mut cache), &[("authorization", &bearer)]);
    assert_eq!(got, Ok("alice".to_string()));
    let bearer = format!("Bearer {refused}");
    let got = decide(gate, keys, Some(&mut cache), &[("authorization", &bearer)]);
    assert_eq!(got, Err(Denial::TokenExpired));
    assert_eq!((cache.len(), cache.refused_len()), (1, 1));
    cache
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// The fixture's claims with a filler, so that the token is over the smallest size cap (1,024).
fn long_claims() -> Value {
    with(claims(), "filler", json!("f".repeat(800)))
}

#[test]
fn a_credential_that_fails_a_check_never_hits_the_cache() {
    let gate = gate(8 * 1024);
    let key = TestKey::new(KEY_A, "a");
    let keys = keys(&key);
    let good = key.sign(&long_claims());
    let expired = key.sign(&with(long_claims(), "exp", json!(NOW - 600)));
    let mut cache = warm(&gate, &keys, &good, &expired);

    let cases: Vec<(String, Denial)> = vec![
        (format!("Bearer {good} x"), Denial::TokenMalformed),
        (format!("Bearer {good}\""), Denial::TokenMalformed),
        (format!("Bearer {good}é"), Denial::TokenMalformed),
        (format!("Bearer \"{good}\""), Denial::TokenMalformed),
        (format!("Bearer {good},{good}"), Denial::TokenMultiple),
        (
            format!("Bearer {good}, Bearer {good}"),
            Denial::TokenMultiple,
        ),
        (format!("Bearer {expired} x"), Denial::TokenMalformed),
    ];
    for (value, expected) in &cases {
        let headers = [("authorization", value.as_str())];
        assert_eq!(
            decide(&gate, &keys, Some(&mut cache), &headers),
            Err(*expected),
            "{value}"
        );
        assert_eq!(decide(&gate, &keys, None, &headers), Err(*expected));
    }
    // The cached token itself, twice: still two credentials, whatever the cache holds.
    let bearer = format!("Bearer {good}");
    for headers in [
        [
            ("authorization", bearer.as_str()),
            ("authorization", bearer.as_str()),
        ],
        [("authorization", bearer.as_str()), ("x-other", "1")],
    ] {
        let want = decide(&gate, &keys, None, &headers);
        assert_eq!(decide(&gate, &keys, Some(&mut cache), &headers), want);
    }
    // Spaces around it are the scheme's, not the token's: the same token, a hit.
    let spaced = format!("  bearer   {good}  ");
    let got = decide(
        &gate,
        &keys,
        Some(&mut cache),
        &[("authorization", &spaced)],
    );
    assert_eq!(got, Ok("alice".to_string()));
    assert_eq!(
        (cache.len(), cache.refused_len()),
        (1, 1),
        "nothing that failed a check was remembered"
    );

    // Under a smaller size cap, the cached token is too large: the cap holds on a hit too.
    assert!(good.len() > 1024);
    let small = self::gate(1024);
    let headers = [("authorization", bearer.as_str())];
    assert_eq!(
        decide(&small, &keys, Some(&mut cache), &headers),
        Err(Denial::TokenTooLarge)
    );
}

#[test]
fn refusal_codes_and_their_order_do_not_depend_on_the_cache() {
    let key = TestKey::new(KEY_A, "a");
    let keys = keys(&key);
    let good = key.sign(&long_claims());
    let expired = key.sign(&with(long_claims(), "exp", json!(NOW - 600)));
    let gate = gate(good.len() + 8);
    let big = "a".repeat(good.len() + 9);
    let big_and_bad = format!("{big} x");
    let big_with_comma = format!("{big},b");
    let cases: Vec<(Vec<(&str, String)>, Denial)> = vec![
        (vec![], Denial::TokenMissing),
        (
            vec![("authorization", "Basic dXNlcjpwYXNz".into())],
            Denial::TokenMissing,
        ),
        (
            vec![("authorization", "Bearer".into())],
            Denial::TokenMalformed,
        ),
        (
            vec![("authorization", "Bearer ===".into())],
            Denial::TokenMalformed,
        ),
        (
            vec![("authorization", "Bearer a b".into())],
            Denial::TokenMalformed,
        ),
        (
            vec![("authorization", "Bearer a,b".into())],
            Denial::TokenMultiple,
        ),
        (
            vec![
                ("authorization", "Bearer a b".into()),
                ("authorization", format!("Bearer {good}")),
            ],
            Denial::TokenMultiple,
        ),
        (
            vec![("authorization", format!("Bearer {big}"))],
            Denial::TokenTooLarge,
        ),
        // The character check comes before the size cap, as it always did.
        (
            vec![("authorization", format!("Bearer {big_and_bad}"))],
            Denial::TokenMalformed,
        ),
        (
            vec![("authorization", format!("Bearer {big_with_comma}"))],
            Denial::TokenMultiple,
        ),
        (
            vec![("authorization", "Bearer a.b.c".into())],
            Denial::TokenMalformed,
        ),
        (
            vec![("authorization", format!("Bearer {expired}"))],
            Denial::TokenExpired,
        ),
    ];
    let mut empty = TokenCache::new(&CacheConfig::default());
    let mut warm = warm(&gate, &keys, &good, &expired);
    for (headers, expected) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        // Twice through each cache: the second pass may meet what the first remembered.
        for _ in 0..2 {
            assert_eq!(
                decide(&gate, &keys, None, &headers),
                Err(*expected),
                "{headers:?}"
            );
            let got = decide(&gate, &keys, Some(&mut empty), &headers);
            assert_eq!(got, Err(*expected), "{headers:?}");
            let got = decide(&gate, &keys, Some(&mut warm), &headers);
            assert_eq!(got, Err(*expected), "{headers:?}");
        }
    }
}
