//! Operator break-glass in the gate: who is an operator, where, for how long, for whom.
//! Claims are taken as signed (`decide_with_claims`); signatures are `verify`'s tests.

use serde_json::{json, Map, Value};

use super::*;
use crate::config::tests::merged;

const NOW: u64 = 1_700_000_000;

fn gate(extra: Value) -> Gate {
    let doc = json!({
        "providers": [
            {"name": "corp", "issuer": "https://idp", "audiences": ["api"],
             "jwks": {"remote": {"cluster": "idp", "uri": "https://idp/jwks"}}},
            {"name": "staff", "issuer": "https://staff", "audiences": ["api"], "tenant": "platform",
             "jwks": {"remote": {"cluster": "staff", "uri": "https://staff/jwks"}}}
        ],
        "tenants": {"acme": {"hosts": ["acme.test"]}, "globex": {"hosts": ["globex.test"]},
                    "platform": {"hosts": ["platform.test"]}},
        "shared_hosts": ["api.test"],
        "tenant_context": {"paths": ["/t/{tenant}/**"]},
        "routes": [
            {"name": "support", "path": {"prefix": "/support"}, "require": "authenticated",
             "operators": true},
            {"path": {"prefix": "/t"}, "require": "authenticated", "operators": true},
            {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}},
             "operators": true},
            {"path": {"prefix": "/"}, "require": "authenticated"}
        ],
        "operators": {"tenants": ["platform"], "role": "operator"}
    });
    super::gate_of(&merged(doc, extra))
}

