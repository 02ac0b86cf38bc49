//! Audit (dry-run) mode in Envoy: refusals reach the upstream named in the would-deny header
//! and without identity, malformed requests are refused all the same, a client's copy of the
//! header never arrives, and the stats count what would have been refused.

use super::*;

const WOULD_DENY: &str = "x-tenantgate-would-deny";

/// The e2e policy with audit mode as given, globally and on the admin route.
fn audit_policy(global: Option<bool>, admin: Option<bool>) -> Value {
    let mut policy = policy();
    if let Some(global) = global {
        policy["audit"] = json!(global);
    }
    if let Some(admin) = admin {
        policy["routes"][1]["audit"] = json!(admin);
    }
    policy
}

fn start(policy: Value) -> Option<Gateway> {
    let setup = Setup {
        policy,
        ..Setup::default()
    };
    Gateway::start(setup, jwks_with_key1())
}

impl Gateway {
    /// Asserts the upstream answered a request the filter would refuse with `code`: it saw the
    /// code in the would-deny header, once, and no identity or token.
    fn would_deny(&self, what: &str, req: Req, denial: Denial) -> ServerRequest {
        let seen = self.allow(what, req);
        assert_eq!(seen.header_all(WOULD_DENY), [denial.code()], "{what}");
        assert_no_identity(what, &seen);
        assert_eq!(
            seen.header("authorization"),
            None,
            "{what}: token forwarded"
        );
        seen
    }
}

#[test]
fn global_audit_passes_policy_refusals_and_enforces_malformed_requests() {
    let Some(gw) = start(audit_policy(Some(true), None)) else {
        return;
    };
    let k = key1();
    let member = token(&k, "acme", "bob", &["member"]);
    gw.would_deny("no token", Req::get(ACME, "/api/x"), Denial::TokenMissing);
    gw.would_deny(
        "other tenant",
        Req::get(GLOBEX, "/api/x").bearer(&member),
        Denial::TenantMismatch,
    );
    gw.would_deny(
        "missing role",
        Req::get(ACME, "/admin/users").bearer(&member),
        Denial::RoleRequired,
    );
    gw.would_deny(
        "deny route",
        Req::get(ACME, "/internal/x").bearer(&member),
        Denial::RouteDenied,
    );
    gw.would_deny(
        "bad signature",
        Req::get(ACME, "/api/x").bearer(&token(&key2(), "acme", "bob", &[])),
        Denial::KeyNotFound,
    );
    // Allowed requests carry their identity and no would-deny header.
    let seen = gw.allow("allowed", Req::get(ACME, "/api/x").bearer(&member));
    assert_identity("allowed", &seen, "acme", "bob", &["member"]);
    assert_eq!(seen.header(WOULD_DENY), None);
}

#[test]
fn malformed_requests_are_refused_in_audit_mode_with_envoy_normalization_on_and_off() {
    for envoy_normalization in [true, false] {
        let setup = Setup {
            policy: audit_policy(Some(true), None),
            envoy_normalization,
            ..Setup::default()
        };
        let Some(gw) = Gateway::start(setup, jwks_with_key1()) else {
            return;
        };
        // What the upstream could read differently than the filter checked it.
        let mut paths = vec!["/public/%zz", "/api;jsessionid=1/x", "/admin;x=1"];
        if !envoy_normalization {
            // With Envoy's normalization these are rejected or resolved before the filter.
            paths.extend(["/api/a%2Fb", "/public/..;/admin", "/public/../../admin"]);
        }
        for path in paths {
            let what = format!("{path} (Envoy normalization {envoy_normalization})");
            gw.deny(&what, Req::get(ACME, path), Denial::PathInvalid);
        }
        let member = token(&key1(), "acme", "bob", &[]);
        gw.deny(
            "two credentials",
            Req::get(ACME, "/api/x")
                .bearer(&member)
                .header("cookie", &format!("tg_token={member}")),
            Denial::TokenMultiple,
        );
    }
}

#[test]
fn a_route_overrides_the_global_setting_both_ways() {
    let k = key1();
    let member = token(&k, "acme", "bob", &["member"]);
    let admin = || Req::get(ACME, "/admin/users").bearer(&member);
    let other = || Req::get(GLOBEX, "/api/x").bearer(&member);
    {
        let Some(gw) = start(audit_policy(None, Some(true))) else {
            return;
        };
        gw.would_deny("admin route in audit", admin(), Denial::RoleRequired);
        gw.deny("api route enforced", other(), Denial::TenantMismatch);
    }
    let Some(gw) = start(audit_policy(Some(true), Some(false))) else {
        return;
    };
    gw.deny("admin route enforced", admin(), Denial::RoleRequired);
    gw.would_deny("api route in audit", other(), Denial::TenantMismatch);
    gw.would_deny(
        "default requirement in audit",
        Req::get(ACME, "/elsewhere"),
        Denial::RouteDenied,
    );
}

#[test]
fn client_copies_of_the_would_deny_header_never_arrive() {
    let Some(gw) = start(audit_policy(Some(true), None)) else {
        return;
    };
    let member = token(&key1(), "acme", "bob", &[]);
    let spoof = |req: Req| {
        req.header(WOULD_DENY, "none")
            .header("x_tenantgate_would_deny", "none")
            .header("X-Tenantgate-Would_Deny", "none")
    };
    let seen = gw.allow("allowed", spoof(Req::get(ACME, "/api/x").bearer(&member)));
    let seen_public = gw.allow("public", spoof(Req::get(ACME, "/public/x")));
    for (what, seen) in [("allowed", seen), ("public", seen_public)] {
        assert_eq!(seen.header(WOULD_DENY), None, "{what}");
        assert_eq!(seen.header("x_tenantgate_would_deny"), None, "{what}");
    }
    let seen = gw.would_deny(
        "refused",
        spoof(Req::get(ACME, "/api/x")),
        Denial::TokenMissing,
    );
    assert_eq!(seen.header("x_tenantgate_would_deny"), None);
}

#[test]
fn audit_stats_count_what_would_have_been_refused() {
    let Some(gw) = start(audit_policy(None, Some(true))) else {
        return;
    };
    let member = token(&key1(), "acme", "bob", &["member"]);
    for _ in 0..2 {
        gw.would_deny(
            "missing role",
            Req::get(ACME, "/admin/x").bearer(&member),
            Denial::RoleRequired,
        );
    }
    gw.would_deny(
        "no token",
        Req::get(GLOBEX, "/admin/x"),
        Denial::TokenMissing,
    );
    gw.deny("enforced", Req::get(ACME, "/api/x"), Denial::TokenMissing);
    gw.allow("allowed", Req::get(ACME, "/api/x").bearer(&member));

    let stats = gw.envoy.stats();
    let get = |name: &str| {
        stats
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or_else(|| panic!("{name} not in /stats"))
    };
    assert_eq!(get("tenantgate.audit.would_deny"), 3);
    assert_eq!(get("tenantgate.audit.denied.role_required"), 2);
    assert_eq!(get("tenantgate.audit.denied.token_missing"), 1);
    assert_eq!(get("tenantgate.tenant.acme.would_deny"), 2);
    assert_eq!(get("tenantgate.tenant.globex.would_deny"), 1);
    assert_eq!(get("tenantgate.requests.denied"), 1);
    assert_eq!(get("tenantgate.requests.allowed"), 1);
    assert!(!stats.contains_key("wasmcustom.tenantgate.audit.denied.path_invalid"));
}
