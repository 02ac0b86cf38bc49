//! OIDC single sign-on with the real `oidc-provider` on loopback as each tenant's IdP: a browser
//! sign-in through the whole redirect flow (driven by plain HTTP, cookies kept by hand) opens a
//! session whose access token verifies and whose refresh rotates; a wrong or spent `state`, a
//! replayed code, tenant A's IdP answer brought to tenant B and a tenant without SSO are refused
//! with their error code and an audit line.

use super::*;
use tenantgate_testkit::oidc_provider::{OidcProvider, SsoClient};

on_both_backends!(a_browser_signs_in_through_the_tenants_idp);

const SECRET: &str = "sso-client-secret-0123456789abcdef";

/// An issuer whose public URL is its own loopback address (the callback the IdPs register).
fn issuer_on_its_own_address(backend: Backend) -> Issuer {
    issuer_public_at(backend, "127.0.0.1")
}

/// An issuer on a fixed port whose `[sso] public_url` is `http://<host>:<port>/` (`localhost`
/// for a browser: a secure context, where its `Secure` cookies are kept).
pub(super) fn issuer_public_at(backend: Backend, host: &str) -> Issuer {
    issuer_public_with(Options::new(backend), host)
}

fn issuer_public_with(mut opts: Options, host: &str) -> Issuer {
    opts.sealed_keys = true;
    let mut issuer = Issuer::start(opts);
    let addr = issuer.addr.clone();
    let port = addr.rsplit(':').next().expect("port");
    let config = std::fs::read_to_string(&issuer.config).expect("config");
    let config = config.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""))
        + &format!("\n[sso]\npublic_url = \"http://{host}:{port}/\"\n");
    std::fs::write(&issuer.config, config).expect("write config");
    issuer.restart();
    assert_eq!(issuer.addr, addr, "the issuer came back on its address");
    issuer
}

fn callback(issuer: &Issuer, tenant: &str) -> String {
    issuer.url(&format!("/v1/tenants/{tenant}/sso/callback"))
}

/// Starts the tenant's IdP and points the tenant's SSO at it.
fn connect_idp(issuer: &Issuer, tenant: &str) -> Option<OidcProvider> {
    connect_idp_with_callback(issuer, tenant, &callback(issuer, tenant))
}

/// Like [`connect_idp`], the IdP's client registered with `callback` (the issuer's public one).
pub(super) fn connect_idp_with_callback(
    issuer: &Issuer,
    tenant: &str,
    callback: &str,
) -> Option<OidcProvider> {
    let client = format!("gate-{tenant}");
    let idp = OidcProvider::start_with(&[SsoClient {
        client_id: client.clone(),
        client_secret: SECRET.into(),
        redirect_uris: vec![callback.to_string()],
    }])?;
    let body = json!({"sso": {"issuer": idp.issuer(), "client_id": client,
        "client_secret": SECRET, "default_roles": ["viewer"]}});
    issuer.login_methods(tenant, &body);
    Some(idp)
}

/// `GET .../sso/start`: the IdP's authorization URL.
fn start(issuer: &Issuer, tenant: &str, query: &str) -> String {
    let r = issuer.get(&format!("/v1/tenants/{tenant}/sso/start{query}"));
    assert_eq!(r.status, 302, "{}", r.text());
    r.header("location").expect("location").to_string()
}

/// The value of `name` in the query of `url` (values here need no decoding).
fn query_value(url: &str, name: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .to_string()
}

fn refusals(issuer: &Issuer, tenant: &str) -> Vec<String> {
    issuer
        .audit()
        .iter()
        .filter(|l| l["action"] == "sign_in_failure" && l["tenantId"] == tenant)
        .filter_map(|l| l["reason"].as_str().map(str::to_owned))
        .collect()
}

