//! TOTP as a second factor: enrollment (the otpauth URI, its QR code, confirmation with a first
//! code, recovery codes shown once), the two-step sign-in (challenge, then code), the `amr`
//! claim kept across refreshes, and the attacks: a replayed code, a reused recovery code, a
//! spent or foreign challenge, and brute force throttled with the password sign-ins.

use super::*;

use tenantgate_issuer::totp;

on_both_backends!(required_totp_enrolls_then_signs_in_with_two_steps);

/// The code of the authenticator app holding `secret` (base32), now.
fn code(secret: &str) -> String {
    code_ahead(secret, 0)
}

/// The code `ahead` seconds from now (one step ahead is within the accepted drift).
fn code_ahead(secret: &str, ahead: i64) -> String {
    let key = totp::base32_decode(secret).expect("base32 secret");
    totp::code_at(&key, totp::step_of(tenantgate_issuer::time::now() + ahead))
}

/// The password step: returns the challenge, checking what it asks for.
fn challenge(issuer: &Issuer, tenant: &str, user: &str, asks: &str) -> String {
    let r = issuer.sign_in(tenant, user, PW, "body");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["mfa_required"], true, "{v}");
    assert_eq!(v["totp"], asks);
    assert!(
        v.get("access_token").is_none(),
        "no token before the second factor"
    );
    v["challenge"].as_str().expect("challenge").to_string()
}

fn second(issuer: &Issuer, tenant: &str, body: Value) -> Resp {
    issuer.post_json(&format!("/v1/tenants/{tenant}/sign-in/totp"), &body)
}

fn amr(issuer: &Issuer, r: &Resp) -> Value {
    let claims = pyjwt_verify(
        &issuer.url("/.well-known/jwks.json"),
        r.json()["access_token"].as_str().expect("token"),
    )
    .expect("verifies");
    claims["amr"].clone()
}

