//! The hosted sign-in page in a real browser: headless Chromium signs in with a password (and
//! with the TOTP step, the code computed in the browser script as an authenticator app would),
//! sees each page, and ends with the refresh cookie of a live session. Screenshots of every
//! page are kept under `target/test-artifacts/`.

use super::*;

use tenantgate_testkit::browser::{self, SignIn};

fn base_url(issuer: &Issuer) -> String {
    let port = issuer.addr.rsplit(':').next().expect("port");
    format!("http://localhost:{port}")
}

/// Checks what the browser saw and that its refresh cookie is a live session of `tenant`.
fn check_signed_in(issuer: &Issuer, tenant: &str, seen: &Value, steps: &[&str]) {
    let got: Vec<&str> = seen["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter_map(|p| p["step"].as_str())
        .collect();
    assert_eq!(got, steps, "{seen}");
    assert!(
        seen["csp"]
            .as_str()
            .is_some_and(|c| c.contains("default-src 'none'")),
        "{seen}"
    );
    assert_eq!(seen["wrong_password"], "The email or password is wrong.");
    assert!(
        seen["signed_in"]
            .as_str()
            .is_some_and(|s| s.contains("You are signed in to")),
        "{seen}"
    );
    let cookie = &seen["refresh_cookie"];
    assert_eq!(cookie["httpOnly"], true, "{seen}");
    assert_eq!(cookie["sameSite"], "Strict", "{seen}");
    assert_eq!(cookie["path"], format!("/v1/tenants/{tenant}/refresh"));
    let token = cookie["value"].as_str().expect("cookie value");
    let r = issuer.post_json(
        &format!("/v1/tenants/{tenant}/refresh"),
        &json!({"refresh_token": token}),
    );
    assert_eq!(
        r.status,
        200,
        "the browser's session is live: {}",
        r.summary()
    );
}

#[test]
fn chromium_signs_in_with_a_password() {
    // The tenant has single sign-on too (its client secret needs the sealing key): the first
    // page shows both methods.
    let mut opts = Options::new(Backend::Sqlite);
    opts.sealed_keys = true;
    let issuer = Issuer::start(opts);
    let t = tenant_id("browser");
    issuer.tenant(&t, json!({"name": "Acme Corp"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let sso = json!({"sso": {"issuer": "https://idp.example", "client_id": "gate",
        "client_secret": "client-secret-0123456789abcdef", "default_roles": []}});
    let r = issuer.admin(
        "PATCH",
        &format!("/admin/tenants/{t}/login-methods"),
        Some(&sso),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let Some(seen) = browser::sign_in(&SignIn {
        base_url: base_url(&issuer),
        tenant: &t,
        email: &user,
        password: PW,
        totp_secret: None,
        cookie_name: "tg_refresh",
        name: "sign-in-password",
    }) else {
        return;
    };
    check_signed_in(
        &issuer,
        &t,
        &seen,
        &["1-sign-in", "2-wrong-password", "4-signed-in"],
    );
    assert_eq!(seen["pages"][0]["heading"], "Acme Corp");
    let sso = seen["sso_href"].as_str().expect("the single sign-on link");
    assert!(
        sso.starts_with(&format!("/v1/tenants/{t}/sso/start?redirect_uri=")),
        "{sso}"
    );
}

#[test]
fn chromium_signs_in_with_a_password_and_a_totp_code() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("browsermfa");
    issuer.tenant(&t, json!({"name": "Globex <Security>"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let r = issuer.admin(
        "PATCH",
        &format!("/admin/tenants/{t}/login-methods"),
        Some(&json!({"totp": "required"})),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    // Enrolled with the previous step's code, so the browser's code (this step or a later one)
    // is never a replay of it.
    let secret = super::page::enroll(&issuer, &t, &user, -30);
    let Some(seen) = browser::sign_in(&SignIn {
        base_url: base_url(&issuer),
        tenant: &t,
        email: &user,
        password: PW,
        totp_secret: Some(&secret),
        cookie_name: "tg_refresh",
        name: "sign-in-totp",
    }) else {
        return;
    };
    check_signed_in(
        &issuer,
        &t,
        &seen,
        &["1-sign-in", "2-wrong-password", "3-totp", "4-signed-in"],
    );
    assert_eq!(seen["pages"][0]["heading"], "Globex <Security>");
    assert_eq!(seen["sso_href"], Value::Null, "no single sign-on: no link");
    let sign_in = issuer
        .audit()
        .into_iter()
        .rev()
        .find(|e| e["action"] == "sign_in")
        .expect("sign_in");
    assert_eq!(sign_in["amr"], json!(["pwd", "otp", "mfa"]));
}
