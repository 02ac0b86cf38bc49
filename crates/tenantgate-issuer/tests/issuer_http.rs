//! The issuer end to end: the real binary on loopback, HTTP in and out, tokens cross-checked with
//! PyJWT against the served JWKS. Each scenario runs on SQLite and on PostgreSQL.

use tenantgate_testkit::issuer as issuer_support;

use std::thread::sleep;
use std::time::Duration;

use issuer_support::*;
use serde_json::{json, Value};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                if let Some(b) = super::backend("sqlite") {
                    super::$name(b)
                }
            }
            #[test]
            fn postgres() {
                if let Some(b) = super::backend("postgres") {
                    super::$name(b)
                }
            }
        }
    )*};
}

on_both_backends!(
    sign_in_per_tenant_carries_only_that_tenants_roles,
    refresh_rotates_and_reuse_revokes_the_family,
    body_delivery_refresh_and_sign_out,
    admin_revokes_every_session_of_a_user,
    idle_and_absolute_timeouts,
    key_rotation_with_tokens_in_flight,
    restart_keeps_sessions_and_keys,
    disabled_tenant_cannot_sign_in_or_refresh,
);

const PW: &str = "correct horse battery";

fn email() -> String {
    format!("user{}@example.com", unique())
}

fn tenant_id(prefix: &str) -> String {
    format!("{prefix}-{}", unique())
}

fn csrf_headers<'a>(cookie: &'a str, csrf: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("cookie", cookie), ("x-csrf-token", csrf)]
}

fn sign_in_per_tenant_carries_only_that_tenants_roles(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let (a, b, c) = (tenant_id("a"), tenant_id("b"), tenant_id("c"));
    for t in [&a, &b, &c] {
        issuer.tenant(t, json!({}));
    }
    let user = email();
    issuer.member(&a, &user, Some(PW), &["admin", "billing"]);
    issuer.member(&b, &user, None, &["viewer"]);

    let jwks = issuer.url("/.well-known/jwks.json");
    let ra = issuer.sign_in(&a, &user, PW, "cookie");
    assert_eq!(ra.status, 200, "{}", ra.text());
    let ta = ra.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let claims_a = pyjwt_verify(&jwks, &ta).expect("PyJWT verifies the tenant-a token");
    assert_eq!(claims_a["tenantId"], a.as_str());
    assert_eq!(claims_a["roles"], json!(["admin", "billing"]));
    assert_eq!(claims_a["iss"], ISSUER);
    assert_eq!(claims_a["aud"], AUDIENCE);
    assert_eq!(
        claims_a["exp"].as_i64().expect("exp") - claims_a["iat"].as_i64().expect("iat"),
        600,
        "default lifetime 10 min"
    );
    assert_eq!(claims_a["sid"], ra.json()["session_id"]);

    let rb = issuer.sign_in(&b, &user, PW, "cookie");
    assert_eq!(rb.status, 200, "{}", rb.text());
    let claims_b =
        pyjwt_verify(&jwks, rb.json()["access_token"].as_str().expect("token")).expect("verifies");
    assert_eq!(claims_b["tenantId"], b.as_str());
    assert_eq!(
        claims_b["roles"],
        json!(["viewer"]),
        "never the roles of another tenant"
    );
    assert_eq!(
        claims_a["sub"], claims_b["sub"],
        "one identity in both tenants"
    );

    // Sign-in response: cookie scoped to the refresh path, HttpOnly, Secure, SameSite=Strict.
    let set_cookie = ra.header("set-cookie").expect("cookie");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        &format!("Path=/v1/tenants/{a}/refresh"),
    ] {
        assert!(set_cookie.contains(attr), "{attr} missing in {set_cookie}");
    }
    assert_eq!(ra.header("cache-control"), Some("no-store"));
    assert!(ra.json()["csrf_token"].is_string());
    assert!(
        ra.json().get("refresh_token").is_none(),
        "cookie delivery keeps the token out of the body"
    );

    // Not a member of c, wrong password, unknown user, unknown tenant.
    assert_eq!(
        issuer.sign_in(&c, &user, PW, "cookie").error(),
        "invalid_credentials"
    );
    assert_eq!(
        issuer
            .sign_in(&a, &user, "wrong password!", "cookie")
            .error(),
        "invalid_credentials"
    );
    assert_eq!(
        issuer.sign_in(&a, &email(), PW, "cookie").error(),
        "invalid_credentials"
    );
    let r = issuer.sign_in("no-such-tenant", &user, PW, "cookie");
    assert_eq!((r.status, r.error().as_str()), (404, "tenant_not_found"));

    // Audit and metrics saw it.
    let audit = issuer.audit();
    let ok = audit
        .iter()
        .find(|e| e["action"] == "sign_in" && e["tenantId"] == a.as_str())
        .expect("sign_in audit");
    assert_eq!(ok["roles"], json!(["admin", "billing"]));
    assert_eq!(ok["ip"], "127.0.0.1");
    assert!(ok["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(audit
        .iter()
        .any(|e| e["action"] == "sign_in_failure" && e["reason"] == "wrong_password"));
    let metrics = issuer.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "tenantgate_issuer_sign_in_total{{tenant=\"{a}\",result=\"success\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "tenantgate_issuer_sign_in_total{{tenant=\"{a}\",result=\"failure\"}} 2"
        )),
        "{metrics}"
    );
}

fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("acme");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let jwks = issuer.url("/.well-known/jwks.json");
    let refresh_path = format!("/v1/tenants/{t}/refresh");

    let r = issuer.sign_in(&t, &user, PW, "cookie");
    let csrf = r.json()["csrf_token"].as_str().expect("csrf").to_string();
    let sid = r.json()["session_id"].as_str().expect("sid").to_string();
    let first = format!("tg_refresh={}", r.cookie("tg_refresh").expect("cookie"));

    // The cookie alone is not enough: CSRF header required and bound to the session.
    let r = issuer.request("POST", &refresh_path, &[("cookie", &first)], None);
    assert_eq!((r.status, r.error().as_str()), (403, "csrf_invalid"));
    let r = issuer.request(
        "POST",
        &refresh_path,
        &csrf_headers(&first, "not-the-token"),
        None,
    );
    assert_eq!(r.error(), "csrf_invalid");

    // A refresh rotates the token and yields a fresh access token with the same session.
    let r = issuer.request("POST", &refresh_path, &csrf_headers(&first, &csrf), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let second = format!(
        "tg_refresh={}",
        r.cookie("tg_refresh").expect("rotated cookie")
    );
    assert_ne!(first, second);
    let claims =
        pyjwt_verify(&jwks, r.json()["access_token"].as_str().expect("token")).expect("verifies");
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["roles"], json!(["admin"]));

    let r = issuer.request("POST", &refresh_path, &csrf_headers(&second, &csrf), None);
    assert_eq!(r.status, 200);
    let third = format!("tg_refresh={}", r.cookie("tg_refresh").expect("cookie"));

    // The thief replays the first (rotated) token: 401 token_theft_detected, family revoked.
    let r = issuer.request("POST", &refresh_path, &csrf_headers(&first, &csrf), None);
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "token_theft_detected")
    );
    // ... so the legitimate holder's newest token is dead too.
    let r = issuer.request("POST", &refresh_path, &csrf_headers(&third, &csrf), None);
    assert_eq!((r.status, r.error().as_str()), (401, "session_revoked"));
    let s = issuer
        .admin("GET", &format!("/admin/sessions/{sid}"), None)
        .json();
    assert_eq!(s["revoke_reason"], "token_theft");

    let theft = issuer
        .audit()
        .into_iter()
        .find(|e| e["action"] == "token_theft")
        .expect("theft audit line");
    assert_eq!(theft["tenantId"], t.as_str());
    assert_eq!(theft["sid"], sid.as_str());
    assert_eq!(theft["roles"], json!(["admin"]));
    assert_eq!(theft["ip"], "127.0.0.1");
    assert_eq!(theft["actor"], claims["sub"]);
    let metrics = issuer.get("/metrics").text();
    assert!(
        metrics.contains(&format!(
            "tenantgate_issuer_token_theft_total{{tenant=\"{t}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "tenantgate_issuer_refresh_errors_total{{tenant=\"{t}\",reason=\"session_revoked\"}} 1"
    )));

    // Unknown tokens and tokens of another tenant are refused without detail.
    let r = issuer.request(
        "POST",
        &refresh_path,
        &csrf_headers("tg_refresh=tgr_unknown", &csrf),
        None,
    );
    assert_eq!(r.error(), "refresh_token_invalid");
    let r = issuer.request("POST", &refresh_path, &[], None);
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "refresh_token_missing")
    );
}

