//! The filter end to end: `tenantgate.wasm` in Envoy 1.40 (V8) in front of an echo upstream, keys
//! fetched from a JWKS server through an Envoy cluster. Each test asserts what a client gets
//! (status, `WWW-Authenticate`, the JSON `error` code) and what the upstream received.

use tenantgate_testkit as support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tenantgate_core::denial::Denial;

use support::keys::{self, claims};
use support::{
    wait_until, EchoUpstream, Envoy, EnvoyBuilder, JwksMode, JwksServer, Req, Resp, ServerRequest,
    TestKey,
};

const REALM: &str = "tenantgate-e2e";
const ISSUER: &str = "https://issuer.e2e.test";
const AUDIENCE: &str = "api";
const ACME: &str = "acme.e2e.test";
const GLOBEX: &str = "globex.e2e.test";
const JWKS_CLUSTER: &str = "jwks";
const MAX_TOKEN_BYTES: usize = 4096;
const RETRY_AFTER: u64 = 7;

/// The policy under test; tests change fields of it.
fn policy() -> Value {
    json!({
        "realm": REALM,
        "max_token_bytes": MAX_TOKEN_BYTES,
        "providers": [{
            "name": "main",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "token_sources": [{"type": "bearer"}, {"type": "cookie", "name": "tg_token"}],
            "jwks": {
                "remote": {
                    "cluster": JWKS_CLUSTER,
                    "uri": "http://jwks.e2e.test/.well-known/jwks.json",
                    "timeout_ms": 1000
                },
                "backoff_initial_ms": 100,
                "backoff_max_ms": 400
            }
        }],
        "tenants": {
            "acme": {"hosts": [ACME]},
            "globex": {"hosts": [GLOBEX]}
        },
        "routes": [
            {"name": "public", "path": {"prefix": "/public"}, "require": "public"},
            {"name": "admin", "path": {"prefix": "/admin"},
             "require": {"roles": {"any_of": ["admin", "owner"]}}},
            {"name": "reports-write", "path": {"glob": "/reports/**"}, "methods": ["POST", "PUT"],
             "require": {"roles": {"all_of": ["analyst", "editor"]}}},
            {"name": "reports-read", "path": {"glob": "/reports/**"}, "require": "authenticated"},
            {"name": "internal", "path": {"prefix": "/internal"}, "require": "deny"},
            {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
        ],
        "default_requirement": "deny",
        "jwks_wait_ms": 3000,
        "retry_after_seconds": RETRY_AFTER
    })
}

/// Envoy with the filter, the echo upstream and the JWKS server.
struct Gateway {
    envoy: Envoy,
    upstream: EchoUpstream,
    jwks: JwksServer,
}

struct Setup {
    policy: Value,
    concurrency: u32,
    envoy_normalization: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            policy: policy(),
            concurrency: 1,
            envoy_normalization: true,
        }
    }
}

impl Gateway {
    /// `None` when the artifacts are missing outside CI (the test is skipped).
    fn start(setup: Setup, jwks: JwksServer) -> Option<Gateway> {
        let artifacts = support::artifacts()?;
        let upstream = EchoUpstream::start();
        let envoy = EnvoyBuilder::new(&artifacts.envoy)
            .filter(&artifacts.wasm, &setup.policy)
            .upstream(upstream.port())
            .cluster(JWKS_CLUSTER, jwks.port())
            .concurrency(setup.concurrency)
            .envoy_normalization(setup.envoy_normalization)
            .start();
        Some(Gateway {
            envoy,
            upstream,
            jwks,
        })
    }

    /// Sends `req` with a fresh `x-request-id`; the response, and the request as the upstream
    /// received it (`None`: it never got there).
    fn send(&self, req: Req) -> (Resp, Option<ServerRequest>) {
        let id = support::request_id();
        let resp = self.envoy.send(&req.header("x-request-id", &id));
        (resp, self.upstream.find(&id))
    }

    /// Asserts the request reached the upstream and got its 200; returns what the upstream saw.
    fn allow(&self, what: &str, req: Req) -> ServerRequest {
        let (resp, seen) = self.send(req);
        assert_eq!(
            resp.status,
            200,
            "{what}: expected 200, got {}",
            resp.summary()
        );
        let seen = seen.unwrap_or_else(|| panic!("{what}: 200 but the upstream saw nothing"));
        // The 200 is the upstream's own answer (its echo), not a local reply.
        assert_eq!(resp.json()["path"], json!(seen.path), "{what}");
        seen
    }

