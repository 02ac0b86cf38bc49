//! The hosted sign-in page in a real browser: headless Chromium signs in with a password (and
//! with the TOTP step, the code computed in the browser script as an authenticator app would),
//! sees each page, and ends with the refresh cookie of a live session. Screenshots of every
//! page are kept under `target/test-artifacts/`. And single sign-on through the whole redirect
//! flow: the page's link, the tenant's IdP (the real `oidc-provider`) and its login and consent
//! pages, the issuer's callback, its signed-in page.

use super::*;

use tenantgate_testkit::browser::{self, SignIn, SsoSignIn};

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
    let token = refresh_cookie(seen, tenant);
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
    issuer.login_methods(&t, &sso);
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
    // Single sign-on returns to the page's own signed-in address (a path, as sso/start requires).
    assert_eq!(
        sso,
        format!("/v1/tenants/{t}/sso/start?return_to=%2Ft%2F{t}%2Fsign-in%2Fdone")
    );
}

#[test]
fn chromium_signs_in_with_a_password_and_a_totp_code() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("browsermfa");
    issuer.tenant(&t, json!({"name": "Globex <Security>"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    issuer.login_methods(&t, &json!({"totp": "required"}));
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

#[test]
fn chromium_signs_in_through_the_tenants_idp() {
    // The callback the IdP registers, and where the browser comes back, is on `localhost`.
    let issuer = super::sso::issuer_public_at(Backend::Sqlite, "localhost");
    let base = base_url(&issuer);
    let t = tenant_id("browsersso");
    issuer.tenant(&t, json!({"name": "Initech"}));
    issuer.role("viewer");
    let callback = format!("{base}/v1/tenants/{t}/sso/callback");
    let Some(idp) = super::sso::connect_idp_with_callback(&issuer, &t, &callback) else {
        return;
    };
    let Some(seen) = browser::sso_sign_in(&SsoSignIn {
        base_url: base.clone(),
        tenant: &t,
        idp_url: idp.issuer(),
        login: "carol",
        cookie_name: "tg_refresh",
        name: "sign-in-sso",
    }) else {
        return;
    };
    let steps: Vec<&str> = seen["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter_map(|p| p["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["1-sign-in", "2-idp-login", "3-idp-consent", "4-signed-in"],
        "{seen}"
    );
    assert_eq!(seen["pages"][0]["heading"], "Initech", "{seen}");
    assert_eq!(
        seen["sso_href"],
        format!("/v1/tenants/{t}/sso/start?return_to=%2Ft%2F{t}%2Fsign-in%2Fdone")
    );
    assert_eq!(seen["idp_login_form"], true, "{seen}");
    assert_eq!(seen["idp_consent"], "consent", "{seen}");
    let done = seen["final_url"].as_str().expect("final URL");
    assert!(
        done.starts_with(&format!("{base}/t/{t}/sign-in/done#csrf_token=")),
        "{seen}"
    );
    assert_eq!(seen["pages"][3]["heading"], "Signed in", "{seen}");
    assert!(
        seen["signed_in"]
            .as_str()
            .is_some_and(|s| s.contains("You are signed in to Initech")),
        "{seen}"
    );
    check_sso_session(&issuer, &t, refresh_cookie(&seen, &t));
}

/// The refresh cookie the browser kept, checked as the session's cookie of `tenant`; its token.
fn refresh_cookie<'s>(seen: &'s Value, tenant: &str) -> &'s str {
    let cookie = &seen["refresh_cookie"];
    assert_eq!(cookie["httpOnly"], true, "{seen}");
    assert_eq!(cookie["sameSite"], "Strict", "{seen}");
    assert_eq!(cookie["path"], format!("/v1/tenants/{tenant}/refresh"));
    cookie["value"].as_str().expect("cookie value")
}

/// The IdP's user was created and linked in `tenant`, and the browser's cookie is the refresh
/// token of the SSO session opened for that user.
fn check_sso_session(issuer: &Issuer, tenant: &str, refresh_token: &str) {
    let audit = issuer.audit();
    let created = audit
        .iter()
        .find(|l| l["action"] == "sso_user_create" && l["tenantId"] == tenant)
        .expect("sso_user_create");
    assert_eq!(created["email"], "carol@idp.test", "{created}");
    assert_eq!(created["idp_subject"], "carol", "{created}");
    let user = created["actor"].as_str().expect("the linked user");
    let sign_in = audit
        .iter()
        .find(|l| l["action"] == "sign_in" && l["tenantId"] == tenant)
        .expect("sign_in");
    assert_eq!(sign_in["actor"], user, "{sign_in}");
    assert!(
        sign_in["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("sso"))),
        "{sign_in}"
    );
    let sid = sign_in["sid"].as_str().expect("sid");
    let session = issuer.admin("GET", &format!("/admin/sessions/{sid}"), None);
    assert_eq!(session.status, 200, "{}", session.summary());
    let session = session.json();
    assert_eq!(session["tenant_id"], tenant, "{session}");
    assert_eq!(session["user_id"], user, "{session}");
    assert_eq!(session["revoked_at"], Value::Null, "{session}");
    let r = issuer.post_json(
        &format!("/v1/tenants/{tenant}/refresh"),
        &json!({"refresh_token": refresh_token}),
    );
    assert_eq!(r.status, 200, "the SSO session is live: {}", r.summary());
    let claims = pyjwt_verify(
        &issuer.url("/.well-known/jwks.json"),
        r.json()["access_token"].as_str().expect("token"),
    )
    .expect("verifies");
    assert_eq!(claims["sub"], user, "{claims}");
    assert_eq!(claims["tenantId"], tenant, "{claims}");
    assert_eq!(claims["roles"], json!(["viewer"]), "{claims}");
}
