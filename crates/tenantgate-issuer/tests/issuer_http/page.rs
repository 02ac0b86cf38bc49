//! The hosted sign-in page over HTTP: the security headers of every page, CSRF refusals, the
//! escaping of the tenant's display name, the methods shown, each error as a page, the TOTP step,
//! and the refresh cookie the signed-in page sets (the same session as the API's).

use super::*;

use tenantgate_issuer::totp;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn form_body(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_string()
}

/// A browser's first visit: the page, its CSRF cookie and the form's token.
struct Visit {
    page: Resp,
    cookie: String,
    csrf: String,
}

fn open(issuer: &Issuer, tenant: &str) -> Visit {
    let page = issuer.get(&format!("/t/{tenant}/sign-in"));
    assert_eq!(page.status, 200, "{}", page.summary());
    let cookie = page.cookie("__Host-tg_page_csrf").expect("csrf cookie");
    // A page without a form (single sign-on only) has no token to echo.
    let csrf = if page.text().contains("<form") {
        hidden(&page.text(), "csrf")
    } else {
        cookie.clone()
    };
    assert_eq!(cookie, csrf, "double submit: the form echoes the cookie");
    Visit { page, cookie, csrf }
}

fn post(issuer: &Issuer, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Resp {
    let jar = cookie.map(|c| format!("__Host-tg_page_csrf={c}"));
    let mut headers = vec![FORM];
    if let Some(j) = &jar {
        headers.push(("cookie", j.as_str()));
    }
    issuer.request("POST", path, &headers, Some(&form_body(fields)))
}

fn assert_secure_headers(r: &Resp) {
    let csp = r.header("content-security-policy").expect("CSP");
    for directive in [
        "default-src 'none'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("script-src"), "no script allowed: {csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn password_sign_in_through_the_page_sets_the_api_session_cookie() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("page");
    issuer.tenant(&t, json!({"name": "<script>alert(1)</script> & Co"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);

    let v = open(&issuer, &t);
    assert_secure_headers(&v.page);
    let html = v.page.text();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "{html}"
    );
    assert!(!html.contains("<script"), "nothing unescaped: {html}");
    assert!(html.contains("type=\"password\"") && !html.contains("single sign-on"));
    let set = v.page.header("set-cookie").expect("set-cookie");
    assert!(
        set.contains("SameSite=Strict") && set.contains("HttpOnly"),
        "{set}"
    );
    let css = issuer.get("/assets/sign-in.css");
    assert_eq!(css.status, 200);
    assert!(css
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/css")));

    // Wrong password: the form again, with the message, the email kept (escaped).
    let path = format!("/t/{t}/sign-in");
    let r = post(
        &issuer,
        &path,
        Some(&v.cookie),
        &[("csrf", &v.csrf), ("email", &user), ("password", "nope")],
    );
    assert_eq!(r.status, 401, "{}", r.summary());
    assert_secure_headers(&r);
    assert!(
        r.text().contains("The email or password is wrong."),
        "{}",
        r.text()
    );
    assert!(r.text().contains(&format!("value=\"{user}\"")));
    assert!(r.cookie(&issuer_cookie()).is_none());

    let r = post(
        &issuer,
        &path,
        Some(&v.cookie),
        &[("csrf", &v.csrf), ("email", &user), ("password", PW)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_secure_headers(&r);
    assert!(
        r.text().contains("Signed in") && r.text().contains(&user),
        "{}",
        r.text()
    );
    let refresh = r.cookie(&issuer_cookie()).expect("refresh cookie");
    let set = r
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&issuer_cookie()))
        .expect("refresh set-cookie");
    assert!(
        set.contains(&format!("Path=/v1/tenants/{t}/refresh")),
        "{set}"
    );
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"));

    // The cookie is the API's session: a body refresh with it rotates it.
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": refresh}),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let audit = issuer.audit();
    assert!(audit
        .iter()
        .any(|e| e["action"] == "sign_in" && e["tenantId"] == t.as_str()));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "sign_in_failure" && e["reason"] == "wrong_password"));
}

/// The name of the refresh cookie the issuer of the test kit is configured with.
fn issuer_cookie() -> String {
    "tg_refresh".into()
}

#[test]
fn forms_without_the_csrf_cookie_or_with_another_token_are_refused() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("csrf");
    issuer.tenant(&t, json!({"name": "Acme"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let v = open(&issuer, &t);
    let other = open(&issuer, &t);
    assert_ne!(v.csrf, other.csrf, "each browser gets its own token");
    let path = format!("/t/{t}/sign-in");
    let creds = [("email", user.as_str()), ("password", PW)];
    let cases: [(Option<&str>, Option<&str>); 4] = [
        (None, Some(&v.csrf)),                // no cookie (a cross-site post)
        (Some(&v.cookie), None),              // no token in the form
        (Some(&v.cookie), Some(&other.csrf)), // another browser's token
        (Some(&v.cookie), Some("")),          // empty
    ];
    for (cookie, token) in cases {
        let mut fields = creds.to_vec();
        if let Some(tok) = token {
            fields.push(("csrf", tok));
        }
        let r = post(&issuer, &path, cookie, &fields);
        assert_eq!(r.status, 403, "{cookie:?} {token:?}: {}", r.summary());
        assert_secure_headers(&r);
        assert!(r.text().contains("This form has expired"), "{}", r.text());
        assert!(r.cookie(&issuer_cookie()).is_none());
    }
    let r = post(
        &issuer,
        &format!("/t/{t}/sign-in/totp"),
        None,
        &[("challenge", "x"), ("code", "123456")],
    );
    assert_eq!(r.status, 403, "{}", r.summary());
    // Nothing was attempted: no sign-in audit line.
    assert!(!issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "sign_in_failure"));
    // A JSON body is not a form.
    let r = issuer.request(
        "POST",
        &path,
        &[
            ("content-type", "application/json"),
            ("cookie", &format!("__Host-tg_page_csrf={}", v.cookie)),
        ],
        Some(br#"{"csrf": "x"}"#),
    );
    assert_eq!(r.status, 400, "{}", r.summary());
}

#[test]
fn unknown_disabled_and_malformed_tenants_get_the_same_404_page() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("gone");
    issuer.tenant(&t, json!({"name": "Gone Inc"}));
    let r = issuer.admin("POST", &format!("/admin/tenants/{t}/disable"), None);
    assert_eq!(r.status, 200, "{}", r.summary());
    for path in [
        format!("/t/{t}/sign-in"),
        "/t/no-such-tenant/sign-in".to_string(),
        "/t/BAD%20ID/sign-in".to_string(),
        format!("/t/{t}/sign-in/done"),
    ] {
        let r = issuer.get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.summary());
        assert_secure_headers(&r);
        assert!(
            r.text()
                .contains("There is no sign-in page at this address"),
            "{}",
            r.text()
        );
        assert!(!r.text().contains("Gone Inc"));
    }
}

#[test]
fn a_tenant_without_passwords_shows_only_its_single_sign_on() {
    // Storing the SSO client secret needs the key that seals it.
    let mut opts = Options::new(Backend::Sqlite);
    opts.sealed_keys = true;
    let issuer = Issuer::start(opts);
    let t = tenant_id("ssoonly");
    issuer.tenant(&t, json!({"name": "Okta Shop"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let sso = json!({"password": false, "sso": {"issuer": "https://idp.example", "client_id": "gate",
        "client_secret": "client-secret-0123456789abcdef", "default_roles": []}});
    issuer.login_methods(&t, &sso);
    let v = open(&issuer, &t);
    let html = v.page.text();
    assert!(!html.contains("type=\"password\""), "{html}");
    let done = encode(&format!("/t/{t}/sign-in/done"));
    assert!(
        html.contains(&format!(
            "href=\"/v1/tenants/{t}/sso/start?return_to={done}\""
        )),
        "{html}"
    );
    // A password posted anyway is refused with what to do instead.
    let r = post(
        &issuer,
        &format!("/t/{t}/sign-in"),
        Some(&v.cookie),
        &[("csrf", &v.csrf), ("email", &user), ("password", PW)],
    );
    assert_eq!(r.status, 403, "{}", r.summary());
    assert!(
        r.text()
            .contains("does not allow signing in with a password"),
        "{}",
        r.text()
    );
    let done = issuer.get(&format!("/t/{t}/sign-in/done"));
    assert_eq!(done.status, 200);
    assert!(done.text().contains("You are signed in to Okta Shop."));
}

#[test]
fn throttled_attempts_say_how_long_to_wait() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_user_per_minute = 2;
    let issuer = Issuer::start(opts);
    let t = tenant_id("slow");
    issuer.tenant(&t, json!({"name": "Acme"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let v = open(&issuer, &t);
    let path = format!("/t/{t}/sign-in");
    let fields = [
        ("csrf", v.csrf.as_str()),
        ("email", user.as_str()),
        ("password", "wrong"),
    ];
    for _ in 0..2 {
        assert_eq!(post(&issuer, &path, Some(&v.cookie), &fields).status, 401);
    }
    let r = post(&issuer, &path, Some(&v.cookie), &fields);
    assert_eq!(r.status, 429, "{}", r.summary());
    assert!(r.header("retry-after").is_some());
    assert!(
        r.text().contains("Too many sign-in attempts. Wait"),
        "{}",
        r.text()
    );
}

/// The code of the authenticator app holding `secret` (base32), `ahead` seconds from now.
fn code_ahead(secret: &str, ahead: i64) -> String {
    let key = totp::base32_decode(secret).expect("base32 secret");
    totp::code_at(&key, totp::step_of(tenantgate_issuer::time::now() + ahead))
}

/// Enrolls `user` through the API (password step, enroll, the code `ahead` seconds from now);
/// returns the secret.
pub(super) fn enroll(issuer: &Issuer, t: &str, user: &str, ahead: i64) -> String {
    let r = issuer.sign_in(t, user, PW, "body");
    let c = r.json()["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/totp/enroll"),
        &json!({"challenge": c}),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let secret = r.json()["secret"].as_str().expect("secret").to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/sign-in/totp"),
        &json!({"challenge": c, "code": code_ahead(&secret, ahead)}),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    secret
}

#[test]
fn the_totp_step_refuses_wrong_and_replayed_codes_on_the_page() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("pagemfa");
    issuer.tenant(&t, json!({"name": "Acme"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    issuer.login_methods(&t, &json!({"totp": "required"}));
    let secret = enroll(&issuer, &t, &user, 0);
    let used = code_ahead(&secret, 0);

    let v = open(&issuer, &t);
    let r = post(
        &issuer,
        &format!("/t/{t}/sign-in"),
        Some(&v.cookie),
        &[("csrf", &v.csrf), ("email", &user), ("password", PW)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_secure_headers(&r);
    assert!(
        r.cookie(&issuer_cookie()).is_none(),
        "no session before the second factor"
    );
    let html = r.text();
    assert!(
        html.contains("authenticator app") && html.contains("name=\"code\""),
        "{html}"
    );
    let challenge = hidden(&html, "challenge");
    let step = format!("/t/{t}/sign-in/totp");
    // The TOTP step's form: this visit's CSRF token and challenge, and `code`.
    let post_code = |code: &str| {
        post(
            &issuer,
            &step,
            Some(&v.cookie),
            &[("csrf", &v.csrf), ("challenge", &challenge), ("code", code)],
        )
    };
    let wrong = if used == "000000" { "111111" } else { "000000" };
    let r = post_code(wrong);
    assert_eq!(r.status, 401, "{}", r.summary());
    assert!(r.text().contains("That code is wrong."), "{}", r.text());
    assert_eq!(
        hidden(&r.text(), "challenge"),
        challenge,
        "the same step again"
    );
    // The enrollment's code was already used: a replay.
    let r = post_code(&used);
    assert_eq!(r.status, 401, "{}", r.summary());
    assert!(
        r.text().contains("That code was already used."),
        "{}",
        r.text()
    );
    let fresh = code_ahead(&secret, 30);
    let r = post_code(&fresh);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("Signed in"));
    assert!(r.cookie(&issuer_cookie()).is_some());
    // The challenge is spent: back to the password form.
    let r = post_code(&fresh);
    assert_eq!(r.status, 401, "{}", r.summary());
    assert!(
        r.text().contains("Sign in again with your password")
            && r.text().contains("type=\"password\"")
    );
    let sign_in = issuer
        .audit()
        .into_iter()
        .rev()
        .find(|e| e["action"] == "sign_in")
        .expect("sign_in");
    assert_eq!(sign_in["amr"], json!(["pwd", "otp", "mfa"]));
}
