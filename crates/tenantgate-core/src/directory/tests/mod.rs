//! Directory tests: a static configuration whose signer has an inline key set, documents signed
//! with the verification tests' keys, one test per rejection reason (`rejections`) and per
//! conflict with static configuration (`conflicts`), and adoption itself here.

mod conflicts;
mod rejections;
mod shared;

use serde_json::{json, Value};

use super::*;
use crate::gate::{Outcome, RequestView};
use crate::verify::tests::{key_set, Keys, TestKey, KEY_A, KEY_B, NOW};

pub(crate) const ISSUER: &str = "https://issuer.example.com";

/// Static configuration: the signer `issuer`, `entra` with a tenant map, a legacy provider
/// whose name is what tenant `legacy`'s IdP would be called, static tenant `acme`, a shared
/// host, a host template and the directory section.
pub(crate) fn static_config() -> Value {
    let signer = TestKey::new(KEY_A, "a");
    json!({
        "providers": [
            {"name": "issuer", "issuer": ISSUER, "audiences": ["api"],
             "jwks": {"inline": {"keys": [signer.jwk()]}}},
            {"name": "entra", "issuer": "https://login.example.com/v2.0", "audiences": ["api"],
             "tenant_claim": "tid", "tenant_map": {"guid-acme": "acme"},
             "jwks": {"remote": {"cluster": "entra", "uri": "https://login.example.com/keys"}}},
            {"name": "legacy-idp", "issuer": "https://legacy.example.com", "audiences": ["api"],
             "tenant": "acme",
             "jwks": {"remote": {"cluster": "egress", "uri": "https://legacy.example.com/keys"}}}
        ],
        "tenants": {"acme": {"hosts": ["acme.example.com", "beta.app.example.com"]}},
        "shared_hosts": ["api.example.com"],
        "host_templates": ["{tenant}.app.example.com"],
        "routes": [{"path": {"prefix": "/public"}, "require": "public"},
                   {"path": {"prefix": "/api"}, "require": "authenticated"}],
        "directory": {
            "provider": "issuer",
            "remote": {"cluster": "issuer", "uri": "http://issuer.internal/v1/directory"},
            "idp_clusters": ["egress"]
        }
    })
}

pub(crate) fn config_of(doc: &Value) -> Config {
    crate::config::parse(doc.to_string().as_bytes()).expect("static configuration parses")
}

/// A payload with these tenants, issued at `NOW`.
pub(crate) fn payload(tenants: Value) -> Value {
    json!({"iss": ISSUER, "iat": NOW, "tenants": tenants})
}

pub(crate) fn header(kid: &str) -> String {
    json!({"alg": "RS256", "typ": TYP, "kid": kid}).to_string()
}

/// A document signed by the signer's key.
pub(crate) fn signed(payload: &Value) -> Vec<u8> {
    let key = TestKey::new(KEY_A, "a");
    key.sign_json(&header("a"), &payload.to_string())
        .into_bytes()
}

/// `adopt` with the signer's keys, ring, `NOW` and the directory in force.
pub(crate) fn adopt_with(
    bytes: &[u8],
    config: &Config,
    in_force: Option<&Directory>,
) -> Result<Adoption, DirectoryError> {
    let keys = key_set(&[&TestKey::new(KEY_A, "a")]);
    let verify = |key: &RsaKey, message: &[u8], signature: &[u8]| {
        crate::verify::rs256::verify(key, message, signature)
    };
    adopt(
        bytes,
        &Input {
            config,
            keys: Some(&keys),
            verify: &verify,
            in_force,
            now: NOW,
        },
    )
}

pub(crate) fn adopt_doc(tenants: Value) -> Result<Adoption, DirectoryError> {
    adopt_with(
        &signed(&payload(tenants)),
        &config_of(&static_config()),
        None,
    )
}

fn public_request(gate: &Gate, host: &str) -> Outcome {
    let headers = [(":authority", host)];
    let req = RequestView {
        method: "GET",
        authority: host,
        path: "/public",
        headers: &headers,
    };
    let keys = Keys {
        sets: vec![],
        refetch: false,
    };
    gate.decide(&req, &keys, None, NOW)
}

