//! Audit (dry-run) mode: refusals counted and passed upstream with the would-deny header, never
//! with an identity; malformed requests and missing keys refused as always.

use serde_json::json;

use super::*;

const WOULD_DENY: &str = "x-tenantgate-would-deny";

/// The unit configuration with an admin route, audit mode as given.
fn audit_config(global: Option<bool>, admin: Option<bool>) -> Value {
    let mut config = config();
    config["routes"] = json!([
        {"path": {"prefix": "/public"}, "require": "public"},
        {"name": "admin", "path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
        {"path": {"prefix": "/api"}, "require": "authenticated"}
    ]);
    if let Some(global) = global {
        config["audit"] = json!(global);
    }
    if let Some(admin) = admin {
        config["routes"][1]["audit"] = json!(admin);
    }
    config
}

fn get(host: &str, path: &str, token: &str) -> Vec<(String, String)> {
    request(host, path, &[("authorization", &format!("Bearer {token}"))])
}

/// Asserts `ctx` went upstream unanswered, naming `code`, without identity or token.
fn assert_passed(sim: &Sim, ctx: u32, verdict: Verdict, code: &str) -> Vec<(String, String)> {
    assert_eq!(verdict, Verdict::Continue, "{code}");
    assert!(sim.host.replies_to(ctx).is_empty(), "{code}: answered");
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, WOULD_DENY), Some(code), "{seen:?}");
    assert_eq!(seen.iter().filter(|(n, _)| n == WOULD_DENY).count(), 1);
    for name in ["x-tenant-id", "x-user-id", "x-user-roles", "authorization"] {
        assert_eq!(
            header(&seen, name),
            None,
            "{code}: {name} upstream: {seen:?}"
        );
    }
    seen
}

#[test]
fn global_audit_passes_refusals_upstream_and_counts_them() {
    let mut sim = Sim::loaded(&audit_config(Some(true), None), &[&key_a()]);
    let (ctx, verdict) = sim.send(request(ACME, "/api/x", &[]));
    assert_passed(&sim, ctx, verdict, "token_missing");
    // A verified token of another tenant, and one lacking a role: still no identity upstream.
    let (ctx, verdict) = sim.send(bearer(GLOBEX, &token(&key_a(), "acme", "alice")));
    assert_passed(&sim, ctx, verdict, "tenant_mismatch");
    let (ctx, verdict) = sim.send(get(ACME, "/admin", &token(&key_a(), "acme", "alice")));
    assert_passed(&sim, ctx, verdict, "role_required");
    let (ctx, verdict) = sim.send(request(ACME, "/nowhere", &[]));
    assert_passed(&sim, ctx, verdict, "route_denied");

    // Allowed requests are untouched: identity, no would-deny header.
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-tenant-id"), Some("acme"));
    assert_eq!(header(&seen, WOULD_DENY), None);

    assert_eq!(sim.stat("tenantgate.audit.would_deny"), 4);
    assert_eq!(sim.stat("tenantgate.audit.denied.token_missing"), 1);
    assert_eq!(sim.stat("tenantgate.audit.denied.tenant_mismatch"), 1);
    assert_eq!(sim.stat("tenantgate.audit.denied.role_required"), 1);
    assert_eq!(sim.stat("tenantgate.audit.denied.route_denied"), 1);
    assert_eq!(sim.stat("tenantgate.tenant.acme.would_deny"), 3);
    assert_eq!(sim.stat("tenantgate.tenant.globex.would_deny"), 1);
    // Neither denied nor allowed: the one allowed request only.
    assert_eq!(sim.stat("tenantgate.requests.denied"), 0);
    assert_eq!(sim.stat("tenantgate.requests.allowed"), 1);
    assert!(sim.host.replies().is_empty());
}

