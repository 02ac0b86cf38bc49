use serde_json::json;

use super::*;
use crate::config::{AnyAllOf, RoleRequirement};

fn list(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|s| s.to_string()).collect())
}

fn any(names: &[&str]) -> AnyAllOf {
    AnyAllOf {
        any_of: list(names),
        all_of: None,
    }
}

fn all(names: &[&str]) -> AnyAllOf {
    AnyAllOf {
        any_of: None,
        all_of: list(names),
    }
}

fn catalog() -> BTreeMap<String, Vec<String>> {
    let mut c = BTreeMap::new();
    c.insert(
        "billing-admin".into(),
        vec!["read:billing".into(), "write:billing".into()],
    );
    c.insert("deployer".into(), vec!["deploy:*".into()]);
    c.insert("root".into(), vec!["*".into()]);
    c
}

/// Decides `req` for a token with these roles and claims; the provider reads `permissions`.
fn decide(req: &TokenRequirement, roles: &[&str], claims: Value) -> Result<(), (Part, Denial)> {
    let roles: Vec<String> = roles.iter().map(|s| s.to_string()).collect();
    let Value::Object(claims) = claims else {
        panic!("claims must be an object")
    };
    let catalog = catalog();
    check(
        req,
        &Holder {
            roles: &roles,
            claims: &claims,
            permissions_claim: Some("permissions"),
            scopes_claim: None,
            catalog: &catalog,
        },
    )
}

fn permissions(rule: AnyAllOf) -> TokenRequirement {
    TokenRequirement {
        permissions: Some(rule),
        ..TokenRequirement::default()
    }
}

#[test]
fn permissions_come_from_the_claim_and_from_the_catalog() {
    let write = permissions(any(&["write:billing"]));
    assert_eq!(decide(&write, &["billing-admin"], json!({})), Ok(()));
    assert_eq!(
        decide(&write, &[], json!({"permissions": ["write:billing"]})),
        Ok(())
    );
    assert_eq!(
        decide(
            &write,
            &[],
            json!({"permissions": "read:billing write:billing"})
        ),
        Ok(())
    );
    let lacks = Err((Part::Permissions, Denial::PermissionRequired));
    assert_eq!(decide(&write, &["viewer"], json!({})), lacks);
    assert_eq!(
        decide(&write, &[], json!({"permissions": ["read:billing"]})),
        lacks
    );
    // all_of takes each permission from either source.
    let both = permissions(all(&["write:billing", "deploy:prod"]));
    assert_eq!(
        decide(
            &both,
            &["billing-admin"],
            json!({"permissions": ["deploy:prod"]})
        ),
        Ok(())
    );
    assert_eq!(decide(&both, &["billing-admin"], json!({})), lacks);
}

#[test]
fn a_malformed_permissions_claim_is_refused() {
    let write = permissions(any(&["write:billing"]));
    for claim in [json!(5), json!({"a": 1}), json!(["ok", 5]), json!(null)] {
        assert_eq!(
            decide(&write, &["billing-admin"], json!({"permissions": claim})),
            Err((Part::Permissions, Denial::ClaimInvalid)),
            "{claim}"
        );
    }
}

#[test]
fn trailing_star_grants_a_prefix_and_nothing_else_is_a_wildcard() {
    assert!(grants("deploy:*", "deploy:prod"));
    assert!(grants("deploy:*", "deploy:"));
    assert!(grants("*", "anything:at:all"));
    assert!(!grants("deploy:*", "deploy"));
    assert!(!grants("deploy:*", "undeploy:prod"));
    assert!(!grants("invoices/*:read", "invoices/7:read"));
    assert!(grants("invoices/*:read", "invoices/*:read"));
    assert!(!grants("write:billing", "write:billing:all"));
    let deploy = permissions(any(&["deploy:staging"]));
    assert_eq!(decide(&deploy, &["deployer"], json!({})), Ok(()));
    assert_eq!(decide(&deploy, &["root"], json!({})), Ok(()));
    assert_eq!(
        decide(&deploy, &[], json!({"permissions": ["deploy:*"]})),
        Ok(())
    );
}

