//! gRPC through the filter, end to end: the real `tenantgate.wasm` in Envoy, HTTP/2 to a Python
//! gRPC upstream (grpcio), calls made by a Python gRPC client. An allowed call reaches the
//! server with the verified identity in its metadata; a refused one is a gRPC status the client
//! reads (trailers-only, HTTP 200), with the code the catalog maps the refusal to.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tenantgate_core::denial::Denial;
use tenantgate_testkit as support;

use support::grpc::{self, GrpcCall, GrpcResult, GrpcUpstream};
use support::keys::{self, claims};
use support::{wait_until, Envoy, EnvoyBuilder, JwksServer, Req, TestKey};

const ISSUER: &str = "https://issuer.grpc.test";
const AUDIENCE: &str = "api";
const ACME: &str = "acme.grpc.test";
const GLOBEX: &str = "globex.grpc.test";
const JWKS_CLUSTER: &str = "jwks";
const RETRY_AFTER: u64 = 7;

fn policy() -> Value {
    json!({
        "realm": "tenantgate-grpc",
        "providers": [{
            "name": "main",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "jwks": {
                "remote": {"cluster": JWKS_CLUSTER, "uri": "http://jwks.grpc.test/keys", "timeout_ms": 1000},
                "backoff_initial_ms": 100,
                "backoff_max_ms": 400
            }
        }],
        "tenants": {"acme": {"hosts": [ACME]}, "globex": {"hosts": [GLOBEX]}},
        "routes": [
            {"path": {"prefix": "/tenantgate.test.Echo"}, "require": {"roles": {"any_of": ["caller"]}}}
        ],
        "default_requirement": "deny",
        "jwks_wait_ms": 500,
        "retry_after_seconds": RETRY_AFTER
    })
}

fn key() -> TestKey {
    TestKey::a("grpc-1")
}

fn token(tenant: &str, roles: &[&str]) -> String {
    key().sign(&claims(ISSUER, AUDIENCE, tenant, "alice", roles))
}

/// A call's result, and the metadata the upstream saw of it (`None`: it never got there).
type Outcome = (GrpcResult, Option<Vec<(String, String)>>);

/// Envoy with the filter in front of the gRPC upstream (HTTP/2), and the JWKS server.
struct Gateway {
    envoy: Envoy,
    upstream: GrpcUpstream,
    jwks: JwksServer,
    python: PathBuf,
}

impl Gateway {
    /// `None` when an artifact is missing outside CI (the test is skipped).
    fn start(jwks: JwksServer) -> Option<Gateway> {
        let artifacts = support::artifacts()?;
        let python = grpc::python()?;
        let upstream = GrpcUpstream::start(&python);
        let envoy = EnvoyBuilder::new(&artifacts.envoy)
            .filter(&artifacts.wasm, &policy())
            .upstream(upstream.port())
            .http2_cluster(support::envoy::UPSTREAM_CLUSTER)
            .cluster(JWKS_CLUSTER, jwks.port())
            .start();
        Some(Gateway {
            envoy,
            upstream,
            jwks,
            python,
        })
    }

    /// Makes the calls, each with a fresh `x-request-id`.
    fn call(&self, calls: Vec<GrpcCall>) -> Vec<Outcome> {
        let ids: Vec<String> = calls.iter().map(|_| support::request_id()).collect();
        let calls: Vec<GrpcCall> = calls
            .into_iter()
            .zip(&ids)
            .map(|(call, id)| call.metadata("x-request-id", id))
            .collect();
        let results = grpc::call_all(&self.python, self.envoy.addr(), &calls);
        assert_eq!(results.len(), ids.len());
        results
            .into_iter()
            .zip(&ids)
            .map(|(result, id)| (result, self.upstream.find(id)))
            .collect()
    }
}

/// A refusal as a gRPC client reads it: the catalog's gRPC status, `<message> (<code>)`.
fn assert_grpc_refusal(what: &str, got: &Outcome, denial: Denial) {
    let (result, seen) = got;
    assert_eq!(
        (result.code_value, result.details.as_str()),
        (
            u64::from(denial.grpc_status().code()),
            denial.to_string().as_str()
        ),
        "{what}: {result:?}"
    );
    assert_eq!(result.code, denial.grpc_status().name(), "{what}");
    assert!(
        result
            .trailer("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=\"tenantgate-grpc\"")),
        "{what}: {result:?}"
    );
    assert!(
        seen.is_none(),
        "{what}: refused but the upstream saw {seen:?}"
    );
}

