//! The admin API acting on live sessions: revoking a user's sessions, disabling a tenant.

use super::*;

on_both_backends!(
    admin_revokes_every_session_of_a_user,
    disabled_tenant_cannot_sign_in_or_refresh,
);

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