#[test]
fn scopes_come_from_scope_and_scp_in_every_shape() {
    let read = TokenRequirement {
        scopes: Some(all(&["invoices.read", "openid"])),
        ..TokenRequirement::default()
    };
    for claims in [
        json!({"scope": "openid invoices.read"}),
        json!({"scp": ["invoices.read", "openid"]}),
        json!({"scp": "invoices.read  openid"}),
        json!({"scope": "openid", "scp": ["invoices.read"]}),
    ] {
        assert_eq!(decide(&read, &[], claims.clone()), Ok(()), "{claims}");
    }
    let lacks = Err((Part::Scopes, Denial::ScopeRequired));
    assert_eq!(decide(&read, &[], json!({"scope": "openid"})), lacks);
    assert_eq!(decide(&read, &[], json!({})), lacks);
    // One scope string is not split on anything but spaces.
    assert_eq!(
        decide(&read, &[], json!({"scope": "openid,invoices.read"})),
        lacks
    );
    assert_eq!(
        decide(&read, &[], json!({"scp": 1})),
        Err((Part::Scopes, Denial::ClaimInvalid))
    );
}

fn conditions(list: Value) -> TokenRequirement {
    TokenRequirement {
        claims: Some(serde_json::from_value(list).expect("conditions")),
        ..TokenRequirement::default()
    }
}

#[test]
fn claim_conditions_met_unmet_missing_and_mistyped() {
    let req = conditions(json!([
        {"claim": "plan", "one_of": ["pro", "enterprise"]},
        {"claim": "features", "contains": "sso"},
        {"claim": "amr", "contains": "mfa"}
    ]));
    let good = json!({"plan": "pro", "features": ["sso", "audit"], "amr": ["pwd", "mfa"]});
    assert_eq!(decide(&req, &[], good.clone()), Ok(()));
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        let map = claims.as_object_mut().expect("object");
        match value {
            Value::Null => drop(map.remove(key)),
            value => drop(map.insert(key.into(), value)),
        }
        claims
    };
    let unmet = |i| Err((Part::Claim(i), Denial::ClaimConditionUnmet));
    let invalid = |i| Err((Part::Claim(i), Denial::ClaimConditionInvalid));
    assert_eq!(decide(&req, &[], with("plan", json!("free"))), unmet(0));
    assert_eq!(decide(&req, &[], with("plan", json!("Pro"))), unmet(0));
    assert_eq!(decide(&req, &[], with("plan", Value::Null)), invalid(0));
    assert_eq!(decide(&req, &[], with("plan", json!(["pro"]))), invalid(0));
    assert_eq!(decide(&req, &[], with("plan", json!(2))), invalid(0));
    assert_eq!(
        decide(&req, &[], with("features", json!(["audit"]))),
        unmet(1)
    );
    assert_eq!(
        decide(&req, &[], with("features", json!("sso"))),
        invalid(1)
    );
    assert_eq!(decide(&req, &[], with("amr", Value::Null)), invalid(2));
}

#[test]
fn claim_values_compare_with_their_type() {
    let req = conditions(json!([
        {"claim": "email_verified", "one_of": [true]},
        {"claim": "tier", "one_of": [2, 3]}
    ]));
    assert_eq!(
        decide(&req, &[], json!({"email_verified": true, "tier": 3})),
        Ok(())
    );
    assert_eq!(
        decide(&req, &[], json!({"email_verified": false, "tier": 3})),
        Err((Part::Claim(0), Denial::ClaimConditionUnmet))
    );
    assert_eq!(
        decide(&req, &[], json!({"email_verified": "true", "tier": 3})),
        Err((Part::Claim(0), Denial::ClaimConditionInvalid))
    );
    assert_eq!(
        decide(&req, &[], json!({"email_verified": true, "tier": 2.5})),
        Err((Part::Claim(1), Denial::ClaimConditionInvalid))
    );
    assert_eq!(
        decide(&req, &[], json!({"email_verified": true, "tier": 4})),
        Err((Part::Claim(1), Denial::ClaimConditionUnmet))
    );
}