    /// Asserts the catalogued refusal: status, `WWW-Authenticate`, JSON body; and that the
    /// upstream never saw the request.
    fn deny(&self, what: &str, req: Req, denial: Denial) -> Resp {
        let (resp, seen) = self.send(req);
        assert_refusal(what, &resp, denial);
        assert!(
            seen.is_none(),
            "{what}: refused but the upstream received {seen:?}"
        );
        resp
    }
}

/// A refusal exactly as `src/denial.rs` catalogs it.
fn assert_refusal(what: &str, resp: &Resp, denial: Denial) {
    let expected = format!(
        "{} {:?} {}",
        denial.status(),
        denial.www_authenticate(REALM),
        denial.code()
    );
    let got = format!(
        "{} {:?} {}",
        resp.status,
        resp.header("www-authenticate").unwrap_or("<none>"),
        resp.error_code()
            .unwrap_or_else(|| format!("<body {:?}>", resp.text()))
    );
    assert_eq!(got, expected, "{what}: wrong refusal; body {}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(resp.json()["message"], denial.message(), "{what}");
    if denial == Denial::KeysUnavailable {
        assert_eq!(
            resp.header("retry-after"),
            Some(RETRY_AFTER.to_string().as_str()),
            "{what}: Retry-After"
        );
    }
}

/// Asserts the identity headers the upstream received: exactly one of each, these values, and
/// no `Authorization` (not forwarded by default).
fn assert_identity(what: &str, seen: &ServerRequest, tenant: &str, user: &str, roles: &[&str]) {
    assert_eq!(
        seen.header_all("x-tenant-id"),
        [tenant],
        "{what}: x-tenant-id"
    );
    assert_eq!(seen.header_all("x-user-id"), [user], "{what}: x-user-id");
    let expected_roles: Vec<String> = if roles.is_empty() {
        Vec::new()
    } else {
        vec![roles.join(",")]
    };
    assert_eq!(
        seen.header_all("x-user-roles"),
        expected_roles,
        "{what}: x-user-roles"
    );
    assert_eq!(
        seen.header("authorization"),
        None,
        "{what}: the token was forwarded"
    );
}

fn assert_no_identity(what: &str, seen: &ServerRequest) {
    for name in ["x-tenant-id", "x-user-id", "x-user-roles"] {
        assert_eq!(
            seen.header_all(name),
            Vec::<&str>::new(),
            "{what}: {name} reached the upstream"
        );
    }
}

fn key1() -> TestKey {
    TestKey::a("key-1")
}

fn key2() -> TestKey {
    TestKey::b("key-2")
}

fn token(key: &TestKey, tenant: &str, user: &str, roles: &[&str]) -> String {
    key.sign(&claims(ISSUER, AUDIENCE, tenant, user, roles))
}

/// A JWKS server with key 1, `max-age=300`.
fn jwks_with_key1() -> JwksServer {
    JwksServer::serving(&keys::jwks(&[&key1()]), 300)
}

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
fn role_rules_any_of_and_all_of() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    let tok = |roles: &[&str]| token(&k, "acme", "u1", roles);

    // any_of [admin, owner]
    gw.allow(
        "admin",
        Req::get(ACME, "/admin/users").bearer(&tok(&["admin"])),
    );
    gw.allow(
        "owner",
        Req::get(ACME, "/admin").bearer(&tok(&["viewer", "owner"])),
    );
    for (what, roles) in [
        ("viewer on admin", &["viewer"][..]),
        ("no roles on admin", &[][..]),
        ("role names are case-sensitive", &["Admin"][..]),
    ] {
        let resp = gw.deny(
            what,
            Req::get(ACME, "/admin/users").bearer(&tok(roles)),
            Denial::RoleRequired,
        );
        assert!(resp
            .header("www-authenticate")
            .is_some_and(|h| h.contains("error=\"insufficient_scope\"")));
    }
    // The prefix is segment-aware: /administrator is not /admin, and falls to the default.
    gw.deny(
        "/administrator is not under /admin",
        Req::get(ACME, "/administrator").bearer(&tok(&["viewer"])),
        Denial::RouteDenied,
    );

    // all_of [analyst, editor] for POST and PUT; other methods fall to the next rule.
    let both = tok(&["analyst", "editor"]);
    gw.allow(
        "analyst+editor POST",
        Req::new("POST", ACME, "/reports/2024/q1")
            .bearer(&both)
            .body(b"{}"),
    );
    gw.deny(
        "analyst only POST",
        Req::new("POST", ACME, "/reports/2024/q1")
            .bearer(&tok(&["analyst"]))
            .body(b"{}"),
        Denial::RoleRequired,
    );
    gw.deny(
        "editor only PUT",
        Req::new("PUT", ACME, "/reports/q1").bearer(&tok(&["editor"])),
        Denial::RoleRequired,
    );
    let seen = gw.allow(
        "analyst GET takes the read rule",
        Req::get(ACME, "/reports/2024/q1").bearer(&tok(&["analyst"])),
    );
    assert_identity("reports read", &seen, "acme", "u1", &["analyst"]);
}

