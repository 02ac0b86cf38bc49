//! Tenants and identity: a verified token reaches the upstream as its tenant's identity
//! headers, only on its tenant's hosts, and no client can send those headers itself.

use super::*;

#[test]
fn valid_tokens_of_two_tenants_reach_the_upstream_with_their_identity() {
    let Some(gw) = Gateway::start(
        Setup {
            concurrency: 2,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    let k = key1();
    let acme = token(&k, "acme", "alice", &["admin", "viewer"]);
    let globex = token(&k, "globex", "bob", &["viewer"]);

    let seen = gw.allow(
        "acme token on acme",
        Req::get(ACME, "/api/items?x=1").bearer(&acme),
    );
    assert_identity("acme", &seen, "acme", "alice", &["admin", "viewer"]);
    assert_eq!(seen.path, "/api/items?x=1", "the path is not rewritten");

    let seen = gw.allow(
        "globex token on globex",
        Req::get(GLOBEX, "/api/items").bearer(&globex),
    );
    assert_identity("globex", &seen, "globex", "bob", &["viewer"]);

    // The host may carry a port and any case; it is the same tenant.
    let seen = gw.allow(
        "host with port and upper case",
        Req::get("ACME.e2e.test:8443", "/api/x").bearer(&acme),
    );
    assert_identity("host variant", &seen, "acme", "alice", &["admin", "viewer"]);

    // A token without roles: no roles header at all.
    let plain = token(&k, "acme", "carol", &[]);
    let seen = gw.allow(
        "token without roles",
        Req::get(ACME, "/api/x").bearer(&plain),
    );
    assert_identity("no roles", &seen, "acme", "carol", &[]);

    // The cookie source: the token cookie is removed, the other cookies are kept.
    let seen = gw.allow(
        "token in the configured cookie",
        Req::get(ACME, "/api/x").header("Cookie", &format!("a=1; tg_token={acme}; b=2")),
    );
    assert_identity("cookie", &seen, "acme", "alice", &["admin", "viewer"]);
    assert_eq!(
        seen.header_all("cookie"),
        ["a=1; b=2"],
        "other cookies kept"
    );

    // Many requests over new connections land on both workers; each decides the same.
    for i in 0..12 {
        let (tok, host, tenant) = if i % 2 == 0 {
            (&acme, ACME, "acme")
        } else {
            (&globex, GLOBEX, "globex")
        };
        let seen = gw.allow(
            &format!("request {i}"),
            Req::get(host, "/api/loop").bearer(tok),
        );
        assert_eq!(seen.header_all("x-tenant-id"), [tenant]);
    }
}

#[test]
fn forward_token_true_keeps_the_authorization_header() {
    let mut policy = policy();
    policy["headers"] = json!({"forward_token": true, "user": "x-subject"});
    let Some(gw) = Gateway::start(
        Setup {
            policy,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    let tok = token(&key1(), "acme", "alice", &["viewer"]);
    let seen = gw.allow(
        "forwarded token",
        Req::get(ACME, "/api/x")
            .bearer(&tok)
            .header("x-subject", "spoofed")
            .header("x-user-id", "not-an-identity-header-here"),
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {tok}").as_str())
    );
    assert_eq!(
        seen.header_all("x-subject"),
        ["alice"],
        "the renamed user header"
    );
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);
    // With the user header renamed, x-user-id is an ordinary header.
    assert_eq!(
        seen.header_all("x-user-id"),
        ["not-an-identity-header-here"]
    );
}

#[test]
fn tenants_own_their_hosts() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    let acme = token(&k, "acme", "alice", &["admin"]);

    let resp = gw.deny(
        "acme token on globex's host",
        Req::get(GLOBEX, "/api/items").bearer(&acme),
        Denial::TenantMismatch,
    );
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.contains("error=\"insufficient_scope\"")),
        "{}",
        resp.summary()
    );
    assert_eq!(resp.status, 403);

    // An admin of acme is no admin of globex either.
    gw.deny(
        "acme admin on globex admin",
        Req::get(GLOBEX, "/admin/users").bearer(&acme),
        Denial::TenantMismatch,
    );

    // A host no tenant owns: refused before anything else, with or without a token, even on a
    // public path.
    for (what, req) in [
        (
            "unknown host, token",
            Req::get("initech.e2e.test", "/api/x").bearer(&acme),
        ),
        (
            "unknown host, no token",
            Req::get("initech.e2e.test", "/api/x"),
        ),
        (
            "unknown host, public path",
            Req::get("initech.e2e.test", "/public/x"),
        ),
        (
            "sub-domain of a tenant host",
            Req::get("x.acme.e2e.test", "/api/x").bearer(&acme),
        ),
    ] {
        let resp = gw.deny(what, req, Denial::HostUnknown);
        assert_eq!(resp.status, 403);
    }
}

#[test]
fn identity_headers_from_the_client_are_always_removed() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let spoof = |req: Req| {
        req.header("x-tenant-id", "globex")
            .header("X-User-Id", "root")
            .header("x-user-roles", "admin,owner")
            .header("x-tenant-id", "second-copy")
    };
    let k = key1();

    // Public route: none of them reaches the upstream.
    let seen = gw.allow("spoofed on public", spoof(Req::get(ACME, "/public/x")));
    assert_no_identity("spoofed on public", &seen);

    // Allowed: only the verified values, once each.
    let viewer = token(&k, "acme", "alice", &["viewer"]);
    let seen = gw.allow(
        "spoofed on allowed",
        spoof(Req::get(ACME, "/api/x").bearer(&viewer)),
    );
    assert_identity("spoofed on allowed", &seen, "acme", "alice", &["viewer"]);

    // A token without roles: the spoofed roles header is gone, none is set.
    let none = token(&k, "acme", "dave", &[]);
    let seen = gw.allow(
        "spoofed roles, no roles",
        spoof(Req::get(ACME, "/api/x").bearer(&none)),
    );
    assert_identity("spoofed roles, no roles", &seen, "acme", "dave", &[]);

    // Spoofed roles grant nothing.
    gw.deny(
        "spoofed admin role",
        spoof(Req::get(ACME, "/admin/x").bearer(&viewer)),
        Denial::RoleRequired,
    );
    // Spoofed tenant does not move a token to another tenant.
    gw.deny(
        "spoofed tenant",
        spoof(Req::get(GLOBEX, "/api/x").bearer(&viewer)),
        Denial::TenantMismatch,
    );
    gw.deny(
        "spoofed identity without a token",
        spoof(Req::get(ACME, "/api/x")),
        Denial::TokenMissing,
    );
}
