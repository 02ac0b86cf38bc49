//! `tenantgate explain` on providers of real IdPs: issuer templates (`{tenant}`, Entra and
//! Keycloak realms), audience claims other than `aud`, and the per-key `issuer` of a shared
//! JWKS (Entra's `{tenantid}`).

mod support;

use std::io::Write;

use serde_json::{json, Value};
use tenantgate_testkit::keys::{self, TestKey};

use support::explain_with;

const APP: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn entra() -> String {
    json!({
        "providers": [{
            "name": "entra",
            "issuer": "https://login.microsoftonline.com/{tenant}/v2.0",
            "audiences": [APP],
            "tenant_claim": "tid",
            "tenant_map": {CONTOSO: "contoso", FABRIKAM: "fabrikam"},
            "subject_claim": "oid",
            "jwks": {"remote": {"cluster": "entra",
                                "uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys"}}
        }],
        "tenants": {"contoso": {}, "fabrikam": {}},
        "host_templates": ["{tenant}.app.example.com"],
        "default_requirement": "authenticated"
    })
    .to_string()
}

fn keycloak() -> String {
    json!({
        "providers": [{
            "name": "keycloak",
            "issuer": "https://kc.example.com/realms/{tenant}",
            "audiences": ["orders-api"],
            "audience_claim": "azp",
            "roles_claim": ["/realm_access/roles"],
            "jwks": {"remote": {"cluster": "kc", "uri": "https://kc.example.com/realms/acme/certs"}}
        }],
        "tenants": {"acme": {}, "globex": {}},
        "host_templates": ["{tenant}.app.example.com"],
        "default_requirement": "authenticated"
    })
    .to_string()
}

/// `explain --json --claims`: exit code and the report.
fn claims(config: &str, host: &str, claims: Value) -> (i32, Value) {
    let (code, out) = explain_with(
        config,
        &[
            "--host",
            host,
            "--path",
            "/x",
            "--json",
            "--claims",
            &claims.to_string(),
        ],
    );
    let report = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, report)
}

#[test]
fn an_issuer_template_takes_the_tenant_claim_for_the_filled_in_iss() {
    let (code, report) = claims(
        &entra(),
        "contoso.app.example.com",
        json!({"tid": CONTOSO, "oid": "o-1"}),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["detail"], "tenant=contoso user=o-1 roles=");
    // fabrikam's host, contoso's token.
    let (code, report) = claims(
        &entra(),
        "fabrikam.app.example.com",
        json!({"tid": CONTOSO, "oid": "o-1"}),
    );
    assert_eq!((code, &report["code"]), (3, &json!("tenant_mismatch")));
}

#[test]
fn a_given_iss_under_a_template_is_checked_as_the_filter_checks_it() {
    let iss = |tid: &str| format!("https://login.microsoftonline.com/{tid}/v2.0");
    let host = "contoso.app.example.com";
    let (code, report) = claims(
        &entra(),
        host,
        json!({"iss": iss(CONTOSO), "tid": CONTOSO, "oid": "o-1"}),
    );
    assert_eq!(code, 0, "{report}");
    let refused = |claims_: Value| claims(&entra(), host, claims_).1["code"].clone();
    // `iss` and `tid` name two tenants.
    assert_eq!(
        refused(json!({"iss": iss(FABRIKAM), "tid": CONTOSO, "oid": "o-1"})),
        "claim_invalid"
    );
    // The template itself names no tenant and is no exact issuer.
    assert_eq!(
        refused(json!({"iss": iss("{tenant}"), "tid": CONTOSO, "oid": "o-1"})),
        "issuer_not_trusted"
    );
    // Entra reads `tid`: without it the token names no tenant, whatever `iss` says.
    assert_eq!(
        refused(json!({"iss": iss(CONTOSO), "oid": "o-1"})),
        "tenant_missing"
    );
}

#[test]
fn a_template_without_a_tenant_claim_takes_the_request_tenant() {
    // Keycloak: the realm is the tenant; `azp` (the audience claim) is filled in as `aud` is.
    let (code, report) = claims(
        &keycloak(),
        "acme.app.example.com",
        json!({"sub": "u-1", "realm_access": {"roles": ["admin"]}}),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["detail"], "tenant=acme user=u-1 roles=admin");
    let (_, report) = claims(
        &keycloak(),
        "acme.app.example.com",
        json!({"sub": "u-1", "azp": "admin-console"}),
    );
    assert_eq!(report["code"], "audience_mismatch");
}

#[test]
fn a_template_tenant_that_cannot_be_told_is_a_usage_error() {
    // The host names a tenant the Entra provider's tenant_map does not list, and no `tid`.
    let (code, out) = explain_with(
        &entra(),
        &[
            "--host",
            "initech.app.example.com",
            "--path",
            "/x",
            "--claims",
            r#"{"oid": "o-1"}"#,
        ],
    );
    assert_eq!(code, 2, "{out}");
}

/// `explain --token --jwks`: the per-key `issuer` of a shared JWKS is honoured.
#[test]
fn the_per_key_issuer_of_a_shared_jwks_is_checked() {
    let key = TestKey::a("entra-key");
    let now = keys::now();
    let token = key.sign(&json!({
        "iss": format!("https://login.microsoftonline.com/{CONTOSO}/v2.0"), "aud": APP,
        "tid": CONTOSO, "oid": "o-1", "sub": "pairwise", "iat": now - 10, "exp": now + 600,
        "ver": "2.0"
    }));
    let run = |key_issuer: &str| {
        let mut jwk = key.jwk();
        jwk["issuer"] = json!(key_issuer);
        let mut jwks = tempfile::NamedTempFile::new().expect("temp file");
        jwks.write_all(json!({"keys": [jwk]}).to_string().as_bytes())
            .expect("writes");
        let path = jwks.path().to_string_lossy().into_owned();
        let (code, out) = explain_with(
            &entra(),
            &[
                "--host",
                "contoso.app.example.com",
                "--path",
                "/x",
                "--json",
                "--token",
                &token,
                "--jwks",
                &path,
            ],
        );
        let report: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        (code, report)
    };
    let (code, report) = run("https://login.microsoftonline.com/{tenantid}/v2.0");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["detail"], "tenant=contoso user=o-1 roles=");
    // The same key published for another authority (an Azure AD B2C tenant) verifies nothing
    // of login.microsoftonline.com.
    let (code, report) = run("https://contoso.b2clogin.com/{tenantid}/v2.0/");
    assert_eq!((code, &report["code"]), (3, &json!("key_not_found")));
}
