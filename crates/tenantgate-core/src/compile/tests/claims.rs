//! Claim paths, audience claims, tenant maps and issuer templates: each error at its path.

use serde_json::json;

use super::{assert_one_error, errors_of};
use crate::config::tests::{base, set, with};

#[test]
fn claim_path_checks() {
    let cases = [
        (
            with("/providers/0/roles_claim", json!([])),
            "providers[0].roles_claim",
            "an empty list",
        ),
        (
            with(
                "/providers/0/roles_claim",
                json!(["/realm_access/roles", "/a~2"]),
            ),
            "providers[0].roles_claim[1]",
            "not a JSON Pointer",
        ),
        (
            with("/providers/0/subject_claim", json!("/")),
            "providers[0].subject_claim",
            "name a claim",
        ),
        (
            with("/providers/0/audience_claim", json!("")),
            "providers[0].audience_claim",
            "must not be empty",
        ),
        (
            with("/providers/0/tenant_claim", json!("/firebase/~tenant")),
            "providers[0].tenant_claim",
            "not a JSON Pointer",
        ),
        (
            with("/providers/0/scopes_claim", json!([])),
            "providers[0].scopes_claim",
            "an empty list",
        ),
        (
            with("/providers/0/tenant_map", json!({})),
            "providers[0].tenant_map",
            "an empty map refuses every token",
        ),
        (
            with(
                "/providers/0/tenant_map",
                json!({"org_9ybsU1dN2dKfDkBi": "Acme"}),
            ),
            "providers[0].tenant_map.org_9ybsU1dN2dKfDkBi",
            "\"Acme\" is not a valid tenant id",
        ),
        (
            with(
                "/providers/0/issuer",
                json!("https://login.example.com/{tenant}/{tenant}"),
            ),
            "providers[0].issuer",
            "more than once",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn bound_providers_read_no_tenant_value() {
    let mut doc = with("/providers/0/tenant", json!("acme"));
    set(&mut doc, "/providers/0/tenant_map", json!({"x": "acme"}));
    assert_one_error(doc, "providers[0].tenant_map", "bound to one tenant");
    let mut doc = with("/providers/0/tenant", json!("acme"));
    set(
        &mut doc,
        "/providers/0/issuer",
        json!("https://login.example.com/{tenant}/v2.0"),
    );
    assert_one_error(doc, "providers[0].issuer", "cannot be bound");
}

#[test]
fn an_exact_issuer_a_template_also_matches_is_refused() {
    let mut doc = base();
    set(
        &mut doc,
        "/providers/0/issuer",
        json!("https://login.example.com/{tenant}/v2.0"),
    );
    let mut second = doc["providers"][0].clone();
    second["name"] = json!("exact");
    second["issuer"] = json!("https://login.example.com/contoso/v2.0");
    set(&mut doc, "/providers/1", second);
    assert_one_error(
        doc.clone(),
        "providers[1].issuer",
        "also matches the issuer template of providers[0]",
    );
    doc["providers"][1]["issuer"] = json!("https://other.example.com/contoso/v2.0");
    assert_eq!(errors_of(&doc), vec![]);
}

#[test]
fn wrong_shapes_are_refused_at_their_path() {
    let doc = with("/providers/0/roles_claim", json!(7));
    let errors = errors_of(&doc);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "providers[0].roles_claim");
    assert!(errors[0].1.contains("a claim path"), "{errors:?}");
    let text = br#"{"providers": [{"name": "corp", "issuer": "https://i", "audiences": ["api"],
        "tenant_map": {"a": "x", "a": "y"},
        "jwks": {"remote": {"cluster": "i", "uri": "https://i/jwks"}}}]}"#;
    let err = crate::config::parse(text).expect_err("duplicate key");
    assert!(
        err.to_string().contains("duplicate token value \"a\""),
        "{err}"
    );
}
