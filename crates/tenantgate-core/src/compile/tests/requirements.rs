//! Permissions, scopes, claim conditions, the role catalog and the providers' permissions claim.

use serde_json::{json, Value};

use super::{assert_one_error, errors_of};
use crate::config::tests::{set, with};

/// The base document with a catalog (so that permission rules have a source) and this
/// requirement on routes[1].
fn requiring(require: Value) -> Value {
    let mut doc = with("/role_permissions", json!({"admin": ["write:*"]}));
    set(
        &mut doc,
        "/routes/1",
        json!({"path": {"prefix": "/x"}, "require": require}),
    );
    doc
}

#[test]
fn requirement_checks() {
    let cases = [
        (
            requiring(json!({"permissions": {}})),
            "routes[1].require.permissions",
            "name at least one permission in `any_of` or `all_of`",
        ),
        (
            requiring(json!({"permissions": {"any_of": []}})),
            "routes[1].require.permissions.any_of",
            "an empty list: name at least one permission, or omit `any_of`",
        ),
        (
            requiring(json!({"permissions": {"all_of": ["write:*"]}})),
            "routes[1].require.permissions.all_of[0]",
            "names the exact permission it needs",
        ),
        (
            requiring(json!({"permissions": {"any_of": ["write billing"]}})),
            "routes[1].require.permissions.any_of[0]",
            "printable ASCII without spaces",
        ),
        (
            requiring(json!({"scopes": {"all_of": []}})),
            "routes[1].require.scopes.all_of",
            "name at least one scope",
        ),
        (
            requiring(json!({"scopes": {"any_of": ["a\"b"]}})),
            "routes[1].require.scopes.any_of[0]",
            "not an OAuth scope",
        ),
        (
            requiring(json!({"claims": []})),
            "routes[1].require.claims",
            "give at least one condition",
        ),
        (
            requiring(json!({"claims": [{"claim": "plan", "one_of": []}]})),
            "routes[1].require.claims[0].one_of",
            "a condition without values",
        ),
        (
            requiring(json!({"claims": [{"claim": "plan", "one_of": ["pro", 1.5]}]})),
            "routes[1].require.claims[0].one_of[1]",
            "1.5 is not a string, an integer or a boolean",
        ),
        (
            requiring(json!({"claims": [{"claim": "features", "contains": ["sso"]}]})),
            "routes[1].require.claims[0].contains",
            "not a string, an integer or a boolean",
        ),
        (
            requiring(json!({"claims": [{"claim": "", "contains": "sso"}]})),
            "routes[1].require.claims[0].claim",
            "must not be empty",
        ),
        (
            requiring(json!({"claims": [{"claim": "/org/~2", "contains": "sso"}]})),
            "routes[1].require.claims[0].claim",
            "not a JSON Pointer",
        ),
        (
            requiring(json!({"roles": {"any_of": []}, "scopes": {"any_of": ["a"]}})),
            "routes[1].require.roles",
            "at least one role",
        ),
        (
            with("/role_permissions", json!({"admin": ["write:*:x"]})),
            "role_permissions.admin[0]",
            "`*` may only end a permission",
        ),
        (
            with("/role_permissions", json!({"admin": ["a", ""]})),
            "role_permissions.admin[1]",
            "printable ASCII without spaces",
        ),
        (
            with("/providers/0/permissions_claim", json!("")),
            "providers[0].permissions_claim",
            "must not be empty",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn a_permission_rule_needs_a_source_of_permissions() {
    let mut doc = requiring(json!({"permissions": {"any_of": ["write:billing"]}}));
    set(&mut doc, "/role_permissions", json!({}));
    assert_one_error(
        doc.clone(),
        "routes[1].require.permissions",
        "no token can hold a permission",
    );
    set(
        &mut doc,
        "/providers/0/permissions_claim",
        json!("permissions"),
    );
    assert_eq!(errors_of(&doc), []);
}

#[test]
fn a_valid_combined_requirement_compiles() {
    let doc = requiring(json!({
        "roles": {"any_of": ["staff"]},
        "permissions": {"all_of": ["write:billing"]},
        "scopes": {"any_of": ["billing", "billing.write"]},
        "claims": [
            {"claim": "plan", "one_of": ["pro", "enterprise"]},
            {"claim": "/org/tier", "one_of": [2, 3]},
            {"claim": "email_verified", "one_of": [true]},
            {"claim": "amr", "contains": "mfa"}
        ]
    }));
    assert_eq!(errors_of(&doc), []);
}
