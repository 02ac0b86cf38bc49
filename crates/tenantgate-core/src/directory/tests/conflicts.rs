//! Entries that collide with the static configuration are dropped, each with its reason; the
//! rest of the document is adopted.

use serde_json::json;

use super::*;

/// Adopts `globex` (always fine) and `entry` as tenant `id`; returns why `id` was dropped.
fn dropped(id: &str, entry: Value) -> Conflict {
    let adoption = adopt_doc(json!({"globex": {"hosts": ["globex.example.com"]}, id: entry}))
        .expect("adopted");
    let gate = adoption.gate.expect("a gate");
    assert!(
        gate.config().tenants.contains_key("globex"),
        "the rest is adopted"
    );
    assert_eq!(adoption.directory.adopted, 1);
    match adoption.dropped.as_slice() {
        [Dropped { tenant, conflict }] if tenant == id => conflict.clone(),
        other => panic!("expected {id} dropped, got {other:?}"),
    }
}

#[test]
fn a_static_tenant_id_wins() {
    assert_eq!(
        dropped("acme", json!({"hosts": ["other.example.com"]})),
        Conflict::StaticTenant
    );
}

#[test]
fn a_static_tenants_host_wins() {
    assert_eq!(
        dropped("zeta", json!({"hosts": ["ACME.example.com."]})),
        Conflict::StaticHost {
            host: "acme.example.com".into(),
            owner: "acme".into()
        }
    );
    // The template gives `beta` the host static tenant acme lists.
    assert_eq!(
        dropped("beta", json!({})),
        Conflict::StaticHost {
            host: "beta.app.example.com".into(),
            owner: "acme".into()
        }
    );
}

#[test]
fn a_shared_host_wins() {
    assert_eq!(
        dropped("zeta", json!({"hosts": ["api.example.com"]})),
        Conflict::SharedHost {
            host: "api.example.com".into()
        }
    );
}

#[test]
fn a_host_a_template_gives_another_tenant_wins() {
    assert_eq!(
        dropped("zeta", json!({"hosts": ["acme.app.example.com"]})),
        Conflict::TemplateHost {
            host: "acme.app.example.com".into(),
            template: 0,
            owner: "acme".into()
        }
    );
}

#[test]
fn a_static_tenant_value_wins() {
    let conflict = dropped(
        "zeta",
        json!({"tenant_values": {"entra": ["guid-zeta", "guid-acme"]}}),
    );
    assert_eq!(
        conflict,
        Conflict::StaticTenantValue {
            provider: "entra".into(),
            value: "guid-acme".into(),
            owner: "acme".into()
        }
    );
}

#[test]
fn a_static_issuer_wins() {
    let idp =
        json!({"issuer": ISSUER, "audiences": ["a"], "jwks": {"discovery": {"cluster": "egress"}}});
    assert_eq!(
        dropped("zeta", json!({"idp": idp})),
        Conflict::StaticIssuer {
            issuer: ISSUER.into(),
            provider: "issuer".into()
        }
    );
}

#[test]
fn a_static_provider_name_wins() {
    let idp = json!({"issuer": "https://legacy2.example.com", "audiences": ["a"], "jwks": {"discovery": {"cluster": "egress"}}});
    assert_eq!(
        dropped("legacy", json!({"idp": idp})),
        Conflict::ProviderName {
            name: "legacy-idp".into()
        }
    );
}

#[test]
fn reasons_read_as_sentences() {
    let conflict = Conflict::StaticHost {
        host: "a.example.com".into(),
        owner: "acme".into(),
    };
    assert_eq!(
        conflict.to_string(),
        "host \"a.example.com\" is a host of static tenant \"acme\""
    );
}