fn body_delivery_refresh_and_sign_out(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let (t, other) = (tenant_id("acme"), tenant_id("other"));
    issuer.tenant(&t, json!({}));
    issuer.tenant(&other, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let refresh = |token: &str, tenant: &str| {
        issuer.post_json(
            &format!("/v1/tenants/{tenant}/refresh"),
            &json!({"refresh_token": token}),
        )
    };

    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("set-cookie").is_none() && r.json().get("csrf_token").is_none());
    let rt = r.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();

    // A refresh token only works at its own tenant.
    assert_eq!(refresh(&rt, &other).error(), "refresh_token_invalid");
    let r = refresh(&rt, &t);
    assert_eq!(r.status, 200, "{}", r.text());
    let access = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let rt2 = r.json()["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();

    // Sign-out with the access token of the session; the wrong tenant's path refuses it.
    let bearer = format!("Bearer {access}");
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{other}/sign-out"),
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "access_token_invalid")
    );
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{t}/sign-out"),
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "cookie cleared"
    );
    let r = refresh(&rt2, &t);
    assert_eq!((r.status, r.error().as_str()), (401, "session_revoked"));
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "sign_out" && e["tenantId"] == t.as_str()));

    // Sign-out with the refresh token in the body.
    let r = issuer.sign_in(&t, &user, PW, "body");
    let rt = r.json()["refresh_token"]
        .as_str()
        .expect("token")
        .to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/sign-out"),
        &json!({"refresh_token": rt}),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(refresh(&rt, &t).error(), "session_revoked");

    // Nothing to identify the session.
    let r = issuer.request("POST", &format!("/v1/tenants/{t}/sign-out"), &[], None);
    assert_eq!((r.status, r.error().as_str()), (401, "credentials_missing"));
}

fn admin_revokes_every_session_of_a_user(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let (a, b) = (tenant_id("a"), tenant_id("b"));
    issuer.tenant(&a, json!({}));
    issuer.tenant(&b, json!({}));
    let user = email();
    issuer.member(&a, &user, Some(PW), &[]);
    issuer.member(&b, &user, None, &[]);
    let tokens: Vec<(String, String)> = [&a, &a, &b]
        .iter()
        .map(|t| {
            (
                t.to_string(),
                issuer.sign_in(t, &user, PW, "body").json()["refresh_token"]
                    .as_str()
                    .expect("rt")
                    .to_string(),
            )
        })
        .collect();

    let r = issuer.admin(
        "POST",
        &format!("/admin/users/{user}/revoke-sessions"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["revoked_sessions"], 3);
    for (t, rt) in &tokens {
        let r = issuer.post_json(
            &format!("/v1/tenants/{t}/refresh"),
            &json!({"refresh_token": rt}),
        );
        assert_eq!(r.error(), "session_revoked");
    }
    let line = issuer
        .audit()
        .into_iter()
        .find(|e| e["action"] == "session_revocation")
        .expect("audit");
    assert_eq!(line["actor"], "admin");
    assert_eq!(line["revoked_sessions"], 3);

    // The admin API needs the admin token.
    let r = issuer.request(
        "POST",
        &format!("/admin/users/{user}/revoke-sessions"),
        &[("authorization", "Bearer wrong")],
        None,
    );
    assert_eq!((r.status, r.error().as_str()), (401, "admin_unauthorized"));
    let r = issuer.get("/admin/tenants");
    assert_eq!(r.error(), "admin_unauthorized");
}

fn idle_and_absolute_timeouts(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("short");
    let created = issuer.tenant(
        &t,
        json!({"access_ttl": "1m", "refresh_idle": "3s", "session_absolute": 8}),
    );
    assert_eq!(
        (
            created["refresh_idle"].as_i64(),
            created["session_absolute"].as_i64()
        ),
        (Some(3), Some(8))
    );
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let refresh = |rt: &str| {
        issuer.post_json(
            &format!("/v1/tenants/{t}/refresh"),
            &json!({"refresh_token": rt}),
        )
    };
    let token = |r: &Resp| r.json()["refresh_token"].as_str().expect("rt").to_string();

    // Idle: no refresh within 3 s ends the session.
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(
        pyjwt_exp_minus_iat(&issuer, &r),
        60,
        "per-tenant access-token lifetime"
    );
    let idle = token(&r);
    sleep(Duration::from_millis(4100));
    let r = refresh(&idle);
    assert_eq!((r.status, r.error().as_str()), (401, "session_expired"));

    // Absolute: refreshing every second keeps it alive only until 8 s after sign-in. The margins
    // (2 s before, 1 s after) absorb whole-second timestamps and a loaded machine.
    let mut rt = token(&issuer.sign_in(&t, &user, PW, "body"));
    let started = std::time::Instant::now();
    loop {
        sleep(Duration::from_millis(1000));
        let r = refresh(&rt);
        if started.elapsed() < Duration::from_millis(5900) {
            assert_eq!(r.status, 200, "before the absolute timeout: {}", r.text());
            rt = token(&r);
        } else if started.elapsed() > Duration::from_millis(9100) {
            assert_eq!(r.error(), "session_expired", "after the absolute timeout");
            break;
        } else if r.status != 200 {
            assert_eq!(r.error(), "session_expired");
            assert!(started.elapsed() >= Duration::from_millis(5900));
            break;
        } else {
            rt = token(&r);
        }
    }
    assert!(issuer.audit().iter().any(|e| e["reason"] == "idle_timeout"));
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["reason"] == "absolute_timeout"));
}