fn required_totp_enrolls_then_signs_in_with_two_steps(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("mfa");
    issuer.tenant(&t, json!({"name": "Acme Corp"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    issuer.login_methods(&t, &json!({"totp": "required"}));

    let (c, secret) = enroll_at_first_sign_in(&issuer, &t, &user);
    let (first, recovery) = first_code_opens_the_session(&issuer, &t, &c, &secret);
    replays_and_spent_challenges_are_refused(&issuer, &t, &user, &secret, &first, &recovery);

    let audit = issuer.audit();
    let reasons: Vec<&str> = audit
        .iter()
        .filter(|e| e["action"] == "sign_in_failure")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in [
        "totp_replayed",
        "recovery_code_invalid",
        "totp_invalid",
        "challenge_invalid",
    ] {
        assert!(reasons.contains(&reason), "{reason} audited: {reasons:?}");
    }
    assert!(audit.iter().any(|e| e["action"] == "totp_enrolled"));
    let sign_in = audit
        .iter()
        .find(|e| e["action"] == "sign_in")
        .expect("sign_in");
    assert_eq!(sign_in["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(!std::fs::read_to_string(&issuer.audit_path)
        .expect("log")
        .contains(&secret));
}

/// Not enrolled yet: the password step's challenge lets the user enroll; returns the challenge
/// and the secret.
fn enroll_at_first_sign_in(issuer: &Issuer, t: &str, user: &str) -> (String, String) {
    // Not enrolled yet: the challenge lets the user enroll.
    let c = challenge(issuer, t, user, "enroll");
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/totp/enroll"),
        &json!({"challenge": c}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let enrolled = r.json();
    let secret = enrolled["secret"].as_str().expect("secret").to_string();
    let uri = enrolled["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/Acme%20Corp:"), "{uri}");
    assert!(
        uri.contains(&format!("?secret={secret}&")) && uri.ends_with("&digits=6&period=30"),
        "{uri}"
    );
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        enrolled["qr_png"].as_str().expect("qr"),
    )
    .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let _ = std::fs::write(artifacts.join("totp-enrollment-qr.png"), &png);
    (c, secret)
}

/// The first code confirms the enrollment and opens the session; recovery codes come once.
/// Returns the code and the recovery codes.
fn first_code_opens_the_session(
    issuer: &Issuer,
    t: &str,
    c: &str,
    secret: &str,
) -> (String, Vec<String>) {
    let first = code(secret);
    let r = second(issuer, t, json!({"challenge": c, "code": first}));
    assert_eq!(r.status, 200, "{}", r.text());
    let recovery: Vec<String> =
        serde_json::from_value(r.json()["recovery_codes"].clone()).expect("codes");
    assert_eq!(recovery.len(), 10);
    assert_eq!(amr(issuer, &r), json!(["pwd", "otp", "mfa"]));
    let rt = r.json()["refresh_token"]
        .as_str()
        .expect("body delivery")
        .to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": rt}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        amr(issuer, &r),
        json!(["pwd", "otp", "mfa"]),
        "a refresh keeps the amr"
    );
    // The challenge was single-use.
    let r = second(issuer, t, json!({"challenge": c, "code": code(secret)}));
    assert_eq!((r.status, r.error().as_str()), (401, "challenge_invalid"));

    (first, recovery)
}

fn replays_and_spent_challenges_are_refused(
    issuer: &Issuer,
    t: &str,
    user: &str,
    secret: &str,
    first: &str,
    recovery: &[String],
) {
    // The same code again, with a fresh challenge: a replay.
    let c = challenge(issuer, t, user, "verify");
    let r = second(issuer, t, json!({"challenge": c, "code": first}));
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "totp_replayed"),
        "{}",
        r.text()
    );

    // A recovery code works once, as a second factor without `otp`.
    let r = second(
        issuer,
        t,
        json!({"challenge": c, "recovery_code": recovery[0].to_uppercase()}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(amr(issuer, &r), json!(["pwd", "mfa"]));
    let c = challenge(issuer, t, user, "verify");
    let r = second(
        issuer,
        t,
        json!({"challenge": c, "recovery_code": recovery[0]}),
    );
    assert_eq!((r.status, r.error().as_str()), (401, "totp_invalid"));

    // A challenge of this tenant is nothing in another one.
    let other = tenant_id("other");
    issuer.tenant(&other, json!({}));
    let r = second(issuer, &other, json!({"challenge": c, "code": "123456"}));
    assert_eq!((r.status, r.error().as_str()), (401, "challenge_invalid"));

    // Five wrong codes spend the challenge.
    for _ in 0..5 {
        let r = second(issuer, t, json!({"challenge": c, "code": "000000"}));
        assert_eq!(r.status, 401, "{}", r.text());
    }
    let r = second(issuer, t, json!({"challenge": c, "code": code(secret)}));
    assert_eq!((r.status, r.error().as_str()), (401, "challenge_invalid"));
}

#[test]
fn optional_totp_is_enrolled_from_a_session() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("opt");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["viewer"]);
    issuer.login_methods(&t, &json!({"totp": "optional"}));

    // Not enrolled, no role that requires it: one step, amr pwd.
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(amr(&issuer, &r), json!(["pwd"]));
    let token = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {token}");
    let _auth = [("authorization", bearer.as_str())];

    let secret = enroll_from_a_session(&issuer, &t, &bearer);
    second_step_sets_the_refresh_cookie(&issuer, &t, &user, &secret);
    // A lost phone: the administrator resets it (audited); one step again.
    let r = issuer.admin("POST", &format!("/admin/users/{user}/totp/reset"), None);
    assert_eq!(
        (r.status, r.json()["reset"].clone()),
        (200, json!(true)),
        "{}",
        r.text()
    );
    assert_eq!(issuer.sign_in(&t, &user, PW, "body").status, 200);
    let out = issuer.cli(&["user", "reset-totp", "--email", &user], None);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("no TOTP enrollment"));
    let reset = issuer
        .audit()
        .into_iter()
        .find(|e| e["action"] == "totp_reset")
        .expect("audited");
    assert_eq!(
        (reset["actor"].as_str(), reset["had_totp"].as_bool()),
        (Some("admin"), Some(true))
    );
    // A minted token (no session) cannot enroll anyone.
    let minted = issuer.cli(&["mint", "--tenant", &t, "--sub", "u_x"], None);
    let minted = format!("Bearer {}", String::from_utf8_lossy(&minted.stdout).trim());
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{t}/totp/enroll"),
        &[("authorization", minted.as_str())],
        None,
    );
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "access_token_invalid")
    );
}