/// A platform operator's claims acting on acme, issued now for five minutes.
fn operator(extra: Value) -> Map<String, Value> {
    let claims = json!({"iss": "https://idp", "aud": "api", "sub": "ops-1",
                            "tenantId": "platform", "roles": ["operator"],
                            "iat": NOW, "exp": NOW + 300, "target_tenant": "acme"});
    merged(claims, extra)
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn decide(gate: &Gate, host: &str, path: &str, claims: &Map<String, Value>) -> Outcome {
    let req = RequestView {
        method: "GET",
        authority: host,
        path,
        headers: &[],
    };
    gate.decide_with_claims(&req, claims, NOW)
}

fn denial(outcome: &Outcome) -> Option<Denial> {
    match outcome {
        Outcome::Deny { denial, .. } => Some(*denial),
        _ => None,
    }
}

fn identity(outcome: Outcome) -> Identity {
    match outcome {
        Outcome::Allow {
            identity: Some(identity),
            ..
        } => identity,
        other => panic!("not allowed: {other:?}"),
    }
}

#[test]
fn an_operator_acts_on_its_target_where_routes_allow_it() {
    let gate = gate(json!({}));
    let outcome = decide(&gate, "acme.test", "/support/tickets", &operator(json!({})));
    let Outcome::Allow { at, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(at.tenant, Some(0), "counted for the target tenant, acme");
    let id = identity(outcome);
    assert_eq!(id.tenant, "acme");
    assert_eq!(id.user, "ops-1");
    assert_eq!(id.acting_operator.as_deref(), Some("ops-1"));

    // A path source naming the target agrees; on a shared host the target alone decides.
    let on_path = decide(&gate, "api.test", "/t/acme/x", &operator(json!({})));
    assert_eq!(identity(on_path).tenant, "acme");
    let shared = decide(&gate, "api.test", "/support", &operator(json!({})));
    assert_eq!(identity(shared).tenant, "acme");

    // The route's requirement still applies to the operator's own token.
    let admin = decide(&gate, "acme.test", "/admin", &operator(json!({})));
    assert_eq!(denial(&admin), Some(Denial::RoleRequired));
    let roles = json!({"roles": ["operator", "admin"]});
    let admin = decide(&gate, "acme.test", "/admin", &operator(roles));
    assert_eq!(identity(admin).tenant, "acme");
}

#[test]
fn other_routes_long_lived_tokens_and_other_targets_are_refused() {
    let gate = gate(json!({}));
    let refused =
        |host: &str, path: &str, extra: Value| denial(&decide(&gate, host, path, &operator(extra)));
    assert_eq!(
        refused("acme.test", "/billing", json!({})),
        Some(Denial::OperatorRouteDenied)
    );
    let long = json!({"exp": NOW + 901});
    assert_eq!(
        refused("acme.test", "/support", long),
        Some(Denial::OperatorLifetimeExceeded)
    );
    // Exactly the maximum is allowed; without `iat` the lifetime cannot be told.
    assert_eq!(
        refused("acme.test", "/support", json!({"exp": NOW + 900})),
        None
    );
    let no_iat = operator(json!({}));
    let mut no_iat = no_iat.clone();
    no_iat.remove("iat");
    assert_eq!(
        denial(&decide(&gate, "acme.test", "/support", &no_iat)),
        Some(Denial::OperatorLifetimeExceeded)
    );
    for (host, path, target) in [
        ("globex.test", "/support", "acme"),
        ("api.test", "/t/globex/x", "acme"),
        ("api.test", "/support", "initech"),
        ("acme.test", "/support", "initech"),
    ] {
        assert_eq!(
            refused(host, path, json!({"target_tenant": target})),
            Some(Denial::OperatorTargetMismatch),
            "{host}{path} for {target}"
        );
    }
    assert_eq!(
        refused("acme.test", "/support", json!({"target_tenant": 7})),
        Some(Denial::ClaimInvalid)
    );
}

#[test]
fn a_role_alone_does_not_make_an_operator() {
    let gate = gate(json!({}));
    // A customer tenant's admin granted the operator role and naming a target: a normal
    // token of acme, so another tenant's host is a plain mismatch.
    let customer = operator(json!({"tenantId": "acme", "target_tenant": "globex"}));
    let outcome = decide(&gate, "globex.test", "/support", &customer);
    assert_eq!(denial(&outcome), Some(Denial::TenantMismatch));
    let own = identity(decide(&gate, "acme.test", "/support", &customer));
    assert_eq!((own.tenant.as_str(), own.acting_operator), ("acme", None));

    // A platform user without the role is not an operator either.
    let plain = operator(json!({"roles": ["viewer"]}));
    let outcome = decide(&gate, "acme.test", "/support", &plain);
    assert_eq!(denial(&outcome), Some(Denial::TenantMismatch));
}

#[test]
fn an_operator_without_a_target_is_a_normal_token() {
    let gate = gate(json!({}));
    let mut claims = operator(json!({"exp": NOW + 86_400}));
    claims.remove("target_tenant");
    let own = identity(decide(&gate, "platform.test", "/billing", &claims));
    assert_eq!(
        (own.tenant.as_str(), own.acting_operator),
        ("platform", None)
    );
    let outcome = decide(&gate, "acme.test", "/support", &claims);
    assert_eq!(denial(&outcome), Some(Denial::TenantMismatch));
}

#[test]
fn operator_providers_and_tenants_both_hold_when_both_are_given() {
    let ops = json!({"operators": {"providers": ["staff"], "role": "operator",
                                   "max_lifetime_seconds": 60, "target_claim": "act_for"}});
    let gate = gate(ops);
    let staff = operator(json!({"iss": "https://staff", "exp": NOW + 60,
                                "act_for": "globex", "target_tenant": null}));
    let id = identity(decide(&gate, "globex.test", "/support", &staff));
    assert_eq!(id.tenant, "globex");
    assert_eq!(id.acting_operator.as_deref(), Some("ops-1"));
    let long = operator(json!({"iss": "https://staff", "act_for": "globex"}));
    let outcome = decide(&gate, "globex.test", "/support", &long);
    assert_eq!(denial(&outcome), Some(Denial::OperatorLifetimeExceeded));
    // The shared issuer is not an operator provider, whatever its tenant claim says.
    let corp = operator(json!({"exp": NOW + 60, "act_for": "globex"}));
    let outcome = decide(&gate, "globex.test", "/support", &corp);
    assert_eq!(denial(&outcome), Some(Denial::TenantMismatch));
}

#[test]
fn unlisted_targets_need_unlisted_tenants_allowed() {
    let gate = gate(json!({"host_templates": ["{tenant}.saas.test"],
                           "allow_unlisted_tenants": true}));
    let claims = operator(json!({"target_tenant": "initech"}));
    let id = identity(decide(&gate, "initech.saas.test", "/support", &claims));
    assert_eq!(id.tenant, "initech");
    let id = identity(decide(&gate, "api.test", "/support", &claims));
    assert_eq!(id.tenant, "initech");
}