fn values<'a>(metadata: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    metadata
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn grpc_calls_are_allowed_with_identity_or_refused_with_grpc_statuses() {
    let Some(gw) = Gateway::start(JwksServer::serving(&keys::jwks(&[&key()]), 300)) else {
        return;
    };
    let caller = token("acme", &["caller"]);
    let viewer = token("acme", &["viewer"]);
    let results = gw.call(vec![
        GrpcCall::echo(ACME)
            .bearer(&caller)
            .metadata("x-tenant-id", "globex")
            .metadata("x_tenant_id", "globex"),
        GrpcCall::echo(ACME),
        GrpcCall::echo(GLOBEX).bearer(&caller),
        GrpcCall::echo(ACME).bearer(&viewer),
        GrpcCall::echo(ACME).bearer("not.a.token"),
    ]);

    let (allowed, seen) = &results[0];
    assert_eq!(allowed.code, "OK", "{allowed:?}");
    let seen = seen
        .as_ref()
        .expect("the allowed call reached the upstream");
    assert_eq!(values(seen, "x-tenant-id"), ["acme"]);
    assert_eq!(values(seen, "x-user-id"), ["alice"]);
    assert_eq!(values(seen, "x-user-roles"), ["caller"]);
    assert_eq!(values(seen, "x_tenant_id"), Vec::<&str>::new());
    assert_eq!(values(seen, "authorization"), Vec::<&str>::new());
    let echoed: Value =
        serde_json::from_str(allowed.response.as_deref().unwrap_or_default()).expect("echo");
    assert_eq!(echoed["method"], grpc::ECHO_METHOD);

    assert_grpc_refusal("no token", &results[1], Denial::TokenMissing);
    assert_grpc_refusal("another tenant's host", &results[2], Denial::TenantMismatch);
    assert_grpc_refusal("without the role", &results[3], Denial::RoleRequired);
    assert_grpc_refusal("a malformed token", &results[4], Denial::TokenMalformed);
}

#[test]
fn a_grpc_refusal_is_a_trailers_only_http_200() {
    let Some(gw) = Gateway::start(JwksServer::serving(&keys::jwks(&[&key()]), 300)) else {
        return;
    };
    // The HTTP view of the same answer: status 200, the gRPC status in the one header block,
    // no body.
    let cases = [
        (grpc::ECHO_METHOD, Denial::TokenMissing),
        ("/tenantgate.test.Echo/Call;x=1", Denial::PathInvalid),
        ("/other.Service/Call", Denial::RouteDenied),
    ];
    for (path, denial) in cases {
        let resp = gw.envoy.send(
            &Req::new("POST", ACME, path)
                .header("content-type", "application/grpc")
                .header("te", "trailers"),
        );
        assert_eq!(resp.status, 200, "{path}: {}", resp.summary());
        assert!(resp.body.is_empty(), "{path}: a body {:?}", resp.text());
        assert_eq!(resp.header("content-type"), Some("application/grpc"));
        let status = denial.grpc_status().code().to_string();
        assert_eq!(resp.header("grpc-status"), Some(status.as_str()), "{path}");
        assert_eq!(
            resp.header("grpc-message"),
            Some(denial.grpc_message().as_str()),
            "{path}"
        );
    }
    // A plain HTTP client still gets the HTTP refusal.
    let resp = gw.envoy.send(&Req::new("POST", ACME, grpc::ECHO_METHOD));
    assert_eq!(resp.status, 401);
    assert_eq!(resp.error_code().as_deref(), Some("token_missing"));
}

#[test]
fn grpc_calls_while_keys_load_are_unavailable() {
    let jwks = JwksServer::serving(&keys::jwks(&[&key()]), 300);
    jwks.go_down();
    let Some(gw) = Gateway::start(jwks) else {
        return;
    };
    let caller = token("acme", &["caller"]);
    let results = gw.call(vec![GrpcCall::echo(ACME).bearer(&caller)]);
    assert_grpc_refusal("keys not loaded", &results[0], Denial::KeysUnavailable);
    assert_eq!(
        results[0].0.trailer("retry-after"),
        Some(RETRY_AFTER.to_string().as_str())
    );

    gw.jwks.come_up();
    let allowed = wait_until(Duration::from_secs(10), || {
        let results = gw.call(vec![GrpcCall::echo(ACME).bearer(&caller)]);
        results[0].0.code == "OK" && results[0].1.is_some()
    });
    assert!(allowed, "calls are allowed once the keys load");
}
