//! Finding the one credential of a request, and verifying it.

use super::*;

#[test]
fn credentials_are_found_exactly_once_and_verified() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    let good_claims = claims(ISSUER, AUDIENCE, "acme", "alice", &["viewer"]);
    let good = k.sign(&good_claims);
    missing_or_more_than_one(&gw, &good);
    size_cap(&gw, &k, &good_claims);
    claim_rules(&gw, &k, &good_claims);
    algorithms_other_than_rs256(&gw, &k, &good_claims);
    signatures(&gw, &k, &good_claims, &good);
    not_a_jws(&gw);

    // The good token still passes after all that (nothing was poisoned).
    gw.allow("good token again", api().bearer(&good));
}

/// The route every check uses: any authenticated token passes.
fn api() -> Req {
    Req::get(ACME, "/api/x")
}

/// No credential, another scheme, the bearer scheme in any case, and two credentials.
fn missing_or_more_than_one(gw: &Gateway, good: &str) {
    // Missing: 401 with a bare challenge (no error attribute).
    let resp = gw.deny("no token", api(), Denial::TokenMissing);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(format!("Bearer realm=\"{REALM}\"").as_str())
    );
    gw.deny(
        "another scheme only",
        api().header("Authorization", "Basic YWxpY2U6c2VjcmV0"),
        Denial::TokenMissing,
    );

    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let seen = gw.allow(
            &format!("scheme {scheme}"),
            api().header("Authorization", &format!("{scheme} {good}")),
        );
        assert_identity(scheme, &seen, "acme", "alice", &["viewer"]);
    }

    // Two credentials.
    gw.deny(
        "two Authorization headers",
        api().bearer(good).bearer(good),
        Denial::TokenMultiple,
    );
    gw.deny(
        "bearer and cookie",
        api()
            .bearer(good)
            .header("Cookie", &format!("tg_token={good}")),
        Denial::TokenMultiple,
    );
    gw.deny(
        "the cookie twice",
        api().header("Cookie", &format!("tg_token={good}; tg_token={good}")),
        Denial::TokenMultiple,
    );
}

/// The `max_token_bytes` cap: just under it passes, over it is refused before any parsing.
fn size_cap(gw: &Gateway, k: &TestKey, good_claims: &Value) {
    let mut padded = good_claims.clone();
    let base = k.sign(&padded).len();
    padded["pad"] = json!("p".repeat((MAX_TOKEN_BYTES - base - 40) * 3 / 4));
    let near = k.sign(&padded);
    assert!(
        near.len() <= MAX_TOKEN_BYTES && near.len() > MAX_TOKEN_BYTES - 100,
        "{}",
        near.len()
    );
    gw.allow("token near the cap", api().bearer(&near));
    padded["pad"] = json!("p".repeat(MAX_TOKEN_BYTES));
    let big = k.sign(&padded);
    gw.deny("oversize token", api().bearer(&big), Denial::TokenTooLarge);
}

/// Claims that refuse a well-signed token, and one that does not.
fn claim_rules(gw: &Gateway, k: &TestKey, good_claims: &Value) {
    let now = keys::now();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good_claims.clone();
        f(&mut c);
        k.sign(&c)
    };
    let cases: Vec<(&str, String, Denial)> = vec![
        (
            "expired",
            with(&|c| {
                c["iat"] = json!(now - 600);
                c["nbf"] = json!(now - 600);
                c["exp"] = json!(now - 120);
            }),
            Denial::TokenExpired,
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now + 600)),
            Denial::TokenNotYetValid,
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("other-api")),
            Denial::AudienceMismatch,
        ),
        (
            "audience list without ours",
            with(&|c| c["aud"] = json!(["a", "b"])),
            Denial::AudienceMismatch,
        ),
        (
            "unknown issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
            Denial::IssuerNotTrusted,
        ),
        (
            "no tenant claim",
            with(&|c| {
                c.as_object_mut().expect("object").remove("tenantId");
            }),
            Denial::TenantMissing,
        ),
        (
            "roles not an array",
            with(&|c| c["roles"] = json!("admin")),
            Denial::ClaimInvalid,
        ),
    ];
    for (what, tok, denial) in cases {
        gw.deny(what, api().bearer(&tok), denial);
    }
    // Still good: an audience list containing ours.
    gw.allow(
        "audience list with ours",
        api().bearer(&with(&|c| c["aud"] = json!(["x", AUDIENCE]))),
    );
}

/// Tokens that are not RS256, however they are signed.
fn algorithms_other_than_rs256(gw: &Gateway, k: &TestKey, good_claims: &Value) {
    let jwk_n = k.jwk()["n"].as_str().expect("n").to_string();
    for (what, tok) in [
        ("alg none", keys::unsigned_token(good_claims)),
        (
            "HS256 keyed with the public key",
            keys::hs256_token(&k.kid, good_claims, jwk_n.as_bytes()),
        ),
        ("RS384 by the right key", k.sign_rs384(good_claims)),
        (
            "RS256 signature labelled PS256",
            k.sign_with_header(&json!({"alg": "PS256", "kid": k.kid}), good_claims),
        ),
    ] {
        gw.deny(what, api().bearer(&tok), Denial::AlgorithmNotAllowed);
    }
}

/// Signatures of another key, over other claims, or by a key the set lacks.
fn signatures(gw: &Gateway, k: &TestKey, good_claims: &Value, good: &str) {
    let other = TestKey::b(&k.kid);
    gw.deny(
        "signed by another key under our kid",
        api().bearer(&other.sign(good_claims)),
        Denial::SignatureInvalid,
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let tampered_claims = claims(ISSUER, AUDIENCE, "acme", "alice", &["admin"]);
    parts[1] = keys::b64(tampered_claims.to_string().as_bytes());
    gw.deny(
        "claims changed after signing",
        api().bearer(&parts.join(".")),
        Denial::SignatureInvalid,
    );
    gw.deny(
        "a kid the key set lacks",
        api().bearer(&TestKey::b("no-such-kid").sign(good_claims)),
        Denial::KeyNotFound,
    );
}

/// Credentials that are no compact JWS at all.
fn not_a_jws(gw: &Gateway) {
    for (what, tok) in [
        ("two segments", "abc.def".to_string()),
        ("bad base64", "###.###.###".to_string()),
        (
            "header not JSON",
            format!("{}.e30.c2ln", keys::b64(b"nope")),
        ),
    ] {
        gw.deny(
            what,
            api().header("Authorization", &format!("Bearer {tok}")),
            Denial::TokenMalformed,
        );
    }
}