#[test]
fn malformed_requests_and_missing_keys_are_refused_in_audit_mode_too() {
    let config = audit_config(Some(true), None);
    let mut sim = Sim::loaded(&config, &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let cookie = format!("tg_token={tok}");
    let cases = [
        (request(ACME, "/api/a%2Fb", &[]), 400, "path_invalid"),
        (request(ACME, "/api;jsessionid=1", &[]), 400, "path_invalid"),
        (request(ACME, "/../../admin", &[]), 400, "path_invalid"),
        (
            request(
                ACME,
                "/api/x",
                &[
                    ("authorization", &format!("Bearer {tok}")),
                    ("cookie", &cookie),
                ],
            ),
            400,
            "token_multiple",
        ),
    ];
    for (headers, status, code) in cases {
        let (ctx, verdict) = sim.send(headers);
        assert_eq!(verdict, Verdict::Pause, "{code}");
        assert_refused(&sim.reply(ctx), status, code);
        assert_eq!(header(&sim.host.headers_of(ctx), WOULD_DENY), None);
    }
    assert_eq!(sim.stat("tenantgate.audit.would_deny"), 0);
    assert_eq!(sim.stat("tenantgate.requests.denied"), 4);

    // Keys never load: the request waits, then gets its 503.
    let mut sim = Sim::start(&config);
    let (ctx, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Pause);
    sim.run(WAIT_MS + 2 * TICK_MS);
    assert_refused(&sim.reply(ctx), 503, "jwks_unavailable");
    assert_eq!(sim.stat("tenantgate.audit.would_deny"), 0);
}

#[test]
fn a_request_that_waited_for_keys_is_passed_when_they_arrive() {
    let mut sim = Sim::start(&audit_config(Some(true), None));
    let (ctx, verdict) = sim.send(bearer(GLOBEX, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Pause);
    sim.tick(TICK_MS);
    let callout = sim.only_callout();
    sim.answer(callout, &jwks(&[&key_a()]));
    assert!(sim.host.resumed().contains(&ctx), "not resumed");
    assert_passed(&sim, ctx, Verdict::Continue, "tenant_mismatch");
}

#[test]
fn a_route_overrides_the_global_setting_both_ways() {
    let alice = token(&key_a(), "acme", "alice");
    // Global off, the admin route on.
    let mut sim = Sim::loaded(&audit_config(None, Some(true)), &[&key_a()]);
    let (ctx, verdict) = sim.send(get(ACME, "/admin", &alice));
    assert_passed(&sim, ctx, verdict, "role_required");
    let (ctx, verdict) = sim.send(bearer(GLOBEX, &alice));
    assert_eq!(verdict, Verdict::Pause);
    assert_refused(&sim.reply(ctx), 403, "tenant_mismatch");
    // Global on, the admin route off.
    let mut sim = Sim::loaded(&audit_config(Some(true), Some(false)), &[&key_a()]);
    let (ctx, verdict) = sim.send(get(ACME, "/admin", &alice));
    assert_eq!(verdict, Verdict::Pause);
    assert_refused(&sim.reply(ctx), 403, "role_required");
    let (ctx, verdict) = sim.send(bearer(GLOBEX, &alice));
    assert_passed(&sim, ctx, verdict, "tenant_mismatch");
}

#[test]
fn client_copies_of_the_would_deny_header_are_always_stripped() {
    let spoofed = [
        (WOULD_DENY, "none"),
        ("x_tenantgate_would_deny", "none"),
        ("X-Tenantgate-Would_Deny", "none"),
    ];
    for audit in [false, true] {
        let mut sim = Sim::loaded(&audit_config(Some(audit), None), &[&key_a()]);
        let alice = format!("Bearer {}", token(&key_a(), "acme", "alice"));
        let mut allowed: Vec<(&str, &str)> = spoofed.to_vec();
        allowed.push(("authorization", &alice));
        for (path, extra) in [("/api/x", &allowed), ("/public/x", &spoofed.to_vec())] {
            let (ctx, verdict) = sim.send(request(ACME, path, extra));
            assert_eq!(verdict, Verdict::Continue);
            let seen = sim.host.headers_of(ctx);
            for (name, _) in spoofed {
                assert_eq!(header(&seen, name), None, "audit {audit}: {name}: {seen:?}");
            }
        }
        // A refusal audit mode passes carries the filter's value alone.
        let (ctx, verdict) = sim.send(request(ACME, "/api/x", &spoofed));
        if audit {
            let seen = assert_passed(&sim, ctx, verdict, "token_missing");
            for (name, _) in &spoofed[1..] {
                assert_eq!(header(&seen, name), None, "{name}");
            }
        } else {
            assert_refused(&sim.reply(ctx), 401, "token_missing");
        }
    }
}

#[test]
fn the_token_is_removed_unless_forwarded_and_the_header_name_configurable() {
    let mut config = audit_config(Some(true), None);
    config["headers"] = json!({"would_deny": "x-dry-run"});
    let mut sim = Sim::loaded(&config, &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let cookie = format!("a=1; tg_token={tok}; b=2");
    let (ctx, verdict) = sim.send(request(GLOBEX, "/api/x", &[("cookie", &cookie)]));
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-dry-run"), Some("tenant_mismatch"));
    assert_eq!(header(&seen, WOULD_DENY), None);
    assert_eq!(header(&seen, "cookie"), Some("a=1; b=2"));

    config["headers"]["forward_token"] = json!(true);
    let mut sim = Sim::loaded(&config, &[&key_a()]);
    let (ctx, _) = sim.send(bearer(GLOBEX, &tok));
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-dry-run"), Some("tenant_mismatch"));
    assert_eq!(
        header(&seen, "authorization"),
        Some(format!("Bearer {tok}").as_str())
    );
    assert_eq!(header(&seen, "x-tenant-id"), None);
}

#[test]
fn audit_stats_exist_only_where_audit_mode_is_configured() {
    let sim = Sim::loaded(&audit_config(None, None), &[&key_a()]);
    assert!(!sim.host.is_defined("tenantgate.audit.would_deny"));
    assert!(!sim.host.is_defined("tenantgate.tenant.acme.would_deny"));
    let sim = Sim::loaded(&audit_config(Some(false), Some(true)), &[&key_a()]);
    assert!(sim.host.is_defined("tenantgate.audit.would_deny"));
    assert!(sim.host.is_defined("tenantgate.tenant._other.would_deny"));
    // Only the refusals audit mode can pass have a counter.
    assert!(sim.host.is_defined("tenantgate.audit.denied.role_required"));
    assert!(!sim.host.is_defined("tenantgate.audit.denied.path_invalid"));
}