#[test]
fn public_routes_need_no_token_and_unmatched_routes_are_denied() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let seen = gw.allow("public, no token", Req::get(ACME, "/public/info"));
    assert_no_identity("public", &seen);
    gw.allow("public prefix itself", Req::get(GLOBEX, "/public"));

    // Default deny: a path no rule matches, whatever the token.
    let admin = token(&key1(), "acme", "alice", &["admin", "owner"]);
    let resp = gw.deny(
        "no rule matches",
        Req::get(ACME, "/elsewhere").bearer(&admin),
        Denial::RouteDenied,
    );
    assert_eq!(
        resp.header("www-authenticate"),
        Some(format!("Bearer realm=\"{REALM}\"").as_str())
    );
    gw.deny("root path", Req::get(ACME, "/"), Denial::RouteDenied);
    // An explicit deny rule.
    gw.deny(
        "deny rule",
        Req::get(ACME, "/internal/metrics").bearer(&admin),
        Denial::RouteDenied,
    );
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

#[test]
fn credentials_are_found_exactly_once_and_verified() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    let good_claims = claims(ISSUER, AUDIENCE, "acme", "alice", &["viewer"]);
    let good = k.sign(&good_claims);
    let api = || Req::get(ACME, "/api/x");

    // Missing: 401 with a bare challenge (no error attribute).
    let resp = gw.deny("no token", api(), Denial::TokenMissing);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(format!("Bearer realm=\"{REALM}\"").as_str())
    );
    gw.deny(
        "another scheme only",
        api().header("Authorization", "Basic YWxpY2U6c2VjcmV0"),
        Denial::TokenMissing,
    );

    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let seen = gw.allow(
            &format!("scheme {scheme}"),
            api().header("Authorization", &format!("{scheme} {good}")),
        );
        assert_identity(scheme, &seen, "acme", "alice", &["viewer"]);
    }

    // Two credentials.
    gw.deny(
        "two Authorization headers",
        api().bearer(&good).bearer(&good),
        Denial::TokenMultiple,
    );
    gw.deny(
        "bearer and cookie",
        api()
            .bearer(&good)
            .header("Cookie", &format!("tg_token={good}")),
        Denial::TokenMultiple,
    );
    gw.deny(
        "the cookie twice",
        api().header("Cookie", &format!("tg_token={good}; tg_token={good}")),
        Denial::TokenMultiple,
    );

    // Size: just under the cap passes, over it is refused before any parsing.
    let mut padded = good_claims.clone();
    let base = k.sign(&padded).len();
    padded["pad"] = json!("p".repeat((MAX_TOKEN_BYTES - base - 40) * 3 / 4));
    let near = k.sign(&padded);
    assert!(
        near.len() <= MAX_TOKEN_BYTES && near.len() > MAX_TOKEN_BYTES - 100,
        "{}",
        near.len()
    );
    gw.allow("token near the cap", api().bearer(&near));
    padded["pad"] = json!("p".repeat(MAX_TOKEN_BYTES));
    let big = k.sign(&padded);
    gw.deny("oversize token", api().bearer(&big), Denial::TokenTooLarge);

    // Claims.
    let now = keys::now();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good_claims.clone();
        f(&mut c);
        k.sign(&c)
    };
    let cases: Vec<(&str, String, Denial)> = vec![
        (
            "expired",
            with(&|c| {
                c["iat"] = json!(now - 600);
                c["nbf"] = json!(now - 600);
                c["exp"] = json!(now - 120);
            }),
            Denial::TokenExpired,
        ),
        (
            "not yet valid",
            with(&|c| c["nbf"] = json!(now + 600)),
            Denial::TokenNotYetValid,
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("other-api")),
            Denial::AudienceMismatch,
        ),
        (
            "audience list without ours",
            with(&|c| c["aud"] = json!(["a", "b"])),
            Denial::AudienceMismatch,
        ),
        (
            "unknown issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
            Denial::IssuerNotTrusted,
        ),
        (
            "no tenant claim",
            with(&|c| {
                c.as_object_mut().expect("object").remove("tenantId");
            }),
            Denial::TenantMissing,
        ),
        (
            "roles not an array",
            with(&|c| c["roles"] = json!("admin")),
            Denial::ClaimInvalid,
        ),
    ];
    for (what, tok, denial) in cases {
        gw.deny(what, api().bearer(&tok), denial);
    }
    // Still good: an audience list containing ours.
    gw.allow(
        "audience list with ours",
        api().bearer(&with(&|c| c["aud"] = json!(["x", AUDIENCE]))),
    );

    // Algorithms other than RS256.
    let jwk_n = k.jwk()["n"].as_str().expect("n").to_string();
    for (what, tok) in [
        ("alg none", keys::unsigned_token(&good_claims)),
        (
            "HS256 keyed with the public key",
            keys::hs256_token(&k.kid, &good_claims, jwk_n.as_bytes()),
        ),
        ("RS384 by the right key", k.sign_rs384(&good_claims)),
        (
            "RS256 signature labelled PS256",
            k.sign_with_header(&json!({"alg": "PS256", "kid": k.kid}), &good_claims),
        ),
    ] {
        gw.deny(what, api().bearer(&tok), Denial::AlgorithmNotAllowed);
    }

    // Signatures.
    let other = TestKey::b(&k.kid);
    gw.deny(
        "signed by another key under our kid",
        api().bearer(&other.sign(&good_claims)),
        Denial::SignatureInvalid,
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let tampered_claims = claims(ISSUER, AUDIENCE, "acme", "alice", &["admin"]);
    parts[1] = keys::b64(tampered_claims.to_string().as_bytes());
    gw.deny(
        "claims changed after signing",
        api().bearer(&parts.join(".")),
        Denial::SignatureInvalid,
    );
    gw.deny(
        "a kid the key set lacks",
        api().bearer(&TestKey::b("no-such-kid").sign(&good_claims)),
        Denial::KeyNotFound,
    );

    // Not a JWS.
    for (what, tok) in [
        ("two segments", "abc.def".to_string()),
        ("bad base64", "###.###.###".to_string()),
        (
            "header not JSON",
            format!("{}.e30.c2ln", keys::b64(b"nope")),
        ),
    ] {
        gw.deny(
            what,
            api().header("Authorization", &format!("Bearer {tok}")),
            Denial::TokenMalformed,
        );
    }

    // The good token still passes after all that (nothing was poisoned).
    gw.allow("good token again", api().bearer(&good));
}

