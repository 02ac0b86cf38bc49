//! Onboarding a tenant with no Envoy restart, as a gateway owner does it: the real issuer's admin
//! API adds the tenant, its custom domain and its own IdP; the issuer serves them in its signed
//! tenant directory; Envoy with the real filter fetches that directory through the issuer's
//! cluster, verifies it with the issuer's JWKS and enforces it within the refresh interval.

use tenantgate_testkit as support;
use tenantgate_testkit::issuer as issuer_support;

use std::time::Duration;

use serde_json::{json, Value};

use issuer_support::{Backend, Issuer, Options};
use support::keys::{self, TestKey};
use support::{wait_until_steady, EchoUpstream, Envoy, EnvoyBuilder, JwksServer, Req, Resp};

const ISSUER_CLUSTER: &str = "tenantgate_issuer";
const IDP_CLUSTER: &str = "tenant_idps";
const GLOBEX_DOMAIN: &str = "portal.globex.example";
const GLOBEX_IDP: &str = "https://idp.globex.example";
/// Several directory refreshes (every second), callouts and retries.
const SETTLE: Duration = Duration::from_secs(20);
/// Three ticks of the workers (100 ms each).
const HOLD: Duration = Duration::from_millis(300);

/// Acme is static; every other tenant comes from the issuer's directory.
fn policy() -> Value {
    json!({
        "realm": "tenantgate-onboarding",
        "providers": [{
            "name": "issuer",
            "issuer": issuer_support::ISSUER,
            "audiences": [issuer_support::AUDIENCE],
            "jwks": {
                "remote": {"cluster": ISSUER_CLUSTER, "uri": "http://issuer.test/.well-known/jwks.json",
                           "timeout_ms": 1000},
                "refresh_min_seconds": 1, "refresh_default_seconds": 1, "refresh_max_seconds": 1,
                "backoff_initial_ms": 200, "backoff_max_ms": 500
            }
        }],
        "tenants": {"acme": {"hosts": ["acme.example"]}},
        "directory": {
            "provider": "issuer",
            "remote": {"cluster": ISSUER_CLUSTER, "uri": "http://issuer.test/v1/directory",
                       "timeout_ms": 2000},
            "refresh_seconds": 1,
            "idp_clusters": [IDP_CLUSTER]
        },
        "routes": [
            {"name": "admin", "path": {"prefix": "/api/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
            {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
        ]
    })
}

struct Stack {
    issuer: Issuer,
    upstream: EchoUpstream,
    envoy: Envoy,
}

impl Stack {
    /// The issuer (acme with alice), globex's own IdP and Envoy. `None` when the artifacts are
    /// missing outside CI.
    fn start(idp: &JwksServer) -> Option<Stack> {
        let artifacts = support::artifacts()?;
        let issuer = Issuer::start(Options::new(Backend::Sqlite));
        issuer.tenant("acme", json!({}));
        issuer.member(
            "acme",
            "alice@acme.example",
            Some("alice-pass-1"),
            &["admin"],
        );
        let port = issuer
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("issuer port");
        let upstream = EchoUpstream::start();
        let envoy = EnvoyBuilder::new(&artifacts.envoy)
            .filter(&artifacts.wasm, &policy())
            .upstream(upstream.port())
            .cluster(ISSUER_CLUSTER, port)
            .cluster(IDP_CLUSTER, idp.port())
            .concurrency(2)
            .start();
        Some(Stack {
            issuer,
            upstream,
            envoy,
        })
    }

    fn send(&self, host: &str, token: &str) -> Resp {
        self.envoy
            .send(&Req::get(host, "/api/orders").bearer(token))
    }

    /// Waits until `host` answers `status` to `token`, then returns that answer.
    fn settles(&self, what: &str, host: &str, token: &str, status: u16) -> Resp {
        // Steady for a few ticks: both workers have taken the change in, not only the first.
        let settled = wait_until_steady(SETTLE, HOLD, || self.send(host, token).status == status);
        assert!(
            settled,
            "{what}: never {status}; last answer {:?}; Envoy's log:\n{}",
            self.send(host, token).text(),
            self.envoy.log()
        );
        self.send(host, token)
    }

    fn admin_ok(&self, method: &str, path: &str, body: Option<&Value>) {
        let r = self.issuer.admin(method, path, body);
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text());
    }

    fn access_token(&self, tenant: &str, email: &str, password: &str) -> String {
        let r = self.issuer.sign_in(tenant, email, password, "body");
        assert_eq!(r.status, 200, "sign-in: {}", r.text());
        r.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

fn error_code(resp: &Resp) -> String {
    resp.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// A token of globex's own IdP for `sub`.
fn idp_token(key: &TestKey, sub: &str) -> String {
    let now = keys::now();
    key.sign(&json!({"iss": GLOBEX_IDP, "aud": "globex-api", "sub": sub,
                     "iat": now, "exp": now + 300}))
}

#[test]
fn a_tenant_its_domain_and_its_idp_added_in_the_issuer_are_enforced_with_no_restart() {
    let idp_key = TestKey::b("globex-idp-1");
    let idp = JwksServer::serving(&keys::jwks(&[&idp_key]), 300);
    let Some(s) = Stack::start(&idp) else { return };
    let pid = s.envoy.pid();
    let alice = s.access_token("acme", "alice@acme.example", "alice-pass-1");
    s.settles("static tenant", "acme.example", &alice, 200);

    // Globex exists nowhere yet: its domain is unknown to the gateway.
    s.issuer.tenant("globex", json!({}));
    s.issuer.member(
        "globex",
        "carol@globex.example",
        Some("carol-pass-1"),
        &["member"],
    );
    let carol = s.access_token("globex", "carol@globex.example", "carol-pass-1");
    let before = s.settles("before onboarding", GLOBEX_DOMAIN, &carol, 403);
    assert_eq!(error_code(&before), "host_unknown");

    // The custom domain, set through the issuer's admin API, is enforced after a refresh.
    s.admin_ok(
        "PUT",
        "/admin/tenants/globex/hosts",
        Some(&json!({"hosts": [GLOBEX_DOMAIN]})),
    );
    s.settles("globex's domain", GLOBEX_DOMAIN, &carol, 200);
    let seen = s.upstream.received();
    let last = seen.last().expect("upstream saw the request");
    assert_eq!(last.header("x-tenant-id"), Some("globex"));
    // Still one tenant per token: acme's user on globex's domain, and the other way round.
    let cross = s.send(GLOBEX_DOMAIN, &alice);
    assert_eq!(cross.status, 403, "{}", cross.text());
    assert_eq!(error_code(&cross), "tenant_mismatch");
    assert_eq!(s.send("acme.example", &carol).status, 403);

    // Globex's own IdP: its tokens are accepted on globex's domain, and there only.
    let dave = idp_token(&idp_key, "dave");
    assert_eq!(s.send(GLOBEX_DOMAIN, &dave).status, 401);
    s.admin_ok(
        "PUT",
        "/admin/tenants/globex/idp",
        Some(&json!({"issuer": GLOBEX_IDP, "audiences": ["globex-api"],
                     "jwks": {"remote": {"cluster": IDP_CLUSTER,
                                         "uri": "http://idp.globex.example/keys"}}})),
    );
    s.settles("globex's IdP", GLOBEX_DOMAIN, &dave, 200);
    assert_eq!(s.send("acme.example", &dave).status, 403);

    // Disabled in the issuer, globex leaves the directory and the gateway refuses its domain.
    s.admin_ok("POST", "/admin/tenants/globex/disable", None);
    let gone = s.settles("globex disabled", GLOBEX_DOMAIN, &carol, 403);
    assert_eq!(error_code(&gone), "host_unknown");
    s.settles("static tenant after all", "acme.example", &alice, 200);

    assert_eq!(s.envoy.pid(), pid, "Envoy was never restarted");
    let adopted = s
        .envoy
        .wasm_stat("tenantgate.directory.adopted")
        .unwrap_or(0);
    assert!(adopted >= 3, "each change adopted: {adopted}");
}
