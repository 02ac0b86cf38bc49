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