/// A policy whose key set is refreshed every second, for the lifecycle tests.
fn fast_refresh_policy() -> Value {
    let mut policy = policy();
    let jwks = &mut policy["providers"][0]["jwks"];
    jwks["refresh_min_seconds"] = json!(1);
    jwks["refresh_default_seconds"] = json!(1);
    jwks["refresh_max_seconds"] = json!(1);
    policy
}

#[test]
fn jwks_down_at_start_then_up() {
    // Down from the start: the JWKS host refuses connections.
    let jwks = JwksServer::start(JwksMode::Close);
    jwks.go_down();
    let mut policy = policy();
    policy["jwks_wait_ms"] = json!(1500);
    let Some(gw) = Gateway::start(
        Setup {
            policy,
            concurrency: 2,
            ..Setup::default()
        },
        jwks,
    ) else {
        return;
    };
    let k = key1();
    let tok = token(&k, "acme", "alice", &["viewer"]);

    // Public routes need no keys.
    gw.allow("public while keys are down", Req::get(ACME, "/public/x"));

    // Requests that need keys wait for them, up to jwks_wait_ms, then get a 503.
    let started = Instant::now();
    gw.deny(
        "keys never loaded (connection refused)",
        Req::get(ACME, "/api/x").bearer(&tok),
        Denial::KeysUnavailable,
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1300) && waited < Duration::from_secs(6),
        "waited {waited:?} for keys, expected about jwks_wait_ms (1500 ms)"
    );
    let connect_failures = gw.envoy.stat("cluster.jwks.upstream_cx_connect_fail");
    assert!(
        connect_failures >= Some(1),
        "the filter tried to fetch the keys: cluster.jwks.upstream_cx_connect_fail {connect_failures:?}"
    );
    assert_eq!(gw.jwks.fetches(), 0);

    // Up, but closing every connection unanswered.
    gw.jwks.come_up();
    gw.deny(
        "keys never loaded (connection closed)",
        Req::get(ACME, "/api/x").bearer(&tok),
        Denial::KeysUnavailable,
    );
    assert!(
        gw.jwks.fetches() >= 1,
        "failed fetches are retried with backoff"
    );

    gw.jwks.set(JwksMode::Unavailable);
    let seen_before = gw.jwks.fetches();
    gw.deny(
        "keys never loaded (503)",
        Req::get(ACME, "/api/x").bearer(&tok),
        Denial::KeysUnavailable,
    );
    assert!(
        gw.jwks.fetches() > seen_before,
        "failed fetches are retried with backoff"
    );

    // The JWKS comes up: the next retry loads it and requests pass, on every worker.
    gw.jwks.serve_keys(&keys::jwks(&[&k]), 300);
    let mut last = None;
    let recovered = wait_until(Duration::from_secs(10), || {
        let (resp, _) = gw.send(Req::get(ACME, "/api/x").bearer(&tok));
        let ok = resp.status == 200;
        last = Some(resp);
        ok
    });
    assert!(
        recovered,
        "requests still refused after the JWKS came up: {}",
        last.map(|r| r.summary()).unwrap_or_default()
    );
    for i in 0..10 {
        let seen = gw.allow(
            &format!("after recovery {i}"),
            Req::get(ACME, "/api/x").bearer(&token(&k, "acme", &format!("u{i}"), &[])),
        );
        assert_identity("after recovery", &seen, "acme", &format!("u{i}"), &[]);
    }
}