fn pyjwt_exp_minus_iat(issuer: &Issuer, r: &Resp) -> i64 {
    let claims = pyjwt_verify(
        &issuer.url("/.well-known/jwks.json"),
        r.json()["access_token"].as_str().expect("token"),
    )
    .expect("verifies");
    claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat")
}

fn key_rotation_with_tokens_in_flight(backend: Backend) {
    let mut opts = Options::new(backend);
    opts.jwks_max_age = "1s";
    opts.publish_lead = "3s";
    let issuer = Issuer::start(opts);
    let t = tenant_id("rot");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let jwks_url = issuer.url("/.well-known/jwks.json");
    let access = |r: Resp| {
        r.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    };

    let jwks = issuer.get("/.well-known/jwks.json");
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=1"));
    let before = access(issuer.sign_in(&t, &user, PW, "body"));
    let old_kid = header(&before)["kid"].as_str().expect("kid").to_string();
    assert_eq!(header(&before)["alg"], "RS256");

    // Rotate: the new key is published at once but does not sign yet.
    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(r.status, 201, "{}", r.text());
    let new_kid = r.json()["key"]["kid"].as_str().expect("kid").to_string();
    assert_eq!(r.json()["key"]["state"], "next");
    let kids: Vec<String> = issuer.get("/.well-known/jwks.json").json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let during = access(issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(
        header(&during)["kid"],
        old_kid.as_str(),
        "the new key must not sign before the lead time"
    );
    // Rotating again while a key is pending changes nothing.
    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(
        (r.status, r.json()["created"].as_bool()),
        (200, Some(false))
    );

    sleep(Duration::from_millis(3300));
    let after = access(issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(header(&after)["kid"], new_kid.as_str());
    // A token from after the rotation verifies as soon as it is issued ...
    pyjwt_verify(&jwks_url, &after).expect("new token verifies at once");
    // ... and tokens signed before it still verify.
    pyjwt_verify(&jwks_url, &before).expect("token signed before rotation still verifies");
    pyjwt_verify(&jwks_url, &during).expect("token signed during publication still verifies");

    let keys = issuer.admin("GET", "/admin/keys", None).json();
    let state = |kid: &str| {
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].clone())
    };
    assert_eq!(state(&old_kid), Some(json!("retired")));
    assert_eq!(state(&new_kid), Some(json!("current")));
    let audit = issuer.audit();
    let created: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "key_rotation")
        .map(|e| (e["trigger"].clone(), e["kid"].clone()))
        .collect();
    assert_eq!(
        created,
        [
            (json!("bootstrap"), json!(old_kid)),
            (json!("manual"), json!(new_kid))
        ]
    );
    assert!(issuer
        .get("/metrics")
        .text()
        .contains("tenantgate_issuer_key_rotations_total 2"));
}

