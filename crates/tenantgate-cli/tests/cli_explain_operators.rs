//! `tenantgate explain` shows when a request is decided as an operator's acting on a tenant,
//! and refuses operators as the filter does.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

const CONFIG: &str = r#"{
  "providers": [{"name": "shared", "issuer": "https://issuer.example.com", "audiences": ["api"],
                 "jwks": {"remote": {"cluster": "issuer", "uri": "https://issuer.example.com/jwks"}}}],
  "tenants": {"acme": {"hosts": ["acme.example.com"]}, "platform": {}},
  "routes": [
    {"name": "support", "path": {"prefix": "/support"}, "require": "authenticated",
     "operators": true}
  ],
  "default_requirement": "authenticated",
  "operators": {"tenants": ["platform"], "role": "operator"}
}"#;

fn explain(args: &[&str]) -> (i32, String) {
    support::explain_with(CONFIG, args)
}

/// A platform operator's claims acting on acme, living `ttl` seconds from now.
fn operator(ttl: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    serde_json::json!({"tenantId": "platform", "sub": "ops-1", "roles": ["operator"],
                       "target_tenant": "acme", "iat": now, "exp": now + ttl})
    .to_string()
}

#[test]
fn an_operators_request_is_shown_as_such() {
    let claims = operator(300);
    let args = [
        "--host",
        "acme.example.com",
        "--path",
        "/support/1",
        "--claims",
        &claims,
    ];
    let (code, out) = explain(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tenant=acme user=ops-1"), "{out}");
    assert!(
        out.contains("operator: ops-1 acting on tenant acme"),
        "{out}"
    );

    let json_args = [&args[..], &["--json"]].concat();
    let (_, out) = explain(&json_args);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["operator"]["subject"], "ops-1");
    assert_eq!(v["operator"]["target_tenant"], "acme");
}

#[test]
fn operators_are_refused_with_their_codes() {
    let claims = operator(300);
    let (code, out) = explain(&[
        "--host",
        "acme.example.com",
        "--path",
        "/billing",
        "--claims",
        &claims,
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("deny 403 operator_route_denied"), "{out}");
    assert!(!out.contains("operator:"), "{out}");

    let long = operator(3600);
    let (_, out) = explain(&[
        "--host",
        "acme.example.com",
        "--path",
        "/support",
        "--claims",
        &long,
    ]);
    assert!(out.contains("deny 401 operator_lifetime_exceeded"), "{out}");
}