#[test]
fn a_directory_adds_tenants_hosts_values_and_idps() {
    let adoption = adopt_doc(json!({
        "globex": {"hosts": ["globex.example.com", "Portal.Globex.IO"],
                   "tenant_values": {"entra": ["guid-globex"]},
                   "idp": {"issuer": "https://globex.okta.com", "audiences": ["api://gw"],
                           "jwks": {"discovery": {"cluster": "egress"}}}},
        "initech": {}
    }))
    .expect("adopted");
    assert!(adoption.dropped.is_empty());
    assert_eq!(
        (
            adoption.directory.tenants,
            adoption.directory.adopted,
            adoption.directory.iat
        ),
        (2, 2, NOW)
    );
    let gate = adoption.gate.expect("a new gate");
    let config = gate.config();
    assert_eq!(
        config.tenants["globex"].hosts,
        ["globex.example.com", "portal.globex.io"]
    );
    assert!(config.tenants.contains_key("initech"));
    let entra = &config.providers[1];
    assert_eq!(
        entra.tenant_map.as_ref().expect("map")["guid-globex"],
        "globex"
    );
    let idp = config.providers.last().expect("the idp");
    assert_eq!(
        (idp.name.as_str(), idp.tenant.as_deref()),
        ("globex-idp", Some("globex"))
    );
    assert_eq!(gate.providers().len(), 4);
    for host in [
        "portal.globex.io",
        "globex.example.com",
        "initech.app.example.com",
    ] {
        assert!(
            matches!(public_request(&gate, host), Outcome::Allow { .. }),
            "{host}"
        );
    }
    assert!(matches!(
        public_request(&gate, "nobody.example.com"),
        Outcome::Deny {
            denial: Denial::HostUnknown,
            ..
        }
    ));
}

#[test]
fn the_same_tenants_again_rebuild_nothing_and_move_iat() {
    let config = config_of(&static_config());
    let tenants = json!({"globex": {"hosts": ["globex.example.com"]}});
    let first = adopt_with(&signed(&payload(tenants.clone())), &config, None).expect("first");
    let mut later = payload(tenants);
    later["iat"] = json!(NOW + 60);
    let doc = signed(&later);
    let again = adopt_with(&doc, &config, Some(&first.directory)).expect("again");
    assert!(again.gate.is_none());
    assert_eq!(again.directory.iat, NOW + 60);
    assert_eq!(again.directory.adopted, 1);
    let mut changed =
        payload(json!({"globex": {"hosts": ["globex.example.com", "g.example.com"]}}));
    changed["iat"] = json!(NOW + 60);
    let rebuilt = adopt_with(&signed(&changed), &config, Some(&first.directory)).expect("changed");
    assert!(rebuilt.gate.is_some());
}

#[test]
fn an_equal_iat_is_not_a_replay() {
    let config = config_of(&static_config());
    let doc = signed(&payload(json!({"globex": {}})));
    let first = adopt_with(&doc, &config, None).expect("first");
    adopt_with(&doc, &config, Some(&first.directory)).expect("the same document again");
}

#[test]
fn long_tenant_ids_get_distinct_valid_provider_names() {
    let a = "a".repeat(63);
    let b = format!("{}b", "a".repeat(62));
    let (na, nb) = (idp_name(&a), idp_name(&b));
    assert_ne!(na, nb);
    for name in [&na, &nb, &idp_name("acme")] {
        assert!(crate::config::syntax::is_provider_name(name), "{name}");
    }
    assert_eq!(idp_name("acme"), "acme-idp");
}

#[test]
fn only_refusals_a_directory_could_lift_wait_for_it() {
    for denial in Denial::ALL {
        let expected = matches!(
            denial,
            Denial::HostUnknown | Denial::IssuerNotTrusted | Denial::TenantUnmapped
        );
        assert_eq!(could_allow(denial), expected, "{denial:?}");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let err = DirectoryError::Entry {
        path: "tenants.x.hosts[0]".into(),
        message: "bad".into(),
    };
    assert_eq!(err.to_string(), "tenants.x.hosts[0]: bad");
    let err = DirectoryError::UnknownKey {
        kid: Some("k9".into()),
    };
    assert!(err.to_string().contains("\"k9\""), "{err}");
    // Unused key: a second test key is only there to sign with.
    let _ = KEY_B;
}