fn restart_keeps_sessions_and_keys(backend: Backend) {
    let mut issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("keep");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let r = issuer.sign_in(&t, &user, PW, "cookie");
    let access = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let csrf = r.json()["csrf_token"].as_str().expect("csrf").to_string();
    let cookie = format!("tg_refresh={}", r.cookie("tg_refresh").expect("cookie"));
    let body_rt = issuer.sign_in(&t, &user, PW, "body").json()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();

    issuer.restart(); // SIGKILL: only what was committed survives
    let jwks_url = issuer.url("/.well-known/jwks.json");
    pyjwt_verify(&jwks_url, &access)
        .expect("token from before the restart verifies against the new process");
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{t}/refresh"),
        &csrf_headers(&cookie, &csrf),
        None,
    );
    assert_eq!(r.status, 200, "cookie session survives: {}", r.text());
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": body_rt}),
    );
    assert_eq!(r.status, 200, "body session survives: {}", r.text());
    let fresh = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        header(&fresh)["kid"],
        header(&access)["kid"],
        "same signing key after restart"
    );
    // Theft detection state survives too.
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": body_rt}),
    );
    assert_eq!(r.error(), "token_theft_detected");
}

fn disabled_tenant_cannot_sign_in_or_refresh(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("off");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let rt = issuer.sign_in(&t, &user, PW, "body").json()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();
    let r = issuer.admin("POST", &format!("/admin/tenants/{t}/disable"), None);
    assert_eq!(
        (
            r.status,
            r.json()["disabled"].as_bool(),
            r.json()["revoked_sessions"].as_i64()
        ),
        (200, Some(true), Some(1))
    );
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!((r.status, r.error().as_str()), (403, "tenant_disabled"));
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": rt}),
    );
    assert_eq!(r.error(), "session_revoked");
    let list = issuer.admin("GET", "/admin/tenants", None).json();
    assert!(list["tenants"]
        .as_array()
        .expect("list")
        .iter()
        .any(|x| x["id"] == t.as_str() && x["disabled"] == true));
    issuer.admin("POST", &format!("/admin/tenants/{t}/enable"), None);
    assert_eq!(issuer.sign_in(&t, &user, PW, "body").status, 200);
}

// ---- SQLite-only scenarios (behaviour independent of the backend) ----