fn a_browser_signs_in_through_the_tenants_idp(backend: Backend) {
    let issuer = issuer_on_its_own_address(backend);
    let t = tenant_id("sso");
    issuer.tenant(&t, json!({}));
    issuer.role("viewer");
    let Some(idp) = connect_idp(&issuer, &t) else {
        return;
    };
    let authorize = start(&issuer, &t, "?return_to=%2Fapp%3Fx%3D1");
    assert!(authorize.starts_with(idp.issuer()), "{authorize}");
    assert_eq!(query_value(&authorize, "code_challenge_method"), "S256");
    assert_eq!(query_value(&authorize, "scope"), "openid+email");
    let back = idp.browser_sign_in(&authorize, "alice");
    let prefix = callback(&issuer, &t);
    let path = back
        .strip_prefix(&issuer.url(""))
        .unwrap_or_else(|| panic!("the IdP sent the browser to {back}, not {prefix}"));
    let r = issuer.get(path);
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").expect("location").to_string();
    let csrf = location
        .strip_prefix("/app?x=1#csrf_token=")
        .unwrap_or_else(|| panic!("back to the return_to with the CSRF token: {location}"))
        .to_string();
    let cookie = format!(
        "tg_refresh={}",
        r.cookie("tg_refresh").expect("refresh cookie")
    );

    // The session is a password sign-in's: the refresh rotates, a reused token is theft.
    let refresh = format!("/v1/tenants/{t}/refresh");
    let r = issuer.request("POST", &refresh, &csrf_headers(&cookie, &csrf), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let claims = pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies");
    assert_eq!(claims["tenantId"], t.as_str(), "{claims}");
    assert_eq!(claims["roles"], json!(["viewer"]), "{claims}");
    assert!(
        claims["amr"]
            .as_array()
            .expect("amr")
            .contains(&json!("sso")),
        "{claims}"
    );
    let second = format!("tg_refresh={}", r.cookie("tg_refresh").expect("rotated"));
    assert_ne!(second, cookie);
    // (The token just rotated may be answered once more, for a lost answer; an older one not.)
    let r = issuer.request("POST", &refresh, &csrf_headers(&second, &csrf), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = issuer.request("POST", &refresh, &csrf_headers(&cookie, &csrf), None);
    assert_eq!(r.error(), "token_theft_detected", "{}", r.text());

    // The callback again: its state is spent.
    let r = issuer.get(path);
    assert_eq!(
        (r.status, r.error()),
        (401, "sso_state_invalid".into()),
        "{}",
        r.text()
    );
    // The spent code with a fresh state: the IdP refuses it.
    let fresh = query_value(&start(&issuer, &t, ""), "state");
    let code = query_value(&back, "code");
    let r = issuer.get(&format!(
        "/v1/tenants/{t}/sso/callback?code={code}&state={fresh}"
    ));
    assert_eq!(r.error(), "sso_code_rejected", "{}", r.text());
    // A made-up state.
    let r = issuer.get(&format!(
        "/v1/tenants/{t}/sso/callback?code={code}&state=forged"
    ));
    assert_eq!(r.error(), "sso_state_invalid", "{}", r.text());

    // The same IdP subject signs in again as the same user; JSON answer without return_to.
    let again = idp.browser_sign_in(&start(&issuer, &t, ""), "alice");
    let r = issuer.get(again.strip_prefix(&issuer.url("")).expect("callback"));
    assert_eq!(r.status, 200, "{}", r.text());
    let claims2 = pyjwt_verify(
        &issuer.url("/.well-known/jwks.json"),
        r.json()["access_token"].as_str().expect("token"),
    )
    .expect("verifies");
    assert_eq!(claims2["sub"], claims["sub"]);

    let audit = issuer.audit();
    let created: Vec<_> = audit
        .iter()
        .filter(|l| l["action"] == "sso_user_create")
        .collect();
    assert_eq!(created.len(), 1, "one user, linked by the IdP subject");
    assert_eq!(created[0]["email"], "alice@idp.test");
    assert_eq!(
        refusals(&issuer, &t),
        [
            "sso_state_invalid",
            "sso_code_rejected",
            "sso_state_invalid"
        ]
    );
}

#[test]
fn one_tenants_idp_never_signs_into_another_and_sso_off_is_refused() {
    let issuer = issuer_on_its_own_address(Backend::Sqlite);
    let (a, b, c) = (tenant_id("a"), tenant_id("b"), tenant_id("c"));
    for t in [&a, &b, &c] {
        issuer.tenant(t, json!({}));
    }
    issuer.role("viewer");
    let (Some(idp_a), Some(_idp_b)) = (connect_idp(&issuer, &a), connect_idp(&issuer, &b)) else {
        return;
    };
    // A sign-in at A's IdP, its answer brought to B's callback.
    let back = idp_a.browser_sign_in(&start(&issuer, &a, ""), "mallory");
    let (code, state_a) = (query_value(&back, "code"), query_value(&back, "state"));
    let state_b = query_value(&start(&issuer, &b, ""), "state");
    let at_b = |state: &str| {
        issuer.get(&format!(
            "/v1/tenants/{b}/sso/callback?code={code}&state={state}"
        ))
    };
    let r = at_b(&state_a);
    assert_eq!(
        r.error(),
        "sso_state_invalid",
        "A's state is not B's: {}",
        r.text()
    );
    let r = at_b(&state_b);
    assert_eq!(
        r.error(),
        "sso_code_rejected",
        "B's IdP knows no A code: {}",
        r.text()
    );
    assert_eq!(
        refusals(&issuer, &b),
        ["sso_state_invalid", "sso_code_rejected"]
    );
    // A's own callback still finishes A's sign-in (B's refusal spent nothing of A's).
    let r = issuer.get(back.strip_prefix(&issuer.url("")).expect("callback"));
    assert_eq!(r.status, 200, "{}", r.text());

    // A code swapped into another sign-in of the same tenant: its PKCE verifier is not the one
    // the code was bound to, so the IdP refuses it (before any nonce is compared).
    let other = query_value(&start(&issuer, &a, ""), "state");
    let back = idp_a.browser_sign_in(&start(&issuer, &a, ""), "mallory");
    let code = query_value(&back, "code");
    let r = issuer.get(&format!(
        "/v1/tenants/{a}/sso/callback?code={code}&state={other}"
    ));
    assert_eq!(r.error(), "sso_code_rejected", "{}", r.text());
    assert_eq!(refusals(&issuer, &a), ["sso_code_rejected"]);

    // A tenant without SSO.
    let r = issuer.get(&format!("/v1/tenants/{c}/sso/start"));
    assert_eq!(
        (r.status, r.error()),
        (403, "login_method_disabled".into()),
        "{}",
        r.text()
    );
    let r = issuer.get(&format!("/v1/tenants/{c}/sso/callback?code=x&state=y"));
    assert_eq!(r.error(), "sso_state_invalid", "{}", r.text());
    assert_eq!(refusals(&issuer, &c), ["sso_off", "sso_state_invalid"]);
    // An open redirect is refused before anything is stored.
    let r = issuer.get(&format!(
        "/v1/tenants/{a}/sso/start?return_to=https://evil.example/"
    ));
    assert_eq!(r.error(), "invalid_request", "{}", r.text());
}

#[test]
fn sso_starts_draw_from_the_addresss_sign_in_budget() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_ip_per_minute = 3;
    let issuer = issuer_public_with(opts, "127.0.0.1");
    let t = tenant_id("rlsso");
    issuer.tenant(&t, json!({}));
    issuer.role("viewer");
    let Some(_idp) = connect_idp(&issuer, &t) else {
        return;
    };
    for _ in 0..3 {
        start(&issuer, &t, "");
    }
    let r = issuer.get(&format!("/v1/tenants/{t}/sso/start"));
    assert_eq!(
        (r.status, r.error().as_str()),
        (429, "rate_limited"),
        "{}",
        r.text()
    );
    assert!(r.header("retry-after").is_some(), "{}", r.summary());
    let tripped: Vec<_> = issuer
        .audit()
        .into_iter()
        .filter(|l| l["action"] == "sign_in_throttled" && l["tenantId"] == t.as_str())
        .collect();
    assert_eq!(
        tripped.len(),
        1,
        "one audit line when the limit trips: {tripped:?}"
    );
    assert_eq!(tripped[0]["method"], "sso");
    assert_eq!(tripped[0]["scope"], "address");
    // The same budget as password sign-ins: the address has none left for those either.
    let r = issuer.sign_in(&t, "someone@example.com", "a-password-1", "body");
    assert_eq!(r.error(), "rate_limited", "{}", r.text());
}
