//! `operators`, `routes[].operators` and `headers.acting_operator`, each mistake at its path.

use serde_json::json;

use super::{assert_one_error, errors_of};
use crate::config::tests::{set, with, Tap};

fn operators(value: serde_json::Value) -> serde_json::Value {
    with("/operators", value)
}

#[test]
fn a_valid_operators_section_compiles() {
    let doc = operators(json!({"tenants": ["platform"], "role": "operator"}))
        .tap(|d| set(d, "/routes/0/operators", json!(true)));
    assert_eq!(errors_of(&doc), Vec::<(String, String)>::new());
    let doc = operators(json!({"providers": ["corp"], "role": "operator",
                               "max_lifetime_seconds": 300, "target_claim": "act_for"}));
    assert_eq!(errors_of(&doc), Vec::<(String, String)>::new());
}

#[test]
fn operators_checks() {
    let bound = json!({"name": "beta-idp", "issuer": "https://beta", "audiences": ["api"],
                       "tenant": "beta", "jwks": {"remote": {"cluster": "b", "uri": "https://b/j"}}});
    let cases = [
        (
            operators(json!({"role": "operator"})),
            "operators",
            "a role alone is not enough",
        ),
        (
            operators(json!({"providers": ["staff"], "role": "operator"})),
            "operators.providers[0]",
            "\"staff\" names no configured provider",
        ),
        (
            operators(json!({"providers": ["corp", "corp"], "role": "operator"})),
            "operators.providers[1]",
            "duplicate provider",
        ),
        (
            operators(json!({"tenants": ["Platform"], "role": "operator"})),
            "operators.tenants[0]",
            "not a tenant id",
        ),
        (
            operators(json!({"providers": ["beta-idp"], "tenants": ["platform"],
                             "role": "operator"}))
            .tap(|d| set(d, "/providers/1", bound.clone())),
            "operators.tenants[0]",
            "no operator provider can issue a token of tenant \"platform\"",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": ""})),
            "operators.role",
            "must be a role name",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "a,b"})),
            "operators.role",
            "must be a role name",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op",
                             "max_lifetime_seconds": 0})),
            "operators.max_lifetime_seconds",
            "between 1 and 86400 (got 0)",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op",
                             "target_claim": "tenantId"})),
            "operators.target_claim",
            "is the tenant claim of providers[0]",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op", "target_claim": "roles"})),
            "operators.target_claim",
            "is the roles_claim of providers[0]",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op", "target_claim": "sub"})),
            "operators.target_claim",
            "registered claim",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op", "target_claim": ""})),
            "operators.target_claim",
            "it is empty",
        ),
        (
            with("/routes/0/operators", json!(true)),
            "routes[0].operators",
            "no `operators` section",
        ),
        (
            operators(json!({"tenants": ["platform"], "role": "op"}))
                .tap(|d| set(d, "/routes/0/require", json!("public")))
                .tap(|d| set(d, "/routes/0/operators", json!(true))),
            "routes[0].operators",
            "a `public` or `deny` route",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn the_acting_operator_header_is_a_header_of_its_own() {
    let cases = [
        (
            with("/headers", json!({"acting_operator": "X-Op"})),
            "not a lower-case HTTP header name",
        ),
        (
            with("/headers", json!({"acting_operator": "cookie"})),
            "reserved header",
        ),
        (
            with("/headers", json!({"acting_operator": "x_user_id"})),
            "also headers.user",
        ),
        (
            with(
                "/headers",
                json!({"acting_operator": "x-plan",
                                    "claims": {"x-plan": "plan"}}),
            ),
            "also headers.claims.x-plan",
        ),
        (
            with("/headers", json!({"acting_operator": "x-tenant"}))
                .tap(|d| set(d, "/tenant_context", json!({"header": "x-tenant"}))),
            "also tenant_context.header",
        ),
        (
            with("/headers", json!({"acting_operator": "x-token"})).tap(|d| {
                set(
                    d,
                    "/providers/0/token_sources",
                    json!([{"type": "header", "name": "x-token"}]),
                )
            }),
            "also providers[0].token_sources[0]",
        ),
    ];
    for (doc, needle) in cases {
        assert_one_error(doc, "headers.acting_operator", needle);
    }
}
