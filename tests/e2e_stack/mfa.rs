//! A second factor across the chain: the issuer's TOTP sign-in puts `mfa` in `amr`, which a
//! route of the filter requires.

use super::*;

/// The TOTP code of the authenticator holding `secret` (base32), `ahead` seconds from now
/// (RFC 6238: HMAC-SHA-1, 6 digits, 30 s), computed here independently of the issuer's code.
fn totp_code(secret: &str, ahead: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut key, mut buf, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in secret.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32") as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            key.push((buf >> bits) as u8);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + ahead;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = ring::hmac::sign(&key, &(now / 30).to_be_bytes());
    let m = mac.as_ref();
    let o = usize::from(m[19] & 0x0f);
    let bin = u32::from_be_bytes([m[o] & 0x7f, m[o + 1], m[o + 2], m[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// A route that requires a second factor, through the filter's claim condition on the
/// issuer's `amr`: a password-only token is refused there, the same user's token after the
/// TOTP step passes.
#[test]
fn a_route_requiring_mfa_takes_tokens_of_a_totp_sign_in_only() {
    let mut policy = policy();
    policy["routes"] = json!([
        {"name": "payouts", "path": {"prefix": "/api/payouts"},
         "require": {"claims": [{"claim": "amr", "contains": "mfa"}]}},
        {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
    ]);
    let Some(s) = stack_with(Options::new(Backend::Sqlite), &policy) else {
        return;
    };
    let r = s.issuer.admin(
        "PATCH",
        "/admin/tenants/acme/login-methods",
        Some(&json!({"totp": "optional"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let password_only = alice_token(&s.issuer);
    let get = |path: &str, token: &str| {
        s.envoy
            .send(&Req::get("acme.e2e.local", path).bearer(token))
    };
    assert_eq!(get("/api/orders", &password_only).status, 200);
    let r = get("/api/payouts", &password_only);
    assert_eq!(
        r.error_code().as_deref(),
        Some("claim_condition_unmet"),
        "{}",
        r.summary()
    );

    // Alice enrolls from her session, then signs in with the second factor.
    let bearer = format!("Bearer {password_only}");
    let r = s.issuer.request(
        "POST",
        "/v1/tenants/acme/totp/enroll",
        &[("authorization", bearer.as_str())],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    let body = json!({"code": totp_code(&secret, 0)}).to_string();
    let r = s.issuer.request(
        "POST",
        "/v1/tenants/acme/totp/confirm",
        &[
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let step = sign_in(&s.issuer, "acme", "alice@acme.example", "alice-password-1");
    assert_eq!(step["mfa_required"], true, "{step}");
    // The confirming code's step is spent (replay); the next step's code is accepted (one step
    // of drift), so no waiting for the clock.
    let code = totp_code(&secret, 30);
    let r = s.issuer.post_json(
        "/v1/tenants/acme/sign-in/totp",
        &json!({"challenge": step["challenge"], "code": code}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mfa_token = access_token(&r.json());
    assert_eq!(get("/api/payouts", &mfa_token).status, 200);
}
