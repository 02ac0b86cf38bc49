//! `tenantgate explain` runs the filter's own decision on one request and reports it with an
//! exit code a script can use.

use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../envoy/tenantgate.json");

fn explain(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .args(["explain", "--config", CONFIG])
        .args(args)
        .output()
        .expect("runs tenantgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_missing_role_is_refused_with_the_rule_that_decided() {
    let (code, out) = explain(&[
        "--host",
        "acme.demo.local",
        "--path",
        "/api/admin/users",
        "--claims",
        r#"{"tenantId":"acme","sub":"bob","roles":["member"]}"#,
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("decision: deny 403 role_required"), "{out}");
    assert!(
        out.contains(r#"rule:     #2 "admin" requires roles any_of [admin]"#),
        "{out}"
    );
}

#[test]
fn allowed_requests_exit_zero_and_report_the_identity_as_json() {
    let (code, out) = explain(&[
        "--host",
        "ACME.demo.local:8080",
        "--path",
        "/public/../api/admin/x",
        "--json",
        "--claims",
        r#"{"tenantId":"acme","sub":"alice","roles":["admin"]}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["rule_name"], "admin");
    assert_eq!(v["path"], "/api/admin/x");
    assert_eq!(v["detail"], "tenant=acme user=alice roles=admin");
}

#[test]
fn cross_tenant_claims_are_refused() {
    let (code, out) = explain(&[
        "--host",
        "globex.demo.local",
        "--path",
        "/api/x",
        "--json",
        "--claims",
        r#"{"tenantId":"acme","sub":"alice","roles":[]}"#,
    ]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["code"], "tenant_mismatch");
    assert_eq!(v["status"], 403);
}

#[test]
fn a_token_of_a_remote_provider_needs_its_keys() {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        part(serde_json::json!({"alg": "RS256", "kid": "k1"})),
        part(
            serde_json::json!({"iss": "http://issuer.demo.local", "sub": "a", "exp": 4102444800u64})
        ),
        URL_SAFE_NO_PAD.encode([7u8; 256]),
    );
    let (code, out) = explain(&[
        "--host",
        "acme.demo.local",
        "--path",
        "/api/x",
        "--token",
        &token,
    ]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("pass --jwks"), "{out}");
}

#[test]
fn usage_errors_exit_two() {
    let (code, _) = explain(&[
        "--host",
        "acme.demo.local",
        "--path",
        "/x",
        "--claims",
        "[1]",
    ]);
    assert_eq!(code, 2);
}

/// `explain` on a configuration of permissions, scopes and claim conditions.
fn explain_requirements(args: &[&str]) -> (i32, String) {
    let config = serde_json::json!({
        "providers": [{"name": "p", "issuer": "https://issuer.example.com", "audiences": ["api"],
                       "permissions_claim": "permissions",
                       "jwks": {"remote": {"cluster": "c", "uri": "https://issuer.example.com/jwks"}}}],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}},
        "role_permissions": {"billing-admin": ["write:billing"]},
        "routes": [{"name": "sso", "path": {"prefix": "/sso"}, "require": {
            "permissions": {"any_of": ["write:billing"]},
            "scopes": {"all_of": ["admin"]},
            "claims": [{"claim": "plan", "one_of": ["pro"]}, {"claim": "/org/amr", "contains": "mfa"}]
        }}]
    });
    let path = std::env::temp_dir().join(format!("tenantgate-explain-{}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).expect("writes the config");
    let out = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .args(["explain", "--config"])
        .arg(&path)
        .args(["--host", "acme.example.com", "--path", "/sso/x"])
        .args(args)
        .output()
        .expect("runs tenantgate");
    std::fs::remove_file(&path).expect("removes the config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn explain_names_the_requirement_part_that_decided() {
    let (code, out) = explain_requirements(&[
        "--claims",
        r#"{"tenantId":"acme","sub":"a","roles":["billing-admin"],"scope":"admin","plan":"pro","org":{"amr":["pwd"]}}"#,
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("decision: deny 403 claim_condition_unmet"),
        "{out}"
    );
    assert!(
        out.contains(r#"decided:  require.claims[1]: claim /org/amr contains "mfa""#),
        "{out}"
    );
    assert!(
        out.contains(r#"requires permissions any_of [write:billing] and scopes all_of [admin] and claim plan one_of ["pro"]"#),
        "{out}"
    );
    let (code, out) = explain_requirements(&[
        "--json",
        "--claims",
        r#"{"tenantId":"acme","sub":"a","roles":[],"permissions":["read:billing"]}"#,
    ]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["code"], "permission_required");
    assert_eq!(v["requirement"], "require.permissions");
    let (code, out) = explain_requirements(&[
        "--json",
        "--claims",
        r#"{"tenantId":"acme","sub":"a","roles":["billing-admin"],"scp":["admin"],"plan":"pro","org":{"amr":["mfa"]}}"#,
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["requirement"], serde_json::Value::Null);
}
