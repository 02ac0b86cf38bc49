//! `tenantgate explain` shows which tenant sources (host, path templates, header) named which
//! tenant, and refuses as the filter does when they disagree or a required one is missing.

mod support;

const CONFIG: &str = r#"{
  "providers": [{"name": "shared", "issuer": "https://issuer.example.com", "audiences": ["api"],
                 "jwks": {"remote": {"cluster": "issuer", "uri": "https://issuer.example.com/jwks"}}}],
  "tenants": {"acme": {"hosts": ["acme.example.com"]}, "globex": {}},
  "shared_hosts": ["api.example.com"],
  "tenant_context": {"paths": ["/tenants/{tenant}/**"], "header": "x-tenant"},
  "routes": [
    {"name": "orgs", "path": {"prefix": "/orgs"}, "require": "authenticated",
     "tenant_context": {"header": "x-tenant", "required": ["header"]}}
  ],
  "default_requirement": "authenticated"
}"#;

fn explain(args: &[&str]) -> (i32, String) {
    support::explain_with(CONFIG, args)
}

const ACME: &str = r#"{"tenantId":"acme","sub":"alice"}"#;

#[test]
fn agreeing_sources_are_listed() {
    let (code, out) = explain(&[
        "--host",
        "acme.example.com",
        "--path",
        "/tenants/acme/invoices",
        "--header",
        "X-Tenant: acme",
        "--claims",
        ACME,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(r#"tenants:  host="acme" path[0]="acme" header="acme""#),
        "{out}"
    );
}

#[test]
fn a_path_naming_another_tenant_is_refused_and_shown() {
    let (code, out) = explain(&[
        "--host",
        "acme.example.com",
        "--path",
        "/tenants/globex/invoices",
        "--json",
        "--claims",
        ACME,
    ]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["code"], "tenant_mismatch");
    assert_eq!(
        v["tenant_sources"],
        serde_json::json!({
            "shared_host": false,
            "named": [
                {"source": "host", "template": null, "tenant": "acme"},
                {"source": "path", "template": 0, "tenant": "globex"}
            ],
            "required": []
        })
    );
}

#[test]
fn a_required_header_missing_on_a_shared_host() {
    let (code, out) = explain(&[
        "--host",
        "api.example.com",
        "--path",
        "/orgs/x",
        "--claims",
        ACME,
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("decision: deny 400 tenant_context_missing"),
        "{out}"
    );
    assert!(
        out.contains("tenants:  none named (shared host) (required: header)"),
        "{out}"
    );
    let (code, out) = explain(&[
        "--host",
        "api.example.com",
        "--path",
        "/orgs/x",
        "--header",
        "x-tenant:acme",
        "--claims",
        ACME,
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, _) = explain(&[
        "--host",
        "api.example.com",
        "--path",
        "/x",
        "--header",
        "nocolon",
    ]);
    assert_eq!(code, 2);
}