#[test]
fn a_new_kid_is_fetched_at_once() {
    let Some(gw) = Gateway::start(
        Setup {
            concurrency: 2,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    let (k1, k2) = (key1(), key2());
    gw.allow(
        "key 1 before rotation",
        Req::get(ACME, "/api/x").bearer(&token(&k1, "acme", "alice", &[])),
    );
    let fetches = gw.jwks.fetches();

    // The issuer rotates: key 2 is published (max-age 300, so no scheduled refresh is near).
    gw.jwks.serve_keys(&keys::jwks(&[&k1, &k2]), 300);
    let started = Instant::now();
    let seen = gw.allow(
        "first token of key 2",
        Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "bob", &["viewer"])),
    );
    assert_identity("key 2", &seen, "acme", "bob", &["viewer"]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the unknown kid took {:?}",
        started.elapsed()
    );
    assert!(
        gw.jwks.fetches() > fetches,
        "the unknown kid made the filter refetch"
    );
    // Both keys now pass, on every worker.
    for i in 0..8 {
        let key = if i % 2 == 0 { &k1 } else { &k2 };
        gw.allow(
            &format!("after rotation {i}"),
            Req::get(ACME, "/api/x").bearer(&token(key, "acme", &format!("u{i}"), &[])),
        );
    }
}

/// Sends every request at once, each on its own connection (so the kernel spreads them over
/// Envoy's workers), and asserts each reached the upstream with its user.
fn allow_all_at_once(gw: &Gateway, what: &str, reqs: Vec<(String, Req)>) {
    std::thread::scope(|scope| {
        for (user, req) in reqs {
            scope.spawn(move || {
                let seen = gw.allow(&format!("{what} ({user})"), req);
                assert_eq!(seen.header_all("x-user-id"), [user.as_str()], "{what}");
            });
        }
    });
}

/// How many of Envoy's workers accepted a connection on the gateway listener.
fn workers_used(envoy: &Envoy) -> usize {
    envoy
        .stats()
        .iter()
        .filter(|(name, value)| {
            name.starts_with("listener.")
                && name.contains(".worker_")
                && name.ends_with(".downstream_cx_total")
                && **value > 0
        })
        .count()
}

#[test]
fn workers_share_one_fetch_per_envoy() {
    let workers = 4;
    let Some(gw) = Gateway::start(
        Setup {
            concurrency: workers,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    let (k1, k2) = (key1(), key2());
    let batch = |key: &TestKey, prefix: &str| -> Vec<(String, Req)> {
        (0..16)
            .map(|i| {
                let user = format!("{prefix}{i}");
                let req = Req::get(ACME, "/api/x").bearer(&token(key, "acme", &user, &[]));
                (user, req)
            })
            .collect()
    };

    allow_all_at_once(&gw, "key 1", batch(&k1, "a"));
    let used = workers_used(&gw.envoy);
    assert!(
        used >= 2,
        "the requests reached {used} worker(s); the test needs several"
    );
    assert_eq!(
        gw.jwks.fetches(),
        1,
        "{used} workers, each with its own VM, fetched the key set more than once"
    );

    // Rotation: a burst of tokens with the new kid on every worker at once makes one refetch,
    // and every worker waits for it rather than refusing.
    gw.jwks.serve_keys(&keys::jwks(&[&k1, &k2]), 300);
    allow_all_at_once(&gw, "key 2 burst", batch(&k2, "b"));
    assert_eq!(
        gw.jwks.fetches(),
        2,
        "the unknown kid was refetched more than once per Envoy"
    );
}

#[test]
fn a_client_leaving_during_an_unknown_kid_refetch_does_not_lose_the_new_key() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let (k1, k2) = (key1(), key2());
    gw.allow(
        "key 1",
        Req::get(ACME, "/api/x").bearer(&token(&k1, "acme", "alice", &[])),
    );
    // Key 2 is published by a slow JWKS endpoint; the first client with a key-2 token gives up
    // while the refetch it caused is under way.
    gw.jwks.set_delay(Duration::from_millis(800));
    gw.jwks.serve_keys(&keys::jwks(&[&k1, &k2]), 300);
    let fetches = gw.jwks.fetches();
    let gone = Req::get(ACME, "/api/x")
        .bearer(&token(&k2, "acme", "impatient", &[]))
        .timeout(Duration::from_millis(200))
        .try_send(gw.envoy.addr());
    assert!(gone.is_err(), "the client was meant to give up: {gone:?}");
    assert!(
        gw.jwks
            .wait_for_fetches(fetches + 1, Duration::from_secs(5)),
        "the unknown kid caused no refetch"
    );
    std::thread::sleep(Duration::from_millis(1200));
    gw.jwks.set_delay(Duration::ZERO);
    // The key set that refetch brought is in use: key 2 passes, without waiting for the
    // unknown-kid rate limit (30 s) or the scheduled refresh (300 s).
    let seen = gw.allow(
        "key 2 after the first client left",
        Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "patient", &[])),
    );
    assert_identity("key 2", &seen, "acme", "patient", &[]);
}

