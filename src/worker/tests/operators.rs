//! Operator break-glass in the worker: the target tenant and the acting operator upstream, the
//! per-tenant count, refusals, and client copies of the acting-operator header stripped.

use serde_json::json;

use super::*;

fn with_operators() -> Value {
    let mut config = config();
    config["tenants"]["platform"] = json!({});
    config["routes"] = json!([
        {"path": {"prefix": "/public"}, "require": "public"},
        {"name": "support", "path": {"prefix": "/api/support"}, "require": "authenticated",
         "operators": true},
        {"path": {"prefix": "/api"}, "require": "authenticated"}
    ]);
    config["operators"] = json!({"tenants": ["platform"], "role": "operator",
                                 "max_lifetime_seconds": 600});
    config
}

/// A platform operator's token naming `target`, living `ttl` seconds.
fn operator_token(target: &str, ttl: i64) -> String {
    let mut c = claims(ISSUER, AUDIENCE, "platform", "ops-1", &["operator"]);
    c["target_tenant"] = json!(target);
    c["exp"] = json!(now() + ttl);
    key_a().sign(&c)
}

fn get(host: &str, path: &str, token: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let auth = format!("Bearer {token}");
    let mut headers = request(host, path, &[("authorization", auth.as_str())]);
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

#[test]
fn an_operator_reaches_the_target_tenant_counted_and_named() {
    let mut sim = Sim::loaded(&with_operators(), &[&key_a()]);
    let tok = operator_token("acme", 300);
    let spoofed = [
        ("x-acting-operator", "mallory"),
        ("X_Acting_Operator", "eve"),
    ];
    let (ctx, verdict) = sim.send(get(ACME, "/api/support/t/1", &tok, &spoofed));
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-tenant-id"), Some("acme"));
    assert_eq!(header(&seen, "x-user-id"), Some("ops-1"));
    assert_eq!(header(&seen, "x-acting-operator"), Some("ops-1"));
    assert_eq!(
        seen.iter()
            .filter(|(n, _)| n == "x-acting-operator")
            .count(),
        1
    );
    assert_eq!(header(&seen, "X_Acting_Operator"), None);
    assert_eq!(sim.stat("tenantgate.tenant.acme.operator"), 1);
    assert_eq!(sim.stat("tenantgate.tenant.acme.allowed"), 1);
    assert_eq!(sim.stat("tenantgate.tenant.platform.operator"), 0);

    // A normal token on the same route carries no acting operator, and a client's copy goes.
    let normal = token(&key_a(), "acme", "alice");
    let (ctx, _) = sim.send(get(ACME, "/api/support/t/1", &normal, &spoofed));
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-acting-operator"), None);
    assert_eq!(header(&seen, "X_Acting_Operator"), None);
    assert_eq!(sim.stat("tenantgate.tenant.acme.operator"), 1);
}

#[test]
fn operators_are_refused_elsewhere_too_long_or_for_another_tenant() {
    let mut sim = Sim::loaded(&with_operators(), &[&key_a()]);
    let cases = [
        (
            ACME,
            "/api/billing",
            operator_token("acme", 300),
            403,
            "operator_route_denied",
        ),
        (
            ACME,
            "/api/support",
            operator_token("acme", 601),
            401,
            "operator_lifetime_exceeded",
        ),
        (
            GLOBEX,
            "/api/support",
            operator_token("acme", 300),
            403,
            "operator_target_mismatch",
        ),
    ];
    for (host, path, tok, status, code) in cases {
        let (ctx, verdict) = sim.send(get(host, path, &tok, &[]));
        assert_eq!(verdict, Verdict::Pause, "{code}");
        assert_refused(&sim.reply(ctx), status, code);
        assert_eq!(sim.stat(&format!("tenantgate.denied.{code}")), 1);
    }
    assert_eq!(sim.stat("tenantgate.tenant.acme.operator"), 0);
    assert_eq!(sim.stat("tenantgate.tenant.globex.operator"), 0);
}

#[test]
fn without_operators_no_operator_stats_are_defined_but_the_header_is_stripped() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let (ctx, _) = sim.send(get(ACME, "/api/x", &tok, &[("x-acting-operator", "ops")]));
    assert_eq!(header(&sim.host.headers_of(ctx), "x-acting-operator"), None);
    let stats = sim.stats();
    assert!(stats.contains_key("tenantgate.tenant.acme.allowed"));
    assert!(
        !stats.keys().any(|name| name.ends_with(".operator")),
        "operator stats defined without operators: {stats:?}"
    );
}
