//! Requests decided at once: identity headers, the token's removal, refusals and stats.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

const SPOOFED: [(&str, &str); 3] = [
    ("x-tenant-id", "globex"),
    ("x-user-id", "mallory"),
    ("x-user-roles", "admin"),
];

#[test]
fn identity_headers_sent_by_the_client_are_stripped_whatever_the_decision() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    for (path, expected) in [
        ("/public/x", Verdict::Continue),
        ("/internal", Verdict::Pause),
        ("/api/x", Verdict::Pause),
    ] {
        let (ctx, verdict) = sim.send(request(ACME, path, &SPOOFED));
        assert_eq!(verdict, expected, "{path}");
        let headers = sim.host.headers_of(ctx);
        for (name, _) in SPOOFED {
            assert_eq!(header(&headers, name), None, "{path}: {name} kept");
        }
    }
}

#[test]
fn an_allowed_request_carries_the_verified_identity_and_not_the_token() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = key_a().sign(&claims(
        ISSUER,
        AUDIENCE,
        "acme",
        "alice",
        &["viewer", "editor"],
    ));
    let mut headers = bearer(ACME, &tok);
    headers.extend(SPOOFED.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let (ctx, verdict) = sim.send(headers);
    assert_eq!(verdict, Verdict::Continue);
    assert!(sim.host.replies().is_empty());
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-tenant-id"), Some("acme"));
    assert_eq!(header(&seen, "x-user-id"), Some("alice"));
    assert_eq!(header(&seen, "x-user-roles"), Some("viewer,editor"));
    assert_eq!(seen.iter().filter(|(n, _)| n == "x-user-id").count(), 1);
    assert_eq!(header(&seen, "authorization"), None);
}

#[test]
fn no_roles_header_without_roles() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = key_a().sign(&claims(ISSUER, AUDIENCE, "acme", "alice", &[]));
    let (ctx, _) = sim.send(bearer(ACME, &tok));
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "x-user-id"), Some("alice"));
    assert_eq!(header(&seen, "x-user-roles"), None);
}

#[test]
fn the_token_is_forwarded_only_when_configured() {
    let mut config = config();
    config["headers"] = json!({"forward_token": true});
    let mut sim = Sim::loaded(&config, &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let (ctx, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    let expected = format!("Bearer {tok}");
    assert_eq!(header(&seen, "authorization"), Some(expected.as_str()));
    assert_eq!(header(&seen, "x-user-id"), Some("alice"));
}

#[test]
fn a_token_cookie_is_removed_and_the_other_cookies_kept() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let cookie = format!("a=1; tg_token={tok}; b=2");
    let (ctx, verdict) = sim.send(request(ACME, "/api/x", &[("cookie", &cookie)]));
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    assert_eq!(header(&seen, "cookie"), Some("a=1; b=2"));
    assert_eq!(header(&seen, "x-user-id"), Some("alice"));

    let only = format!("tg_token={tok}");
    let (ctx, _) = sim.send(request(ACME, "/api/x", &[("cookie", &only)]));
    assert_eq!(header(&sim.host.headers_of(ctx), "cookie"), None);
}

#[test]
fn refusals_are_local_replies_from_the_catalogue() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let acme_token = token(&key_a(), "acme", "alice");
    let cases = [
        (request(ACME, "/api/x", &[]), 401, "token_missing"),
        (bearer(GLOBEX, &acme_token), 403, "tenant_mismatch"),
        (request(ACME, "/internal", &[]), 403, "route_denied"),
        (request("nobody.test", "/public", &[]), 403, "host_unknown"),
        (bearer(ACME, "not.a.token"), 401, "token_malformed"),
    ];
    for (headers, status, code) in cases {
        let (ctx, verdict) = sim.send(headers);
        assert_eq!(verdict, Verdict::Pause, "{code}");
        assert_refused(&sim.reply(ctx), status, code);
        assert!(!sim.host.resumed().contains(&ctx));
    }
}

#[test]
fn stats_count_every_outcome_by_denial_and_tenant() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let acme_token = token(&key_a(), "acme", "alice");
    sim.send(bearer(ACME, &acme_token));
    sim.send(bearer(ACME, &acme_token));
    sim.send(request(GLOBEX, "/public/x", &[]));
    sim.send(bearer(GLOBEX, &acme_token));
    sim.send(request(ACME, "/api/x", &[]));
    sim.send(request("nobody.test", "/public", &[]));
    let expected: BTreeMap<String, i64> = [
        ("tenantgate.requests.allowed", 3),
        ("tenantgate.requests.denied", 3),
        ("tenantgate.tenant.acme.allowed", 2),
        ("tenantgate.tenant.acme.denied", 1),
        ("tenantgate.tenant.globex.allowed", 1),
        ("tenantgate.tenant.globex.denied", 1),
        ("tenantgate.tenant._other.denied", 1),
        ("tenantgate.denied.tenant_mismatch", 1),
        ("tenantgate.denied.token_missing", 1),
        ("tenantgate.denied.host_unknown", 1),
        ("tenantgate.jwks.main.fetch.success", 1),
        ("tenantgate.jwks.main.keys", 1),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    assert_eq!(sim.stats(), expected);
    // Every catalogued denial has its counter, defined up front.
    assert_eq!(sim.stat("tenantgate.denied.signature_invalid"), 0);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.failure"), 0);
}