#[test]
fn a_bad_jwks_response_keeps_the_good_key_set() {
    let Some(gw) = Gateway::start(
        Setup {
            policy: fast_refresh_policy(),
            ..Setup::default()
        },
        JwksServer::serving(&keys::jwks(&[&key1()]), 1),
    ) else {
        return;
    };
    let k1 = key1();
    let fresh = |user: &str| token(&k1, "acme", user, &[]);
    gw.allow(
        "good set",
        Req::get(ACME, "/api/x").bearer(&fresh("before")),
    );

    let bad: [(&str, JwksMode); 4] = [
        (
            "not JSON",
            JwksMode::Serve {
                status: 200,
                body: "{\"keys\": [".into(),
                cache_control: Some("max-age=1".into()),
            },
        ),
        (
            "no usable key",
            JwksMode::Serve {
                status: 200,
                body: json!({"keys": [{"kty": "EC", "kid": "x"}]}).to_string(),
                cache_control: Some("max-age=1".into()),
            },
        ),
        (
            "a 500",
            JwksMode::Serve {
                status: 500,
                body: keys::jwks(&[&key2()]).to_string(),
                cache_control: None,
            },
        ),
        ("a closed connection", JwksMode::Close),
    ];
    for (what, mode) in bad {
        gw.jwks.set(mode);
        let fetches = gw.jwks.fetches();
        assert!(
            gw.jwks
                .wait_for_fetches(fetches + 2, Duration::from_secs(10)),
            "{what}: the filter did not refetch (fetches {})",
            gw.jwks.fetches()
        );
        // A token never seen before, so it is verified against the keys held now.
        let seen = gw.allow(
            &format!("after {what}"),
            Req::get(ACME, "/api/x").bearer(&fresh(what)),
        );
        assert_identity(what, &seen, "acme", what, &[]);
    }

    // A good set replaces it: key 1 is gone, key 2 is in (the refresh really happens).
    gw.jwks.serve_keys(&keys::jwks(&[&key2()]), 1);
    let k2 = key2();
    let replaced = wait_until(Duration::from_secs(10), || {
        gw.send(Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "k2", &[])))
            .0
            .status
            == 200
    });
    assert!(replaced, "the new set was not adopted");
    let resp = gw.deny(
        "key 1 after it left the set",
        Req::get(ACME, "/api/x").bearer(&fresh("after-removal")),
        Denial::KeyNotFound,
    );
    assert_eq!(resp.status, 401);
    let rejected = gw.envoy.wasm_stat("tenantgate.jwks.main.fetch.rejected");
    assert!(
        rejected >= Some(2),
        "rejected JWKS responses counted: {rejected:?}"
    );
}

