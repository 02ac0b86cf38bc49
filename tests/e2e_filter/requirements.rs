//! Route requirements beyond roles: permissions from a claim and from the role catalog, scopes
//! in both shapes, claim conditions (met, unmet, missing, wrong type), all combined with AND.

use super::*;

/// The e2e policy with a role catalog, a permissions claim and routes asking for each part.
fn requirements_policy() -> Value {
    let mut policy = policy();
    policy["providers"][0]["permissions_claim"] = json!("permissions");
    policy["role_permissions"] = json!({
        "billing-admin": ["read:billing", "write:billing"],
        "deployer": ["deploy:*"]
    });
    policy["routes"] = json!([
        {"name": "billing-write", "path": {"prefix": "/billing"}, "methods": ["POST"],
         "require": {"permissions": {"all_of": ["write:billing"]}}},
        {"name": "deploy", "path": {"prefix": "/deploy"},
         "require": {"permissions": {"any_of": ["deploy:prod"]}}},
        {"name": "reports", "path": {"prefix": "/reports"},
         "require": {"scopes": {"all_of": ["reports.read", "openid"]}}},
        {"name": "sso", "path": {"prefix": "/settings/sso"},
         "require": {
             "roles": {"any_of": ["admin"]},
             "claims": [
                 {"claim": "plan", "one_of": ["pro", "enterprise"]},
                 {"claim": "/org/features", "contains": "sso"},
                 {"claim": "amr", "contains": "mfa"}
             ]
         }}
    ]);
    policy
}

fn start() -> Option<Gateway> {
    let setup = Setup {
        policy: requirements_policy(),
        ..Setup::default()
    };
    Gateway::start(setup, jwks_with_key1())
}

/// A token of acme's user `u1` with these roles and extra claims.
fn token_with(roles: &[&str], extra: Value) -> String {
    let mut claims = claims(ISSUER, AUDIENCE, "acme", "u1", roles);
    for (name, value) in extra.as_object().into_iter().flatten() {
        claims[name] = value.clone();
    }
    key1().sign(&claims)
}

fn post(path: &str, token: &str) -> Req {
    Req::new("POST", ACME, path).bearer(token).body(b"{}")
}

#[test]
fn permissions_from_the_claim_and_from_the_catalog() {
    let Some(gw) = start() else {
        return;
    };
    let seen = gw.allow(
        "catalog: billing-admin grants write:billing",
        post(
            "/billing/invoices",
            &token_with(&["billing-admin"], json!({})),
        ),
    );
    assert_identity("catalog", &seen, "acme", "u1", &["billing-admin"]);
    gw.allow(
        "claim: permissions array",
        post(
            "/billing/invoices",
            &token_with(&[], json!({"permissions": ["write:billing"]})),
        ),
    );
    // The same token twice: the second is decided from the cache, with the same claims.
    let cached = token_with(
        &["viewer"],
        json!({"permissions": "read:billing write:billing"}),
    );
    for round in ["first", "cached"] {
        gw.allow(
            &format!("claim: space-delimited string ({round})"),
            post("/billing/invoices", &cached),
        );
    }
    let lacking = token_with(&["viewer"], json!({"permissions": ["read:billing"]}));
    for round in ["first", "cached"] {
        gw.deny(
            &format!("neither source grants write:billing ({round})"),
            post("/billing/invoices", &lacking),
            Denial::PermissionRequired,
        );
    }
    gw.deny(
        "a permissions claim of the wrong shape",
        post(
            "/billing/invoices",
            &token_with(
                &["billing-admin"],
                json!({"permissions": {"write:billing": true}}),
            ),
        ),
        Denial::ClaimInvalid,
    );
    // Trailing-`*` grants: deployer's `deploy:*`, or a claim carrying one.
    gw.allow(
        "catalog wildcard",
        Req::get(ACME, "/deploy/now").bearer(&token_with(&["deployer"], json!({}))),
    );
    gw.allow(
        "claim wildcard",
        Req::get(ACME, "/deploy/now")
            .bearer(&token_with(&[], json!({"permissions": ["deploy:*"]}))),
    );
    gw.deny(
        "a wildcard grants a prefix only",
        Req::get(ACME, "/deploy/now").bearer(&token_with(
            &[],
            json!({"permissions": ["deploy:staging", "deploy:prod:*", "*deploy:prod"]}),
        )),
        Denial::PermissionRequired,
    );
}

#[test]
fn scopes_as_a_string_and_as_an_array() {
    let Some(gw) = start() else {
        return;
    };
    for (what, claims) in [
        ("scope string", json!({"scope": "openid reports.read"})),
        ("scp array", json!({"scp": ["reports.read", "openid"]})),
        ("scp string (Entra)", json!({"scp": "reports.read openid"})),
        (
            "scope and scp merged",
            json!({"scope": "openid", "scp": ["reports.read"]}),
        ),
    ] {
        gw.allow(
            what,
            Req::get(ACME, "/reports/q1").bearer(&token_with(&[], claims)),
        );
    }
    for (what, claims) in [
        ("one of two scopes", json!({"scope": "reports.read"})),
        ("no scope at all", json!({})),
        (
            "comma is not a separator",
            json!({"scope": "openid,reports.read"}),
        ),
    ] {
        gw.deny(
            what,
            Req::get(ACME, "/reports/q1").bearer(&token_with(&[], claims)),
            Denial::ScopeRequired,
        );
    }
    gw.deny(
        "scp of the wrong type",
        Req::get(ACME, "/reports/q1").bearer(&token_with(&[], json!({"scp": 7}))),
        Denial::ClaimInvalid,
    );
}

#[test]
fn claim_conditions_met_unmet_missing_and_mistyped() {
    let Some(gw) = start() else {
        return;
    };
    let good =
        json!({"plan": "enterprise", "org": {"features": ["audit", "sso"]}, "amr": ["pwd", "mfa"]});
    let with = |key: &str, value: Option<Value>| {
        let mut claims = good.clone();
        match value {
            Some(value) => claims[key] = value,
            None => drop(claims.as_object_mut().and_then(|m| m.remove(key))),
        }
        claims
    };
    let sso = |roles: &[&str], claims: Value| {
        Req::get(ACME, "/settings/sso").bearer(&token_with(roles, claims))
    };
    gw.allow("every condition met", sso(&["admin"], good.clone()));
    // AND: the conditions do not stand in for the role.
    gw.deny(
        "no admin role",
        sso(&["viewer"], good.clone()),
        Denial::RoleRequired,
    );
    for (what, claims) in [
        ("plan free", with("plan", Some(json!("free")))),
        ("plan case", with("plan", Some(json!("Enterprise")))),
        (
            "no sso feature",
            with("org", Some(json!({"features": ["audit"]}))),
        ),
        ("no mfa", with("amr", Some(json!(["pwd"])))),
    ] {
        gw.deny(what, sso(&["admin"], claims), Denial::ClaimConditionUnmet);
    }
    for (what, claims) in [
        ("plan missing", with("plan", None)),
        ("plan an array", with("plan", Some(json!(["pro"])))),
        ("plan a number", with("plan", Some(json!(3)))),
        (
            "features a string",
            with("org", Some(json!({"features": "sso"}))),
        ),
        ("org missing", with("org", None)),
        ("amr missing", with("amr", None)),
    ] {
        gw.deny(what, sso(&["admin"], claims), Denial::ClaimConditionInvalid);
    }
}
