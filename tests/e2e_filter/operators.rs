//! Operator break-glass in Envoy: a platform operator's short-lived token acts on the tenant it
//! names, only on routes that allow operators; the upstream sees the target tenant and the
//! acting operator, Envoy counts it per tenant and logs it at warn.

use super::*;

/// The e2e policy with a platform tenant whose `operator` role may act on other tenants'
/// `/support` routes, for at most ten minutes.
fn operators_policy() -> Value {
    let mut policy = policy();
    policy["tenants"]["platform"] = json!({});
    policy["routes"] = json!([
        {"name": "support", "path": {"prefix": "/support"}, "require": "authenticated",
         "operators": true},
        {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
    ]);
    policy["operators"] = json!({"tenants": ["platform"], "role": "operator",
                                 "max_lifetime_seconds": 600});
    policy
}

fn start() -> Option<Gateway> {
    let setup = Setup {
        policy: operators_policy(),
        ..Setup::default()
    };
    Gateway::start(setup, jwks_with_key1())
}

/// A token of `tenant`'s user `ops-1` with `roles`, naming `target`, living `ttl` seconds.
fn operator_token(tenant: &str, roles: &[&str], target: &str, ttl: i64) -> String {
    let mut claims = claims(ISSUER, AUDIENCE, tenant, "ops-1", roles);
    claims["target_tenant"] = json!(target);
    claims["exp"] = json!(keys::now() + ttl);
    key1().sign(&claims)
}

#[test]
fn an_operator_acts_on_the_target_tenant_where_routes_allow_it() {
    let Some(gw) = start() else {
        return;
    };
    let tok = operator_token("platform", &["operator"], "acme", 300);
    let seen = gw.allow(
        "operator on a support route",
        Req::get(ACME, "/support/tickets/7")
            .bearer(&tok)
            .header("x-acting-operator", "mallory")
            .header("x_acting_operator", "eve"),
    );
    assert_identity("operator", &seen, "acme", "ops-1", &["operator"]);
    assert_eq!(seen.header_all("x-acting-operator"), ["ops-1"]);
    assert_eq!(seen.header_all("x_acting_operator"), Vec::<&str>::new());
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.tenant.acme.operator"),
        Some(1)
    );
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.tenant.globex.operator"),
        Some(0)
    );
    let log = gw.envoy.log();
    assert!(
        log.contains("operator \"ops-1\" acting on tenant \"acme\" (route routes[0] (support))"),
        "no warn line in Envoy's log:\n{log}"
    );

    // A customer's own user on the same route: no acting operator, a spoofed one stripped.
    let alice = token(&key1(), "acme", "alice", &[]);
    let seen = gw.allow(
        "a normal token with a spoofed operator header",
        Req::get(ACME, "/support/tickets/7")
            .bearer(&alice)
            .header("X-Acting-Operator", "ops-1"),
    );
    assert_identity("alice", &seen, "acme", "alice", &[]);
    assert_eq!(seen.header_all("x-acting-operator"), Vec::<&str>::new());
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.tenant.acme.operator"),
        Some(1)
    );
}

#[test]
fn operators_are_refused_elsewhere_too_long_lived_or_for_another_tenant() {
    let Some(gw) = start() else {
        return;
    };
    let tok = operator_token("platform", &["operator"], "acme", 300);
    gw.deny(
        "a route without operators: true",
        Req::get(ACME, "/api/invoices").bearer(&tok),
        Denial::OperatorRouteDenied,
    );
    gw.deny(
        "a token living longer than max_lifetime_seconds",
        Req::get(ACME, "/support/x").bearer(&operator_token(
            "platform",
            &["operator"],
            "acme",
            601,
        )),
        Denial::OperatorLifetimeExceeded,
    );
    gw.deny(
        "a target other than the host's tenant",
        Req::get(GLOBEX, "/support/x").bearer(&tok),
        Denial::OperatorTargetMismatch,
    );
    gw.deny(
        "a target that is not a configured tenant",
        Req::get(ACME, "/support/x").bearer(&operator_token(
            "platform",
            &["operator"],
            "initech",
            300,
        )),
        Denial::OperatorTargetMismatch,
    );
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.tenant.acme.operator"),
        Some(0)
    );
    assert_eq!(
        gw.envoy
            .wasm_stat("tenantgate.denied.operator_route_denied"),
        Some(1)
    );
}

#[test]
fn a_customer_tenants_user_with_the_operator_role_is_a_normal_user() {
    let Some(gw) = start() else {
        return;
    };
    // acme's admins granted their user the operator role and a target: still acme's token.
    let tok = operator_token("acme", &["operator"], "globex", 300);
    gw.deny(
        "customer 'operator' on another tenant",
        Req::get(GLOBEX, "/support/x").bearer(&tok),
        Denial::TenantMismatch,
    );
    let seen = gw.allow(
        "customer 'operator' on its own tenant",
        Req::get(ACME, "/support/x").bearer(&tok),
    );
    assert_identity("own tenant", &seen, "acme", "ops-1", &["operator"]);
    assert_eq!(seen.header_all("x-acting-operator"), Vec::<&str>::new());
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.tenant.globex.operator"),
        Some(0)
    );
}
