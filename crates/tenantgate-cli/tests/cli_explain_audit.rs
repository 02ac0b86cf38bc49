//! `tenantgate explain` shows the headers an allowed request carries upstream, and in audit
//! mode that a refusal is not enforced (exit 0) unless it is one audit mode never relaxes.

mod support;

const CONFIG: &str = r#"{
  "providers": [{"name": "shared", "issuer": "https://issuer.example.com", "audiences": ["api"],
                 "jwks": {"remote": {"cluster": "issuer", "uri": "https://issuer.example.com/jwks"}}}],
  "tenants": {"acme": {"hosts": ["acme.example.com"]}},
  "headers": {"claims": {"x-plan": "plan"}, "would_deny": "x-dry-run"},
  "routes": [
    {"name": "billing", "path": {"prefix": "/billing"}, "audit": true,
     "require": {"roles": {"any_of": ["billing-admin"]}}},
    {"name": "admin", "path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}}
  ],
  "default_requirement": "authenticated"
}"#;

fn explain(args: &[&str]) -> (i32, String) {
    let args: Vec<&str> = ["--host", "acme.example.com"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    support::explain_with(CONFIG, &args)
}

const ALICE: &str = r#"{"tenantId":"acme","sub":"alice","roles":["admin"],"plan":"pro"}"#;

#[test]
fn an_allowed_request_shows_its_identity_and_claim_headers() {
    let (code, out) = explain(&["--path", "/admin/x", "--claims", ALICE]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "upstream: x-tenant-id: acme; x-user-id: alice; x-user-roles: admin; x-plan: pro"
        ),
        "{out}"
    );
    assert!(!out.contains("audit:"), "{out}");
    let (_, out) = explain(&["--path", "/admin/x", "--claims", ALICE, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["upstream_headers"]["x-plan"], "pro");
    assert_eq!(v["upstream_headers"]["x-tenant-id"], "acme");
    assert_eq!(v["audit"], false);
    assert_eq!(v["enforced"], serde_json::Value::Null);
}

#[test]
fn a_refusal_in_audit_mode_is_shown_as_not_enforced() {
    let (code, out) = explain(&["--path", "/billing/x", "--claims", ALICE]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("decision: deny 403 role_required (audit: not enforced)"),
        "{out}"
    );
    assert!(out.contains("audit:    not enforced"), "{out}");
    assert!(out.contains("upstream: x-dry-run: role_required"), "{out}");
    let (code, out) = explain(&["--path", "/billing/x", "--claims", ALICE, "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["code"], "role_required");
    assert_eq!(v["audit"], true);
    assert_eq!(v["enforced"], false);
    assert_eq!(
        v["upstream_headers"],
        serde_json::json!({"x-dry-run": "role_required"})
    );
}

#[test]
fn refusals_outside_audit_mode_or_never_relaxed_are_enforced() {
    let bob = r#"{"tenantId":"acme","sub":"bob","roles":[]}"#;
    let (code, out) = explain(&["--path", "/admin/x", "--claims", bob]);
    assert_eq!(code, 3, "{out}");
    assert!(!out.contains("upstream:"), "{out}");
    let (code, out) = explain(&["--path", "/billing;x=1", "--claims", bob]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("decision: deny 400 path_invalid\n"), "{out}");
    // Two credentials on a route in audit mode.
    let (code, out) = explain(&[
        "--path",
        "/billing/x",
        "--token",
        "a.b.c",
        "--header",
        "authorization: Bearer d.e.f",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("decision: deny 400 token_multiple\n"), "{out}");
    assert!(out.contains("audit:    enforced all the same"), "{out}");
}
