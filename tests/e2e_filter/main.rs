//! The filter end to end: `tenantgate.wasm` in Envoy 1.40 (V8) in front of an echo upstream, keys
//! fetched from a JWKS server through an Envoy cluster. Each test asserts what a client gets
//! (status, `WWW-Authenticate`, the JSON `error` code) and what the upstream received.
//!
//! One test binary: the shared gateway and assertions are here, the tests by concern in the
//! modules below.

mod audit;
mod cognito;
mod config;
mod context;
mod credentials;
mod directory;
mod discovery;
mod forwarding;
mod host_rs256;
mod idps;
mod jwks;
mod module;
mod operators;
mod paths;
mod requirements;
mod routes;
mod stats;
mod tenancy;

use tenantgate_testkit as support;

use serde_json::{json, Value};
use tenantgate_core::denial::Denial;

use support::keys::{self, claims};
use support::{EchoUpstream, Envoy, EnvoyBuilder, JwksServer, Req, Resp, ServerRequest, TestKey};

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

/// A refusal exactly as `tenantgate_core::denial` catalogs it.
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
    if matches!(
        denial,
        Denial::KeysUnavailable | Denial::DirectoryUnavailable
    ) {
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
