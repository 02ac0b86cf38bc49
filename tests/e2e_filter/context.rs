//! The tenant context in real Envoy: the host, a path template and a tenant header each name a
//! tenant; every one present must be the token's, a required one must be there, and the
//! upstream's `x-tenant-id` is always the verified tenant.

use super::*;

const SHARED: &str = "api.e2e.test";

/// The e2e policy with a path template, a tenant header, a shared host, and a route that
/// requires the header.
fn context_policy() -> Value {
    let mut policy = policy();
    policy["shared_hosts"] = json!([SHARED]);
    policy["tenant_context"] = json!({"paths": ["/api/tenants/{tenant}/**"], "header": "x-tenant"});
    let strict = json!({"name": "strict", "path": {"prefix": "/api/strict"}, "require": "authenticated",
                        "tenant_context": {"header": "x-tenant", "required": ["header"]}});
    let routes = policy["routes"].as_array_mut().expect("routes");
    routes.insert(0, strict);
    policy
}

fn start(envoy_normalization: bool) -> Option<Gateway> {
    Gateway::start(
        Setup {
            policy: context_policy(),
            envoy_normalization,
            ..Setup::default()
        },
        jwks_with_key1(),
    )
}

#[test]
fn host_path_and_header_must_all_name_the_tokens_tenant() {
    let Some(gw) = start(true) else {
        return;
    };
    let acme = token(&key1(), "acme", "alice", &["viewer"]);
    let hosts = [
        (ACME, Some("acme")),
        (GLOBEX, Some("globex")),
        (SHARED, None),
    ];
    let paths = [
        ("/api/items", None),
        ("/api/tenants/acme/items", Some("acme")),
        ("/api/tenants/globex/items", Some("globex")),
    ];
    let headers = [None, Some("acme"), Some("globex")];
    let mut allowed = 0;
    for (host, by_host) in hosts {
        for (path, by_path) in paths {
            for by_header in headers {
                let what = format!("{host}{path} x-tenant={by_header:?}");
                let mut req = Req::get(host, path).bearer(&acme);
                if let Some(tenant) = by_header {
                    req = req.header("x-tenant", tenant);
                }
                let named = [by_host, by_path, by_header];
                if named.iter().flatten().all(|t| *t == "acme") {
                    let seen = gw.allow(&what, req);
                    assert_identity(&what, &seen, "acme", "alice", &["viewer"]);
                    assert_eq!(
                        seen.header_all("x-tenant"),
                        by_header.into_iter().collect::<Vec<_>>()
                    );
                    allowed += 1;
                } else {
                    gw.deny(&what, req, Denial::TenantMismatch);
                }
            }
        }
    }
    // acme's host and the shared host, each with 4 agreeing path/header combinations.
    assert_eq!(allowed, 8);

    // Sources that disagree are refused before any token is looked at, public routes included.
    gw.deny(
        "host acme, path globex, no token",
        Req::get(ACME, "/api/tenants/globex/items"),
        Denial::TenantMismatch,
    );
    gw.deny(
        "public route, header globex on acme's host",
        Req::get(ACME, "/public/x").header("x-tenant", "globex"),
        Denial::TenantMismatch,
    );
    // Two copies of the header must agree too; a tenant id is compared exactly.
    gw.deny(
        "two tenant headers",
        Req::get(SHARED, "/api/items")
            .bearer(&acme)
            .header("x-tenant", "acme")
            .header("x-tenant", "globex"),
        Denial::TenantMismatch,
    );
    gw.deny(
        "upper-case tenant segment",
        Req::get(SHARED, "/api/tenants/ACME/items").bearer(&acme),
        Denial::TenantMismatch,
    );
    // Agreeing client sources do not make a token another tenant's.
    let globex = token(&key1(), "globex", "bob", &[]);
    gw.deny(
        "globex token, path and header acme on the shared host",
        Req::get(SHARED, "/api/tenants/acme/items")
            .bearer(&globex)
            .header("x-tenant", "acme"),
        Denial::TenantMismatch,
    );
    // A tenant the configuration does not know gets nothing on the shared host.
    let unknown = token(&key1(), "initech", "carol", &[]);
    gw.deny(
        "unlisted tenant on the shared host",
        Req::get(SHARED, "/api/items").bearer(&unknown),
        Denial::TenantMismatch,
    );
    // A host that is neither a tenant's nor shared is still unknown.
    gw.deny(
        "unknown host",
        Req::get("other.e2e.test", "/api/items")
            .bearer(&acme)
            .header("x-tenant", "acme"),
        Denial::HostUnknown,
    );
}

#[test]
fn a_required_header_must_be_present_and_the_upstream_gets_the_verified_tenant() {
    let Some(gw) = start(true) else {
        return;
    };
    let acme = token(&key1(), "acme", "alice", &[]);
    for (what, host) in [("shared host", SHARED), ("tenant host", ACME)] {
        gw.deny(
            &format!("{what} without the required header"),
            Req::get(host, "/api/strict/x").bearer(&acme),
            Denial::TenantContextMissing,
        );
    }
    gw.deny(
        "required header missing, no token",
        Req::get(SHARED, "/api/strict/x"),
        Denial::TenantContextMissing,
    );
    // The route's context replaces the global one: its path template is no source there.
    let seen = gw.allow(
        "required header present",
        Req::get(SHARED, "/api/strict/api/tenants/globex/x")
            .bearer(&acme)
            .header("x-tenant", "acme")
            .header("x-tenant-id", "globex"),
    );
    assert_identity("required header present", &seen, "acme", "alice", &[]);
    assert_eq!(seen.header_all("x-tenant"), ["acme"]);
    gw.deny(
        "required header naming another tenant",
        Req::get(SHARED, "/api/strict/x")
            .bearer(&acme)
            .header("x-tenant", "globex"),
        Denial::TenantMismatch,
    );
}

#[test]
fn the_path_template_sees_the_path_normalized_with_or_without_envoy() {
    for envoy_normalization in [true, false] {
        let Some(gw) = start(envoy_normalization) else {
            return;
        };
        let acme = token(&key1(), "acme", "alice", &[]);
        let mode = if envoy_normalization { "on" } else { "off" };
        for path in [
            "/api/tenants/acme/../globex/items",
            "/api/tenants/./globex/items",
            "/api//tenants/globex/items",
            "/api/tenants/%67lobex/items",
            "/api/x/../tenants/globex",
        ] {
            gw.deny(
                &format!("normalize_path {mode}: {path}"),
                Req::get(ACME, path).bearer(&acme),
                Denial::TenantMismatch,
            );
        }
        gw.allow(
            &format!("normalize_path {mode}: encoded unreserved characters"),
            Req::get(ACME, "/api/tenants/%61cme/items").bearer(&acme),
        );
        // Only when Envoy normalizes does the upstream see the path the filter matched; without
        // it, which dot-segments an upstream resolves is the path-consistency checks' concern.
        if envoy_normalization {
            let path = "/api/tenants/globex/../acme/items";
            let what = format!("normalize_path {mode}: {path}");
            let seen = gw.allow(&what, Req::get(ACME, path).bearer(&acme));
            assert_eq!(seen.path, "/api/tenants/acme/items", "{what}");
        }
        // A `;` parameter on the tenant segment never reaches a template: with the default
        // `path_parameters: "refuse"` the path itself is refused.
        gw.deny(
            &format!("normalize_path {mode}: segment parameter"),
            Req::get(ACME, "/api/tenants/acme;x=globex/items").bearer(&acme),
            Denial::PathInvalid,
        );
    }
}