#[test]
fn well_known_documents_health_and_metrics() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let oidc = issuer.get("/.well-known/openid-configuration");
    assert_eq!(oidc.status, 200);
    assert_eq!(oidc.json()["issuer"], ISSUER);
    assert_eq!(
        oidc.json()["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    assert_eq!(
        oidc.json()["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = issuer.get("/.well-known/jwks.json");
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.json()["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1);
    for field in ["kty", "use", "alg", "kid", "n", "e"] {
        assert!(keys[0][field].is_string(), "{field}");
    }
    // The filter's own JWKS parser accepts the document.
    let set = tenantgate_core::jwks::keyset::KeySet::from_json(&jwks.body)
        .expect("filter parses the JWKS");
    assert!(set.contains(keys[0]["kid"].as_str().expect("kid")));
    let health = issuer.get("/healthz");
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let metrics = issuer.get("/metrics");
    assert!(metrics
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(metrics
        .text()
        .contains("# TYPE tenantgate_issuer_token_theft_total counter"));
}

#[test]
fn sign_in_attempts_are_rate_limited_per_user() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_user_per_minute = 3;
    let issuer = Issuer::start(opts);
    let t = tenant_id("rl");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    for _ in 0..3 {
        assert_eq!(
            issuer.sign_in(&t, &user, "wrong password", "body").error(),
            "invalid_credentials"
        );
    }
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!((r.status, r.error().as_str()), (429, "rate_limited"));
    assert!(r
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    // Another account from the same address is not affected by this account's limit.
    let other = email();
    issuer.member(&t, &other, Some(PW), &[]);
    assert_eq!(issuer.sign_in(&t, &other, PW, "body").status, 200);
    assert!(issuer.get("/metrics").text().contains(&format!(
        "tenantgate_issuer_sign_in_total{{tenant=\"{t}\",result=\"rate_limited\"}} 1"
    )));
}

#[test]
fn sign_in_attempts_are_rate_limited_per_address() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.per_ip_per_minute = 2;
    let issuer = Issuer::start(opts);
    let t = tenant_id("rlip");
    issuer.tenant(&t, json!({}));
    for _ in 0..2 {
        assert_eq!(
            issuer.sign_in(&t, &email(), PW, "body").error(),
            "invalid_credentials"
        );
    }
    assert_eq!(
        issuer.sign_in(&t, &email(), PW, "body").error(),
        "rate_limited"
    );
}

#[test]
fn sealed_keys_in_the_database() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.sealed_keys = true;
    let mut issuer = Issuer::start(opts);
    assert!(
        !issuer.dir.path().join("keys").exists(),
        "no key files when keys are sealed"
    );
    let out = issuer.cli(
        &[
            "mint", "--tenant", "acme", "--sub", "svc", "--roles", "reader", "--ttl", "5m",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies");
    issuer.restart();
    pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies after restart");
}

#[test]
fn every_bad_input_gets_a_json_400_family_error() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("bad");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let sign_in = format!("/v1/tenants/{t}/sign-in");
    let refresh = format!("/v1/tenants/{t}/refresh");
    let sign_out = format!("/v1/tenants/{t}/sign-out");
    let json_ct = [("content-type", "application/json")];
    let big = vec![b'x'; 64 * 1024];

    // (method, path, headers, body, expected status, expected code)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<Vec<u8>>,
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(b"{".to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(b"[]".to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":1,"password":"x"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p","admin":true}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p","refresh_token_delivery":"pigeon"}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"not-an-email","password":"secret12"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":""}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "p".repeat(300)).into_bytes()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(vec![0xff, 0xfe, b'{']),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            None,
            400,
            "invalid_request",
        ),
        (
            "POST",
            &sign_in,
            vec![("content-type", "text/plain")],
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            &sign_in,
            json_ct.to_vec(),
            Some(big.clone()),
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/tenants/UPPER/sign-in",
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/v1/tenants/%ff%fe/sign-in",
            json_ct.to_vec(),
            Some(br#"{"email":"a@b.c","password":"p"}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":5}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":""}"#.to_vec()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &refresh,
            json_ct.to_vec(),
            Some(format!(r#"{{"refresh_token":"{}"}}"#, "t".repeat(300)).into_bytes()),
            400,
            "invalid_request",
        ),
        (
            "POST",
            &refresh,
            json_ct.to_vec(),
            Some(br#"{"refresh_token":"x","extra":1}"#.to_vec()),
            400,
            "invalid_json",
        ),
        (
            "POST",
            &sign_out,
            vec![("authorization", "Basic abc")],
            None,
            400,
            "invalid_request",
        ),
        ("GET", &sign_in, vec![], None, 405, "method_not_allowed"),
        ("GET", "/nope", vec![], None, 404, "not_found"),
    ];
    for (method, path, headers, body, status, code) in cases {
        let r = issuer.request(method, path, &headers, body.as_deref());
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{method} {path} {:?}: {}",
            body.as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(80)]).to_string()),
            r.text()
        );
        assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Admin API input.
    let admin_cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "Bad Id"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "access_ttl": "forever"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "access_ttl": "48h"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "refresh_idle": -5})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": "ok-id", "colour": "red"})),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/admin/tenants".into(),
            Some(json!({"id": t})),
            409,
            "conflict",
        ),
        (
            "POST",
            format!("/admin/tenants/{t}/users"),
            Some(json!({"email": "x@y.z", "password": "short"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            format!("/admin/tenants/{t}/users"),
            Some(json!({"email": "new@y.z"})),
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/tenants/missing/users".into(),
            Some(json!({"email": "x@y.z", "password": "long enough"})),
            404,
            "not_found",
        ),
        (
            "PUT",
            "/admin/roles/bad,role".into(),
            Some(json!({})),
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/admin/roles/ok".into(),
            Some(json!({"permissions": ["has space"]})),
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/admin/roles/ok".into(),
            Some(json!({"permissions": "a"})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            format!("/admin/tenants/{t}/users/{user}/roles/undefined-role"),
            None,
            404,
            "not_found",
        ),
        (
            "PUT",
            format!("/admin/tenants/{t}/users/not-an-email/roles/x"),
            None,
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/admin/users/nobody@x.io/revoke-sessions".into(),
            None,
            404,
            "not_found",
        ),
        ("GET", "/admin/sessions/none".into(), None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in admin_cases {
        let r = issuer.admin(method, &path, body.as_ref());
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{method} {path} {body:?}: {}",
            r.text()
        );
    }
    assert_eq!(
        issuer.get("/healthz").status,
        200,
        "still healthy after all that"
    );
    assert!(!issuer.stderr().contains("panicked"), "{}", issuer.stderr());
}

#[test]
fn cli_mint_tenants_users_roles_and_keys() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let run = |args: &[&str], stdin: Option<&str>| {
        let out = issuer.cli(args, stdin);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(
        &[
            "mint",
            "--tenant",
            "acme",
            "--sub",
            "alice",
            "--roles",
            "admin,billing",
            "--ttl",
            "10m",
        ],
        None,
    );
    assert!(ok, "{err}");
    let claims = pyjwt_verify(&issuer.url("/.well-known/jwks.json"), out.trim())
        .expect("minted token verifies");
    assert_eq!(
        (claims["tenantId"].as_str(), claims["sub"].as_str()),
        (Some("acme"), Some("alice"))
    );
    assert_eq!(claims["roles"], json!(["admin", "billing"]));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        600
    );
    assert!(
        issuer
            .audit()
            .iter()
            .any(|e| e["action"] == "mint" && e["sub"] == "alice"),
        "mint is audited"
    );

    let (ok, _, err) = run(
        &["mint", "--tenant", "acme", "--sub", "alice", "--ttl", "2h"],
        None,
    );
    assert!(!ok && err.contains("max_token_ttl"), "{err}");
    let (ok, _, err) = run(
        &[
            "mint", "--tenant", "acme", "--sub", "alice", "--ttl", "soon",
        ],
        None,
    );
    assert!(!ok && err.contains("--ttl"), "{err}");
    let (ok, _, err) = run(&["mint", "--tenant", "ACME", "--sub", "alice"], None);
    assert!(!ok && err.contains("tenant"), "{err}");

    let (ok, _, err) = run(&["tenant", "add", "cli-t", "--access-ttl", "5m"], None);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["tenant", "list", "--json"], None);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).expect("json list");
    assert!(list
        .as_array()
        .expect("array")
        .iter()
        .any(|t| t["id"] == "cli-t" && t["access_ttl"] == 300));
    assert!(
        run(
            &[
                "role",
                "define",
                "ops",
                "--permissions",
                "deploy:*,logs:read"
            ],
            None
        )
        .0
    );
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--tenant",
            "cli-t",
            "--email",
            "ops@x.io",
            "--password-stdin",
        ],
        Some("a long password\n"),
    );
    assert!(ok, "{err}");
    assert!(
        run(
            &["role", "grant", "--tenant", "cli-t", "--email", "ops@x.io", "--role", "ops"],
            None
        )
        .0
    );
    let r = issuer.sign_in("cli-t", "ops@x.io", "a long password", "body");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        payload(r.json()["access_token"].as_str().expect("t"))["roles"],
        json!(["ops"])
    );
    assert!(
        run(
            &["role", "revoke", "--tenant", "cli-t", "--email", "ops@x.io", "--role", "ops"],
            None
        )
        .0
    );
    let r = issuer.post_json(
        "/v1/tenants/cli-t/refresh",
        &json!({"refresh_token": r.json()["refresh_token"]}),
    );
    assert_eq!(
        payload(r.json()["access_token"].as_str().expect("t"))["roles"],
        json!([]),
        "revocation applies at the next refresh"
    );
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "role_revoke" && e["tenantId"] == "cli-t"));

    let (ok, out, _) = run(&["session", "revoke", "--email", "ops@x.io"], None);
    assert!(ok && out.contains("revoked 1 session"), "{out}");
    let (ok, out, _) = run(&["keys", "list"], None);
    assert!(ok && out.contains("current"), "{out}");
    let (ok, out, _) = run(&["keys", "rotate"], None);
    assert!(ok && out.contains("published key"), "{out}");
    assert!(run(&["tenant", "disable", "cli-t"], None).0);
    assert_eq!(
        issuer
            .sign_in("cli-t", "ops@x.io", "a long password", "body")
            .error(),
        "tenant_disabled"
    );

    // Every command explains itself.
    for cmd in [
        vec!["serve"],
        vec!["mint"],
        vec!["tenant", "add"],
        vec!["tenant", "list"],
        vec!["tenant", "disable"],
        vec!["user", "add"],
        vec!["role", "grant"],
        vec!["role", "revoke"],
        vec!["keys", "list"],
        vec!["keys", "rotate"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = std::process::Command::new(binary())
            .args(&args)
            .output()
            .expect("help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.lines().next().is_some_and(|l| l.len() > 10),
            "{cmd:?}: {text}"
        );
    }
}
