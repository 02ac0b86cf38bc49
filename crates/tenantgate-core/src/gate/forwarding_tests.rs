//! What the gate forwards and what it matches: claims in headers, path segment parameters.
//! Claims are taken as signed (`decide_with_claims`); signatures are `verify`'s tests.

use serde_json::{json, Map, Value};

use super::*;
use crate::config::tests::merged;

const NOW: u64 = 1_700_000_000;

fn gate(extra: Value) -> Gate {
    let doc = json!({
        "providers": [{"name": "corp", "issuer": "https://idp", "audiences": ["api"],
                       "jwks": {"remote": {"cluster": "idp", "uri": "https://idp/jwks"}}}],
        "tenants": {"acme": {"hosts": ["acme.test"]}},
        "routes": [
            {"path": {"prefix": "/public"}, "require": "public"},
            {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
            {"path": {"prefix": "/"}, "require": "authenticated"}
        ],
        "headers": {"claims": {"x-plan": "plan", "x-features": "features", "x-seats": "seats"}}
    });
    super::gate_of(&merged(doc, extra))
}

fn claims(extra: Value) -> Map<String, Value> {
    let claims = json!({"iss": "https://idp", "aud": "api", "sub": "alice",
                            "tenantId": "acme", "roles": ["viewer"], "exp": NOW + 60});
    merged(claims, extra)
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn decide(gate: &Gate, path: &str, claims: &Map<String, Value>) -> Outcome {
    let req = RequestView {
        method: "GET",
        authority: "acme.test",
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

#[test]
fn claims_travel_in_their_headers() {
    let gate = gate(json!({}));
    let c = claims(json!({"plan": "pro", "features": ["sso", "audit"], "seats": 25}));
    let Outcome::Allow {
        identity: Some(identity),
        ..
    } = decide(&gate, "/x", &c)
    else {
        panic!("not allowed");
    };
    assert_eq!(
        identity.claim_headers,
        [
            ("x-features".to_string(), "sso,audit".to_string()),
            ("x-plan".to_string(), "pro".to_string()),
            ("x-seats".to_string(), "25".to_string()),
        ]
    );

    // Absent claims set no header.
    let Outcome::Allow {
        identity: Some(identity),
        ..
    } = decide(&gate, "/x", &claims(json!({})))
    else {
        panic!("not allowed");
    };
    assert!(identity.claim_headers.is_empty());
}

#[test]
fn hostile_claims_refuse_the_request() {
    let gate = gate(json!({}));
    for bad in [
        json!({"plan": "pro\r\nx-tenant-id: globex"}),
        json!({"features": ["sso,admin"]}),
        json!({"seats": {"n": 1}}),
    ] {
        let outcome = decide(&gate, "/x", &claims(bad.clone()));
        assert_eq!(denial(&outcome), Some(Denial::ClaimNotForwardable), "{bad}");
    }
    // A public route reads no token, so no claim can refuse it.
    let outcome = decide(&gate, "/public", &claims(json!({"plan": "a\nb"})));
    assert!(matches!(outcome, Outcome::Allow { identity: None, .. }));
}

#[test]
fn path_parameters_are_refused_by_default() {
    let gate = gate(json!({}));
    for path in ["/admin;x=1", "/public;x=1", "/public/..;/admin", "/x%3B"] {
        assert_eq!(
            denial(&decide(&gate, path, &claims(json!({})))),
            Some(Denial::PathInvalid),
            "{path}"
        );
    }
}

#[test]
fn stripped_path_parameters_are_matched_as_the_upstream_routes_them() {
    let gate = gate(json!({"path_parameters": "strip"}));
    let viewer = claims(json!({}));
    // `/admin;x=1` is `/admin` to a servlet container: the admin rule decides.
    assert_eq!(
        denial(&decide(&gate, "/admin;x=1", &viewer)),
        Some(Denial::RoleRequired)
    );
    let admin = claims(json!({"roles": ["admin"]}));
    assert!(matches!(
        decide(&gate, "/admin;jsessionid=1/users", &admin),
        Outcome::Allow {
            at: Place { rule: Some(1), .. },
            ..
        }
    ));
    assert!(matches!(
        decide(&gate, "/public;x=1/a", &Map::new()),
        Outcome::Allow { identity: None, .. }
    ));
    assert_eq!(
        denial(&decide(&gate, "/public/..;/admin", &admin)),
        Some(Denial::PathInvalid)
    );
}
