//! Per-tenant login methods: set through the admin API and the CLI, audited with before and
//! after, the SSO client secret sealed at rest and never shown, and a password sign-in refused
//! when the tenant has passwords off.

use super::*;

on_both_backends!(login_methods_are_set_audited_and_enforced);

const SECRET: &str = "client-secret-never-shown-0123456789";

fn sso(issuer: &str, client: &str, secret: Option<&str>) -> Value {
    let mut v = json!({"issuer": issuer, "client_id": client, "default_roles": ["viewer"]});
    if let Some(s) = secret {
        v["client_secret"] = s.into();
    }
    json!({ "sso": v })
}

fn patch(issuer: &Issuer, tenant: &str, body: &Value) -> Resp {
    issuer.admin(
        "PATCH",
        &format!("/admin/tenants/{tenant}/login-methods"),
        Some(body),
    )
}

fn login_methods_are_set_audited_and_enforced(backend: Backend) {
    let mut opts = Options::new(backend);
    opts.sealed_keys = true;
    let issuer = Issuer::start(opts);
    let (a, b) = (tenant_id("a"), tenant_id("b"));
    issuer.tenant(&a, json!({}));
    issuer.tenant(&b, json!({}));
    issuer.role("viewer");
    let user = email();
    issuer.member(&a, &user, Some(PW), &[]);

    // The defaults: what every tenant had before login methods existed.
    let r = issuer.admin("GET", &format!("/admin/tenants/{a}/login-methods"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"tenant": a, "password": true, "totp": "off", "totp_required_roles": [], "sso": null})
    );

    // SSO on, then passwords off: the secret is write-only.
    let r = patch(
        &issuer,
        &a,
        &sso("https://idp.acme.example", "gate", Some(SECRET)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sso"]["client_secret"], "sealed");
    assert_eq!(r.json()["sso"]["default_roles"], json!(["viewer"]));
    assert!(!r.text().contains(SECRET));
    let r = patch(&issuer, &a, &json!({"password": false}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["password"], false);
    assert_eq!(r.json()["sso"]["issuer"], "https://idp.acme.example");

    let r = issuer.sign_in(&a, &user, PW, "body");
    assert_eq!(
        (r.status, r.error().as_str()),
        (403, "login_method_disabled")
    );
    assert!(r.json()["message"]
        .as_str()
        .expect("message")
        .contains("single sign-on"));

    audited_without_the_secret(&issuer, &a);

    // One SSO client serves one tenant.
    let r = patch(
        &issuer,
        &b,
        &sso("https://idp.acme.example", "gate", Some("other")),
    );
    assert_eq!(
        (r.status, r.error().as_str()),
        (409, "conflict"),
        "{}",
        r.text()
    );
    assert!(r.json()["message"].as_str().expect("m").contains(&a));

    changed_through_the_cli(&issuer, &a, &user);
}

fn changed_through_the_cli(issuer: &Issuer, a: &str, user: &str) {
    // Passwords back on through the CLI; TOTP optional, required for a role.
    issuer.role("admin");
    let out = issuer.cli(
        &[
            "tenant",
            "logins",
            a,
            "--password",
            "on",
            "--totp",
            "optional",
            "--totp-required-roles",
            "admin",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["totp"], "optional");
    assert_eq!(shown["totp_required_roles"], json!(["admin"]));
    assert_eq!(issuer.sign_in(a, user, PW, "body").status, 200);
}

/// The two changes above, audited with actor, tenant, before and after; the refused sign-in
/// too; the secret nowhere.
fn audited_without_the_secret(issuer: &Issuer, a: &str) {
    let audit = issuer.audit();
    let changes: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "tenant_login_methods_set")
        .collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["actor"], "admin");
    assert_eq!(changes[0]["tenantId"], a);
    assert_eq!(changes[0]["before"]["sso"], Value::Null);
    assert_eq!(changes[0]["after"]["sso"]["client_id"], "gate");
    assert_eq!(changes[0]["client_secret_changed"], true);
    assert_eq!(changes[1]["before"]["password"], true);
    assert_eq!(changes[1]["after"]["password"], false);
    let refused = audit
        .iter()
        .find(|e| e["action"] == "sign_in_failure")
        .expect("failure audited");
    assert_eq!(refused["reason"], "password_disabled");
    let log = std::fs::read_to_string(&issuer.audit_path).expect("audit log");
    assert!(!log.contains(SECRET), "the secret is never logged");
}

#[test]
fn login_method_mistakes_are_refused_naming_the_member() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("m");
    issuer.tenant(&t, json!({}));
    let cases = [
        // Keys kept as files: there is no key to seal a client secret with.
        (
            sso("https://idp.example.com", "c", Some(SECRET)),
            "sso.client_secret:",
        ),
        (json!({"password": false}), "password:"),
        (
            json!({"totp": "optional", "totp_required_roles": ["nope"]}),
            "totp_required_roles:",
        ),
        (json!({"totp": "sometimes"}), ""),
        (sso("http://idp.example.com", "c", Some("s")), "sso.issuer:"),
        (
            json!({"sso": {"issuer": "https://x.example", "client_id": "c", "secret": "s"}}),
            "",
        ),
    ];
    for (body, field) in cases {
        let r = patch(&issuer, &t, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let message = r.json()["message"].as_str().expect("message").to_string();
        assert!(message.contains(field), "{body}: {message}");
    }
    let r = patch(&issuer, "no-such-tenant", &json!({"totp": "off"}));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        !issuer
            .audit()
            .iter()
            .any(|e| e["action"] == "tenant_login_methods_set"),
        "nothing refused is audited as a change"
    );
}

#[test]
fn the_client_secret_is_read_from_stdin_and_sealed_at_rest() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.sealed_keys = true;
    let issuer = Issuer::start(opts);
    let t = tenant_id("s");
    issuer.tenant(&t, json!({}));
    let out = issuer.cli(
        &[
            "tenant",
            "logins",
            &t,
            "--sso-issuer",
            "https://idp.example.com",
            "--sso-client-id",
            "gate",
            "--sso-client-secret-stdin",
        ],
        Some(&format!("{SECRET}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    let db = std::fs::read(issuer.dir.path().join("state/issuer.db")).expect("db");
    let wal = std::fs::read(issuer.dir.path().join("state/issuer.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the client secret is not stored in clear"
        );
    }
    let out = issuer.cli(&["tenant", "logins", &t], None);
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["sso"]["client_secret"], "sealed");
}