#[test]
fn stats_count_decisions() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    for _ in 0..3 {
        gw.allow(
            "allowed",
            Req::get(ACME, "/api/x").bearer(&token(&k, "acme", "a", &[])),
        );
    }
    gw.allow("public", Req::get(GLOBEX, "/public"));
    for _ in 0..2 {
        gw.deny("missing", Req::get(ACME, "/api/x"), Denial::TokenMissing);
    }
    gw.deny(
        "mismatch",
        Req::get(GLOBEX, "/api/x").bearer(&token(&k, "acme", "a", &[])),
        Denial::TenantMismatch,
    );
    gw.deny(
        "unknown host",
        Req::get("nobody.test", "/api/x"),
        Denial::HostUnknown,
    );

    let stats = gw.envoy.stats();
    let tg: Vec<String> = stats
        .iter()
        .filter(|(k, _)| k.contains("tenantgate"))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    // Envoy's /stats shows metrics defined by a wasm module in its `wasmcustom.` namespace
    // (Prometheus output drops it, below).
    let get = |name: &str| {
        stats
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or_else(|| panic!("{name} not in /stats; tenantgate stats: {tg:#?}"))
    };
    assert_eq!(get("tenantgate.requests.allowed"), 4);
    assert_eq!(get("tenantgate.requests.denied"), 4);
    assert_eq!(get("tenantgate.denied.token_missing"), 2);
    assert_eq!(get("tenantgate.denied.tenant_mismatch"), 1);
    assert_eq!(get("tenantgate.denied.host_unknown"), 1);
    assert_eq!(get("tenantgate.denied.signature_invalid"), 0);
    assert_eq!(get("tenantgate.tenant.acme.allowed"), 3);
    assert_eq!(get("tenantgate.tenant.acme.denied"), 2);
    assert_eq!(get("tenantgate.tenant.globex.allowed"), 1);
    assert_eq!(get("tenantgate.tenant.globex.denied"), 1);
    assert_eq!(get("tenantgate.tenant._other.denied"), 1);
    assert!(get("tenantgate.jwks.main.fetch.success") >= 1);
    assert_eq!(get("tenantgate.jwks.main.fetch.failure"), 0);
    assert_eq!(get("tenantgate.jwks.main.keys"), 1);

    let prometheus = gw.envoy.admin("/stats/prometheus").text();
    for line in [
        "tenantgate_requests_allowed{} 4",
        "tenantgate_requests_denied{} 4",
        "tenantgate_denied_token_missing{} 2",
        "tenantgate_tenant_acme_allowed{} 3",
    ] {
        assert!(
            prometheus.lines().any(|l| l == line),
            "{line:?} not in /stats/prometheus: {:?}",
            prometheus
                .lines()
                .filter(|l| l.contains("tenantgate"))
                .collect::<Vec<_>>()
        );
    }
}

/// What Envoy does with a configuration the filter refuses: it must never let a request through.
fn refused_configuration(what: &str, config: &str) {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let upstream = EchoUpstream::start();
    let jwks = jwks_with_key1();
    let started = EnvoyBuilder::new(&artifacts.envoy)
        .filter_text(&artifacts.wasm, config)
        .upstream(upstream.port())
        .cluster(JWKS_CLUSTER, jwks.port())
        .try_start();
    match started {
        Err(failure) => {
            // Envoy refused the configuration at start and exited with an error, saying why.
            let status = failure.status.expect("Envoy exited rather than hung");
            assert!(!status.success(), "{what}: Envoy exited 0");
            assert!(
                failure.log.contains("tenantgate: invalid configuration"),
                "{what}: the log does not say why: {}",
                failure.log
            );
        }
        Ok(envoy) => {
            let tok = token(&key1(), "acme", "alice", &["admin"]);
            for req in [
                Req::get(ACME, "/public/x"),
                Req::get(ACME, "/api/x").bearer(&tok),
            ] {
                let resp = envoy.send(&req);
                assert_ne!(resp.status, 200, "{what}: {}", resp.summary());
            }
            assert_eq!(
                upstream.count(),
                0,
                "{what}: a request got through a refused configuration"
            );
            panic!(
                "{what}: Envoy started with a configuration the filter refuses (requests were refused); its log:\n{}",
                envoy.log()
            );
        }
    }
}

#[test]
fn a_bad_configuration_is_refused_by_envoy() {
    refused_configuration("not JSON", "{\"providers\": [");
    let mut unknown_field = policy();
    unknown_field["providerz"] = json!([]);
    refused_configuration("unknown field", &unknown_field.to_string());
    let mut bad_route = policy();
    bad_route["routes"][0]["require"] = json!("sometimes");
    refused_configuration("bad requirement", &bad_route.to_string());
    let mut no_providers = policy();
    no_providers["providers"] = json!([]);
    refused_configuration("no providers", &no_providers.to_string());
}