/// Enrollment from a signed-in session (bearer token), confirmed by a first code; returns the
/// secret.
fn enroll_from_a_session(issuer: &Issuer, t: &str, bearer: &str) -> String {
    let auth = [("authorization", bearer)];
    let r = issuer.request("POST", &format!("/v1/tenants/{t}/totp/enroll"), &auth, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    let confirm = |code: &str| {
        issuer.request(
            "POST",
            &format!("/v1/tenants/{t}/totp/confirm"),
            &[
                ("authorization", bearer),
                ("content-type", "application/json"),
            ],
            Some(json!({"code": code}).to_string().as_bytes()),
        )
    };
    let r = confirm("000000");
    assert_eq!((r.status, r.error().as_str()), (401, "totp_invalid"));
    let r = confirm(&code(&secret));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["recovery_codes"].as_array().expect("codes").len(),
        10
    );
    let r = issuer.request("POST", &format!("/v1/tenants/{t}/totp/enroll"), &auth, None);
    assert_eq!(
        (r.status, r.error().as_str()),
        (409, "totp_already_enrolled")
    );

    secret
}

fn second_step_sets_the_refresh_cookie(issuer: &Issuer, t: &str, user: &str, secret: &str) {
    // Enrolled: the next sign-in asks for the code; a browser's sign-in ends with the refresh
    // cookie and a CSRF token, as after a password alone. (The confirming code's step is spent:
    // the next step's code is within the drift.)
    let r = issuer.sign_in(t, user, PW, "cookie");
    assert_eq!(r.json()["totp"], "verify", "{}", r.text());
    assert!(
        r.header("set-cookie").is_none(),
        "no session before the second factor"
    );
    let c = r.json()["challenge"].clone();
    let r = second(
        issuer,
        t,
        json!({"challenge": c, "code": code_ahead(secret, 30)}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").expect("refresh cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains(&format!("Path=/v1/tenants/{t}/refresh")),
        "{cookie}"
    );
    assert!(r.json()["csrf_token"].is_string() && r.json().get("refresh_token").is_none());
}

/// A code the authenticator holding `secret` does not show now (nor one step either side).
fn wrong_code(secret: &str) -> String {
    let key = totp::base32_decode(secret).expect("base32 secret");
    let now = totp::step_of(tenantgate_issuer::time::now());
    let valid: Vec<String> = (now - 2..=now + 2)
        .map(|s| totp::code_at(&key, s))
        .collect();
    (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !valid.contains(c))
        .expect("some repeated digit code is wrong")
}

#[test]
fn totp_brute_force_is_throttled_with_password_sign_ins() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_user_per_minute = 8;
    let issuer = Issuer::start(opts);
    let t = tenant_id("bf");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    issuer.login_methods(
        &t,
        &json!({"totp": "optional", "totp_required_roles": ["admin"]}),
    );

    // Required by role: the admin enrolls at the first sign-in.
    let c = challenge(&issuer, &t, &user, "enroll");
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/totp/enroll"),
        &json!({"challenge": c}),
    );
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    let r = second(&issuer, &t, json!({"challenge": c, "code": code(&secret)}));
    assert_eq!(r.status, 200, "{}", r.text());

    // Guessing codes: each guess is an attempt of the account's sign-in budget.
    let mut c = challenge(&issuer, &t, &user, "verify");
    let mut throttled = false;
    for _ in 0..20 {
        let r = second(
            &issuer,
            &t,
            json!({"challenge": c, "code": wrong_code(&secret)}),
        );
        match (r.status, r.error().as_str()) {
            (429, "rate_limited") => {
                throttled = true;
                break;
            }
            (401, "totp_invalid") => {}
            (401, "challenge_invalid") => {
                let again = issuer.sign_in(&t, &user, PW, "body");
                if again.status == 429 {
                    throttled = true;
                    break;
                }
                c = again.json()["challenge"]
                    .as_str()
                    .expect("challenge")
                    .to_string();
            }
            other => panic!("unexpected {other:?}: {}", r.text()),
        }
    }
    assert!(
        throttled,
        "code guesses draw from the account's sign-in budget"
    );
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(
        (r.status, r.error().as_str()),
        (429, "rate_limited"),
        "and so do passwords"
    );
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "sign_in_throttled"));
}
