//! The tenant context in the whole decision: host, path and header against the verified tenant.

use serde_json::{json, Map, Value};

use super::{Gate, Outcome, RequestView};
use crate::config::ContextSource;

const NOW: u64 = 1_800_000_000;

/// A request's header list, names lower case.
type Headers<'a> = [(&'a str, &'a str)];

fn gate() -> Gate {
    let config = json!({
        "providers": [{"name": "corp", "issuer": "https://issuer", "audiences": ["api"],
                       "jwks": {"remote": {"cluster": "idp", "uri": "https://issuer/jwks.json"}}}],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}, "globex": {"hosts": ["globex.example.com"]}},
        "shared_hosts": ["api.example.com"],
        "tenant_context": {"paths": ["/tenants/{tenant}/**"], "header": "x-tenant"},
        "routes": [
            {"name": "public", "path": {"prefix": "/public"}, "require": "public"},
            {"name": "closed", "path": {"prefix": "/closed"}, "require": "deny"},
            {"name": "strict", "path": {"prefix": "/strict"}, "require": "authenticated",
             "tenant_context": {"header": "x-tenant", "required": ["header"]}},
            {"name": "host-only", "path": {"prefix": "/legacy"}, "require": "authenticated",
             "tenant_context": {}}
        ],
        "default_requirement": "authenticated"
    });
    Gate::from_json(config.to_string().as_bytes()).expect("valid configuration")
}