/// What a path trick must come to.
#[derive(Debug, Clone, Copy)]
enum PathOutcome {
    /// The filter's catalogued refusal.
    Refused(Denial),
    /// Envoy's own 400 before the filter (its normalization rejects the path).
    EnvoyRejects,
    /// Forwarded as public, the upstream seeing this path.
    Public(&'static str),
}

fn path_tricks(envoy_normalization: bool, table: &[(&str, PathOutcome)]) {
    let Some(gw) = Gateway::start(
        Setup {
            envoy_normalization,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    for &(path, expected) in table {
        let what = format!("GET {path} (Envoy normalization {envoy_normalization})");
        match expected {
            PathOutcome::Refused(denial) => {
                gw.deny(&what, Req::get(ACME, path), denial);
            }
            PathOutcome::EnvoyRejects => {
                let (resp, seen) = gw.send(Req::get(ACME, path));
                assert_eq!(resp.status, 400, "{what}: {}", resp.summary());
                assert_eq!(
                    resp.error_code(),
                    None,
                    "{what}: the filter answered, not Envoy"
                );
                assert!(seen.is_none(), "{what}: reached the upstream");
            }
            PathOutcome::Public(upstream_path) => {
                let seen = gw.allow(&what, Req::get(ACME, path));
                assert_no_identity(&what, &seen);
                assert_eq!(seen.path, upstream_path, "{what}");
            }
        }
    }

    // With a token good for /admin, a path that resolves there is decided as /admin: the
    // identity is that of the token, the role rule applies.
    let admin = token(&key1(), "acme", "root", &["admin"]);
    let viewer = token(&key1(), "acme", "eve", &["viewer"]);
    for path in ["/public/../admin/x", "/public/%2e%2e/admin/x", "/admin//x"] {
        let what =
            format!("{path} with a viewer token (Envoy normalization {envoy_normalization})");
        gw.deny(
            &what,
            Req::get(ACME, path).bearer(&viewer),
            Denial::RoleRequired,
        );
        let seen = gw.allow(&what, Req::get(ACME, path).bearer(&admin));
        assert_identity(&what, &seen, "acme", "root", &["admin"]);
        if envoy_normalization {
            assert_eq!(
                seen.path, "/admin/x",
                "{what}: Envoy forwards its normalized path"
            );
        } else {
            assert_eq!(seen.path, path, "{what}: the path is forwarded as sent");
        }
    }
}

/// The tricks both modes treat alike: every one that resolves under /admin needs the admin
/// token, never passes as /public.
const COMMON_PATH_TRICKS: [(&str, PathOutcome); 8] = [
    (
        "/public/../admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    ("/admin//x", PathOutcome::Refused(Denial::TokenMissing)),
    ("//admin", PathOutcome::Refused(Denial::TokenMissing)),
    (
        "/public/%2e%2e/admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    (
        "/public/%2E%2E/admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    ("/public/%zz", PathOutcome::Refused(Denial::PathInvalid)),
    ("/PUBLIC/x", PathOutcome::Refused(Denial::RouteDenied)),
    (
        "/public/x?a=../../admin",
        PathOutcome::Public("/public/x?a=../../admin"),
    ),
];

#[test]
fn path_tricks_with_envoy_normalization() {
    let mut table = COMMON_PATH_TRICKS.to_vec();
    table.extend([
        // Envoy rejects escaped slashes and backslashes, and NUL, itself.
        ("/public%2F..%2Fadmin", PathOutcome::EnvoyRejects),
        ("/public/..%2Fadmin", PathOutcome::EnvoyRejects),
        ("/public/..%5Cadmin", PathOutcome::EnvoyRejects),
        ("/public%5C..%5Cadmin", PathOutcome::EnvoyRejects),
        ("/public/%00", PathOutcome::EnvoyRejects),
        ("/public/x%00", PathOutcome::EnvoyRejects),
        // Envoy resolves these before the filter sees them.
        (
            "/public\\..\\admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        (
            "/public/../../admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        (
            "/public/..;/admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        ("/public/./x", PathOutcome::Public("/public/x")),
        ("/%70ublic/x", PathOutcome::Public("/public/x")),
    ]);
    path_tricks(true, &table);
}

#[test]
fn path_tricks_without_envoy_normalization() {
    let mut table = COMMON_PATH_TRICKS.to_vec();
    table.extend([
        // The filter refuses what upstreams could read two ways.
        (
            "/public%2F..%2Fadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..%2Fadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..%5Cadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public%5C..%5Cadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public\\..\\admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        ("/public/%00", PathOutcome::Refused(Denial::PathInvalid)),
        ("/public/x%00", PathOutcome::Refused(Denial::PathInvalid)),
        (
            "/public/../../admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..;/admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        // Harmless spellings of a public path pass, forwarded as sent.
        ("/public/./x", PathOutcome::Public("/public/./x")),
        ("/%70ublic/x", PathOutcome::Public("/%70ublic/x")),
    ]);
    path_tricks(false, &table);
}