#[test]
fn names_are_literal_and_pointers_walk_objects_and_arrays() {
    let claims = json!({
        "https://example.com/plan": "pro",
        "org.plan": "literal",
        "org": {"plan": "nested", "a/b": {"~x": 1}, "seats": [10, 20]}
    });
    let Value::Object(claims) = claims else {
        unreachable!()
    };
    assert_eq!(
        lookup(&claims, "https://example.com/plan"),
        Some(&json!("pro"))
    );
    assert_eq!(lookup(&claims, "org.plan"), Some(&json!("literal")));
    assert_eq!(lookup(&claims, "/org/plan"), Some(&json!("nested")));
    assert_eq!(lookup(&claims, "/org/a~1b/~0x"), Some(&json!(1)));
    assert_eq!(lookup(&claims, "/org/seats/1"), Some(&json!(20)));
    assert_eq!(lookup(&claims, "/org/seats/01"), None);
    assert_eq!(lookup(&claims, "/org/seats/2"), None);
    assert_eq!(lookup(&claims, "/org/plan/x"), None);
    assert_eq!(lookup(&claims, "/missing"), None);
    assert_eq!(pointer_error("/a~2b").map(|_| ()), Some(()));
    assert!(pointer_error("/a~").is_some());
    assert_eq!(pointer_error("/a~0~1"), None);
    assert_eq!(pointer_error("a~b"), None);
}

#[test]
fn parts_combine_with_and_in_order() {
    let req = TokenRequirement {
        roles: Some(RoleRequirement {
            any_of: vec!["staff".into()],
            all_of: vec![],
        }),
        permissions: Some(any(&["write:billing"])),
        scopes: Some(any(&["billing"])),
        claims: Some(
            serde_json::from_value(json!([{"claim": "amr", "contains": "mfa"}])).expect(""),
        ),
    };
    let claims = json!({"scope": "billing", "amr": ["mfa"]});
    assert_eq!(
        decide(&req, &["staff", "billing-admin"], claims.clone()),
        Ok(())
    );
    assert_eq!(
        decide(&req, &["billing-admin"], claims.clone()),
        Err((Part::Roles, Denial::RoleRequired))
    );
    assert_eq!(
        decide(&req, &["staff"], claims),
        Err((Part::Permissions, Denial::PermissionRequired))
    );
    assert_eq!(
        decide(&req, &["staff", "billing-admin"], json!({"amr": ["mfa"]})),
        Err((Part::Scopes, Denial::ScopeRequired))
    );
    assert_eq!(
        decide(
            &req,
            &["staff", "billing-admin"],
            json!({"scope": "billing", "amr": []})
        ),
        Err((Part::Claim(0), Denial::ClaimConditionUnmet))
    );
}

#[test]
fn the_claims_read_are_those_the_requirements_name() {
    let config = crate::config::parse(
        br#"{
          "providers": [
            {"name": "a", "issuer": "https://a", "audiences": ["api"], "permissions_claim": "perms",
             "jwks": {"remote": {"cluster": "a", "uri": "https://a/jwks"}}},
            {"name": "b", "issuer": "https://b", "audiences": ["api"],
             "jwks": {"remote": {"cluster": "b", "uri": "https://b/jwks"}}}
          ],
          "routes": [
            {"path": {"prefix": "/a"}, "require": {"permissions": {"any_of": ["x"]}}},
            {"path": {"prefix": "/b"}, "require": {"scopes": {"any_of": ["x"]}}},
            {"path": {"prefix": "/c"}, "require": {"roles": {"any_of": ["x"]}}}
          ],
          "default_requirement": {"claims": [
            {"claim": "/org~1x/plan", "one_of": ["pro"]},
            {"claim": "a.b", "contains": "c"}
          ]}
        }"#,
    )
    .expect("parses");
    assert_eq!(
        claims_read(&config),
        ["a.b", "org/x", "perms", "scope", "scp"]
    );
}