fn claims(tenant: &str) -> Map<String, Value> {
    let claims = json!({"iss": "https://issuer", "aud": "api", "exp": NOW + 60, "sub": "u",
                        "tenantId": tenant});
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// The decision for a token of `tenant` (`None`: no token), as the refusal code or "allow".
fn decide(tenant: Option<&str>, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let gate = gate();
    let req = RequestView {
        method: "GET",
        authority: host,
        path,
        headers,
    };
    let outcome = match tenant {
        Some(tenant) => gate.decide_with_claims(&req, &claims(tenant), NOW),
        None => gate.decide_with_claims(&req, &Map::new(), NOW),
    };
    match outcome {
        Outcome::Allow { identity, .. } => {
            format!("allow {}", identity.map_or("-".into(), |i| i.tenant))
        }
        Outcome::Deny { denial, .. } => denial.code().to_owned(),
        Outcome::AwaitKeys { .. } => "await".into(),
    }
}

#[test]
fn every_source_present_must_name_the_tokens_tenant() {
    let acme = Some("acme");
    let h = |v| [("x-tenant", v)];
    // (host, path, header, expected) for an acme token.
    let cases: [(&str, &str, &Headers, &str); 12] = [
        (
            "acme.example.com",
            "/tenants/acme/x",
            &h("acme"),
            "allow acme",
        ),
        ("acme.example.com", "/tenants/acme/x", &[], "allow acme"),
        ("acme.example.com", "/x", &h("acme"), "allow acme"),
        (
            "acme.example.com",
            "/tenants/globex/x",
            &[],
            "tenant_mismatch",
        ),
        ("acme.example.com", "/x", &h("globex"), "tenant_mismatch"),
        (
            "acme.example.com",
            "/tenants/acme/x",
            &h("globex"),
            "tenant_mismatch",
        ),
        (
            "globex.example.com",
            "/tenants/acme/x",
            &h("acme"),
            "tenant_mismatch",
        ),
        (
            "api.example.com",
            "/tenants/acme/x",
            &h("acme"),
            "allow acme",
        ),
        (
            "api.example.com",
            "/tenants/globex/x",
            &h("acme"),
            "tenant_mismatch",
        ),
        ("api.example.com", "/x", &h("globex"), "tenant_mismatch"),
        ("api.example.com", "/tenants/ACME/x", &[], "tenant_mismatch"),
        ("api.example.com", "/x", &[], "allow acme"),
    ];
    for (host, path, headers, expected) in cases {
        assert_eq!(
            decide(acme, host, path, headers),
            expected,
            "{host}{path} {headers:?}"
        );
    }
    // Sources that disagree are refused whatever the token, and without one.
    assert_eq!(
        decide(None, "acme.example.com", "/tenants/globex/x", &[]),
        "tenant_mismatch"
    );
    assert_eq!(
        decide(None, "acme.example.com", "/public/x", &h("globex")),
        "tenant_mismatch"
    );
    assert_eq!(
        decide(Some("globex"), "acme.example.com", "/tenants/globex/x", &[]),
        "tenant_mismatch"
    );
    // Agreeing sources still need the token's tenant to be theirs.
    assert_eq!(
        decide(Some("globex"), "api.example.com", "/tenants/acme/x", &[]),
        "tenant_mismatch"
    );
    // A deny route says so, whatever the sources.
    assert_eq!(
        decide(acme, "acme.example.com", "/closed/tenants/x", &h("globex")),
        "route_denied"
    );
    // A host that is neither a tenant's nor shared is still unknown.
    assert_eq!(
        decide(acme, "other.example.com", "/x", &h("acme")),
        "host_unknown"
    );
}

#[test]
fn required_sources_and_route_overrides() {
    let acme = Some("acme");
    let h = [("x-tenant", "acme")];
    assert_eq!(
        decide(acme, "api.example.com", "/strict/x", &h),
        "allow acme"
    );
    assert_eq!(
        decide(acme, "api.example.com", "/strict/x", &[]),
        "tenant_context_missing"
    );
    assert_eq!(
        decide(acme, "acme.example.com", "/strict/x", &[]),
        "tenant_context_missing"
    );
    // The route's context replaces the global one: its paths are not sources there.
    assert_eq!(
        decide(acme, "api.example.com", "/strict/tenants/globex", &h),
        "allow acme"
    );
    // With `{}` only the host counts.
    assert_eq!(
        decide(
            acme,
            "acme.example.com",
            "/legacy/x",
            &[("x-tenant", "globex")]
        ),
        "allow acme"
    );
    assert_eq!(
        decide(Some("globex"), "acme.example.com", "/legacy/x", &[]),
        "tenant_mismatch"
    );
}

#[test]
fn shared_hosts_admit_configured_tenants_only_unless_unlisted_are_allowed() {
    assert_eq!(
        decide(Some("initech"), "api.example.com", "/x", &[]),
        "tenant_mismatch"
    );
    let mut config = gate().config().clone();
    config.allow_unlisted_tenants = true;
    let open = Gate::new(config).expect("valid");
    let req = RequestView {
        method: "GET",
        authority: "api.example.com",
        path: "/x",
        headers: &[],
    };
    let outcome = open.decide_with_claims(&req, &claims("initech"), NOW);
    assert!(
        matches!(outcome, Outcome::Allow { identity: Some(ref i), .. } if i.tenant == "initech"),
        "{outcome:?}"
    );
}

#[test]
fn the_place_counts_a_shared_hosts_request_under_the_verified_tenant() {
    let gate = gate();
    let req = RequestView {
        method: "GET",
        authority: "api.example.com",
        path: "/x",
        headers: &[],
    };
    let Outcome::Allow { at, .. } = gate.decide_with_claims(&req, &claims("globex"), NOW) else {
        panic!("allowed");
    };
    assert_eq!(at.tenant, Some(1));
    let Outcome::Deny { at, .. } = gate.decide_with_claims(&req, &Map::new(), NOW) else {
        panic!("refused");
    };
    assert_eq!(at.tenant, None);
}

#[test]
fn explain_lists_the_sources_that_named_a_tenant() {
    let gate = gate();
    let headers = [("x-tenant", "acme")];
    let req = RequestView {
        method: "GET",
        authority: "ACME.example.com:443",
        path: "/a/../tenants/acme/x",
        headers: &headers,
    };
    let found = gate.tenant_sources(&req).expect("valid request");
    assert!(!found.shared_host);
    assert_eq!(
        found.named,
        [
            (ContextSource::Host, 0, "acme".to_owned()),
            (ContextSource::Path, 0, "acme".to_owned()),
            (ContextSource::Header, 0, "acme".to_owned())
        ]
    );
    let req = RequestView {
        authority: "api.example.com",
        path: "/strict",
        ..req
    };
    let found = gate.tenant_sources(&req).expect("valid request");
    assert!(found.shared_host);
    assert_eq!(found.required, [ContextSource::Header]);
    assert_eq!(found.named, [(ContextSource::Header, 0, "acme".to_owned())]);
    assert_eq!(gate.tenant_sources(&RequestView { path: "x", ..req }), None);
}
