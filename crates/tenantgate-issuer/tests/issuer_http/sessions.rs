//! Refresh and sign-out: rotation, theft detection, body delivery, idle and absolute timeouts.

use super::*;

on_both_backends!(
    refresh_rotates_and_reuse_revokes_the_family,
    body_delivery_refresh_and_sign_out,
    idle_and_absolute_timeouts,
    a_lost_refresh_answer_is_not_theft,
);

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

fn refresh_body(issuer: &Issuer, t: &str, token: &str) -> Resp {
    issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": token}),
    )
}

/// The refresh token of a successful answer.
fn next_token(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string()
}

/// A client retries its refresh with the consumed token (the first answer was lost) on `retry`,
/// uses the successor on `retry` too, then an old token comes back on `first`.
fn lost_answer_then_theft(first: &Issuer, retry: &Issuer, t: &str, user: &str) {
    let rt0 = next_token(&first.sign_in(t, user, PW, "body"));
    let rt1 = next_token(&refresh_body(first, t, &rt0)); // this answer is "lost"
    let again = refresh_body(retry, t, &rt0);
    assert_eq!(next_token(&again), rt1, "the same successor, not theft");
    pyjwt_verify(
        &retry.url("/.well-known/jwks.json"),
        again.json()["access_token"].as_str().expect("token"),
    )
    .expect("a fresh access token");
    assert_eq!(next_token(&refresh_body(retry, t, &rt0)), rt1, "and again");
    // The successor is used: from now on the consumed token is theft, as before.
    let rt2 = next_token(&refresh_body(retry, t, &rt1));
    let r = refresh_body(first, t, &rt0);
    assert_eq!(
        (r.status, r.error().as_str()),
        (401, "token_theft_detected")
    );
    let r = refresh_body(retry, t, &rt2);
    assert_eq!((r.status, r.error().as_str()), (401, "session_revoked"));
}

fn a_lost_refresh_answer_is_not_theft(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("lost");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    lost_answer_then_theft(&issuer, &issuer, &t, &user);
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "refresh" && e["resent"] == true));

    // The cookie path: the retry gets the same cookie back.
    let r = issuer.sign_in(&t, &user, PW, "cookie");
    let csrf = r.json()["csrf_token"].as_str().expect("csrf").to_string();
    let first = format!("tg_refresh={}", r.cookie("tg_refresh").expect("cookie"));
    let path = format!("/v1/tenants/{t}/refresh");
    let a = issuer.request("POST", &path, &csrf_headers(&first, &csrf), None);
    let b = issuer.request("POST", &path, &csrf_headers(&first, &csrf), None);
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(a.cookie("tg_refresh"), b.cookie("tg_refresh"));
}

#[test]
fn a_lost_refresh_answer_retried_on_another_replica() {
    let Some(backend) = backend("postgres") else {
        return;
    };
    let a = Issuer::start(Options::new(backend));
    let b = a.replica();
    let t = tenant_id("lostrepl");
    a.tenant(&t, json!({}));
    let user = email();
    a.member(&t, &user, Some(PW), &[]);
    lost_answer_then_theft(&a, &b, &t, &user);
}
