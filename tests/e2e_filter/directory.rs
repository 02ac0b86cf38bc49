//! The signed tenant directory through the real filter in Envoy: tenants, custom hosts and a
//! tenant's own IdP added at run time with no Envoy restart; refused documents (unknown key, one
//! host for two tenants, 10 MB, wrong `typ`, older `iat`) keep the last good one, logged and
//! counted; 503 before the first; and a 10,000-tenant directory. The JWKS server serves the
//! signer's keys and the directory; a second one is a tenant's own IdP.

use std::time::Duration;

use support::server::DIRECTORY_PATH;
use support::{wait_until, wait_until_steady};

use super::*;

const IDP_CLUSTER: &str = "egress";
const IDP_ISSUER: &str = "https://zeta-idp.e2e.test";
const ZETA: &str = "zeta.e2e.test";
const ZETA_PORTAL: &str = "portal.zeta.io";
/// Long enough for several refreshes (every second) and retries.
const SETTLE: Duration = Duration::from_secs(15);
/// Three ticks of the workers (100 ms each): long enough for every worker to take a change in.
const HOLD: Duration = Duration::from_millis(300);

/// The e2e policy with a directory signed by provider `main`, refreshed every second.
fn directory_policy() -> Value {
    let mut policy = policy();
    policy["directory"] = json!({
        "provider": "main",
        "remote": {"cluster": JWKS_CLUSTER, "uri": format!("http://jwks.e2e.test{DIRECTORY_PATH}"),
                   "timeout_ms": 2000},
        "refresh_seconds": 1,
        "idp_clusters": [IDP_CLUSTER]
    });
    policy
}

/// A directory signed by `key` with this header `typ`, issued at `iat`.
fn signed_with(key: &TestKey, typ: &str, iat: i64, tenants: &Value) -> Vec<u8> {
    let header = json!({"alg": "RS256", "typ": typ, "kid": key.kid});
    let payload = json!({"iss": ISSUER, "iat": iat, "tenants": tenants});
    key.sign_with_header(&header, &payload).into_bytes()
}

fn signed(iat: i64, tenants: &Value) -> Vec<u8> {
    signed_with(&key1(), "tenantgate-directory+jwt", iat, tenants)
}

/// Envoy with the directory policy; `idp`: a tenant IdP's JWKS server behind `egress`.
fn start(policy: Value, idp: Option<&JwksServer>) -> Option<Gateway> {
    start_with(policy, idp, 1)
}

fn start_with(policy: Value, idp: Option<&JwksServer>, concurrency: u32) -> Option<Gateway> {
    let artifacts = support::artifacts()?;
    let upstream = EchoUpstream::start();
    let jwks = jwks_with_key1();
    let mut builder = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, &policy)
        .upstream(upstream.port())
        .cluster(JWKS_CLUSTER, jwks.port())
        .concurrency(concurrency);
    if let Some(idp) = idp {
        builder = builder.cluster(IDP_CLUSTER, idp.port());
    }
    Some(Gateway {
        envoy: builder.start(),
        upstream,
        jwks,
    })
}

/// Fetches of the signer's key set (the same server answers the directory's).
fn key_set_fetches(gw: &Gateway) -> usize {
    let paths = gw.jwks.paths();
    paths
        .iter()
        .filter(|p| p.as_str() == "/.well-known/jwks.json")
        .count()
}

fn get(host: &str, token: &str) -> Req {
    Req::get(host, "/api/x").bearer(token)
}

impl Gateway {
    /// Waits until `req` is let through (the directory that allows it is in force).
    fn allowed_soon(&self, what: &str, req: impl Fn() -> Req) -> ServerRequest {
        // Steady for a few ticks: every worker has taken the change in, not only the first.
        let through = wait_until_steady(SETTLE, HOLD, || self.send(req()).0.status == 200);
        assert!(
            through,
            "{what}: never allowed; Envoy's log:\n{}",
            self.envoy.log()
        );
        self.allow(what, req())
    }

    fn directory_stat(&self, name: &str) -> u64 {
        self.envoy
            .wasm_stat(&format!("tenantgate.directory.{name}"))
            .unwrap_or(0)
    }

    /// Serves `bad`, waits until it was refused (a count of `counter` more, the log line
    /// holding `reason`), and checks that the last good directory still holds.
    fn refuses(&self, what: &str, bad: Vec<u8>, counter: &str, reason: &str) {
        let before = self.directory_stat(counter);
        self.jwks.serve_directory(bad);
        let counted = wait_until(SETTLE, || {
            self.directory_stat(counter) > before && self.envoy.log().contains(reason)
        });
        assert!(
            counted,
            "{what}: not counted in {counter} nor logged ({reason:?}); log:\n{}",
            self.envoy.log()
        );
        let zeta = token(&key1(), "zeta", "zed", &[]);
        let seen = self.allow(what, get(ZETA, &zeta));
        assert_identity(what, &seen, "zeta", "zed", &[]);
    }
}

#[test]
fn tenants_and_custom_hosts_from_the_directory_are_enforced_without_a_restart() {
    let Some(gw) = start(directory_policy(), None) else {
        return;
    };
    let zeta = token(&key1(), "zeta", "zed", &["viewer"]);
    // No directory served yet: what only a directory could allow gets no final answer.
    let resp = gw.deny(
        "before the directory",
        get(ZETA_PORTAL, &zeta),
        Denial::DirectoryUnavailable,
    );
    assert_eq!(
        resp.header("retry-after"),
        Some(RETRY_AFTER.to_string().as_str())
    );
    gw.allow(
        "a static tenant meanwhile",
        get(ACME, &token(&key1(), "acme", "alice", &[])),
    );

    let pid = gw.envoy.pid();
    let first = json!({"zeta": {"hosts": [ZETA, ZETA_PORTAL]}});
    gw.jwks.serve_directory(signed(keys::now(), &first));
    let seen = gw.allowed_soon("zeta's custom host", || get(ZETA_PORTAL, &zeta));
    assert_identity("zeta", &seen, "zeta", "zed", &["viewer"]);
    gw.deny(
        "acme on zeta's host",
        get(ZETA, &token(&key1(), "acme", "alice", &[])),
        Denial::TenantMismatch,
    );
    gw.deny(
        "an unknown host now",
        get("nobody.e2e.test", &zeta),
        Denial::HostUnknown,
    );

    let initech = token(&key1(), "initech", "ian", &[]);
    gw.deny(
        "initech before its entry",
        get("initech.e2e.test", &initech),
        Denial::HostUnknown,
    );
    let second =
        json!({"zeta": {"hosts": [ZETA, ZETA_PORTAL]}, "initech": {"hosts": ["initech.e2e.test"]}});
    gw.jwks.serve_directory(signed(keys::now() + 1, &second));
    gw.allowed_soon("initech added", || get("initech.e2e.test", &initech));
    assert_eq!(gw.envoy.pid(), pid, "the same Envoy");
    assert_eq!(gw.directory_stat("tenants"), 2);
    assert!(gw.directory_stat("adopted") >= 2);
    assert_eq!(
        key_set_fetches(&gw),
        1,
        "the signer's key set was fetched once"
    );
}

#[test]
fn a_tenants_own_idp_from_the_directory_is_accepted_for_that_tenant_only() {
    let idp = JwksServer::serving(&keys::jwks(&[&key2()]), 300);
    let Some(gw) = start(directory_policy(), Some(&idp)) else {
        return;
    };
    let tenants = json!({"zeta": {"hosts": [ZETA], "idp": {
        "issuer": IDP_ISSUER, "audiences": ["zeta-api"],
        "jwks": {"remote": {"cluster": IDP_CLUSTER, "uri": "http://idp.e2e.test/keys"}}}}});
    gw.jwks.serve_directory(signed(keys::now(), &tenants));
    let own = key2().sign(&claims(
        IDP_ISSUER,
        "zeta-api",
        "not-a-tenant-claim",
        "zoe",
        &["admin"],
    ));
    let seen = gw.allowed_soon("zeta's own IdP", || get(ZETA, &own));
    assert_identity("zeta's IdP", &seen, "zeta", "zoe", &["admin"]);
    gw.deny(
        "its token on acme's host",
        get(ACME, &own),
        Denial::TenantMismatch,
    );
    gw.deny(
        "its token on an unknown host",
        get("nobody.e2e.test", &own),
        Denial::HostUnknown,
    );
    // Main's tokens still work, for static and directory tenants alike.
    gw.allow(
        "main for acme",
        get(ACME, &token(&key1(), "acme", "alice", &[])),
    );
    gw.allow(
        "main for zeta",
        get(ZETA, &token(&key1(), "zeta", "zed", &[])),
    );
    assert_eq!(
        key_set_fetches(&gw),
        1,
        "the key set already held was not fetched again"
    );
    assert_eq!(idp.fetches(), 1);
    assert_eq!(gw.envoy.wasm_stat("tenantgate.jwks.zeta-idp.keys"), Some(1));
}

#[test]
fn bad_directories_keep_the_last_good_one_logged_and_counted() {
    let Some(gw) = start(directory_policy(), None) else {
        return;
    };
    let iat = keys::now();
    let good = json!({"zeta": {"hosts": [ZETA]}});
    gw.jwks.serve_directory(signed(iat, &good));
    gw.allowed_soon("the good directory", || {
        get(ZETA, &token(&key1(), "zeta", "zed", &[]))
    });

    let unknown = signed_with(&key2(), "tenantgate-directory+jwt", iat + 1, &good);
    gw.refuses(
        "an unknown key",
        unknown,
        "rejected",
        "kid Some(\"key-2\") is not in the provider's key set",
    );
    let two = json!({"zeta": {"hosts": [ZETA]}, "evil": {"hosts": [ZETA]}});
    gw.refuses(
        "one host, two tenants",
        signed(iat + 1, &two),
        "rejected",
        "tenants.zeta.hosts[0]: host \"zeta.e2e.test\" is also a host of tenant \"evil\"",
    );
    gw.refuses(
        "wrong typ",
        signed_with(&key1(), "JWT", iat + 1, &good),
        "rejected",
        "the header's typ is Some(\"JWT\")",
    );
    gw.refuses(
        "an older iat",
        signed(iat - 60, &json!({})),
        "rejected",
        "a replayed document",
    );
    let huge = vec![b'a'; 10 * 1024 * 1024];
    gw.refuses(
        "10 MB",
        huge,
        "rejected",
        "10485760 bytes, more than directory.max_bytes (4194304)",
    );
    assert_eq!(gw.directory_stat("tenants"), 1);
}

#[test]
fn a_directory_of_ten_thousand_tenants_is_adopted_and_served() {
    let Some(gw) = start(directory_policy(), None) else {
        return;
    };
    let tenants: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| {
            (
                format!("t{i:05}"),
                json!({"hosts": [format!("t{i:05}.bulk.e2e.test")]}),
            )
        })
        .collect();
    gw.jwks
        .serve_directory(signed(keys::now(), &Value::Object(tenants)));
    for id in ["t09999", "t00000", "t05000"] {
        let tok = token(&key1(), id, "u", &[]);
        let host = format!("{id}.bulk.e2e.test");
        let seen = gw.allowed_soon(id, || get(&host, &tok));
        assert_identity(id, &seen, id, "u", &[]);
    }
    gw.deny(
        "a tenant's token on another's host",
        get("t00001.bulk.e2e.test", &token(&key1(), "t00002", "u", &[])),
        Denial::TenantMismatch,
    );
    assert_eq!(gw.directory_stat("tenants"), 10_000);
}

#[test]
fn every_worker_enforces_the_directory_one_of_them_fetched() {
    let Some(gw) = start_with(directory_policy(), None, 2) else {
        return;
    };
    gw.jwks
        .serve_directory(signed(keys::now(), &json!({"zeta": {"hosts": [ZETA]}})));
    let zeta = token(&key1(), "zeta", "zed", &[]);
    // Each request is a new connection, which Envoy hands to either worker: once ten in a row
    // pass, both workers hold the directory (one fetched it, the other adopted its publication).
    let both = wait_until(SETTLE, || {
        (0..10).all(|_| gw.send(get(ZETA, &zeta)).0.status == 200)
    });
    assert!(
        both,
        "the workers never both allowed; log:\n{}",
        gw.envoy.log()
    );
    for n in 0..20 {
        let seen = gw.allow(&format!("request {n}"), get(ZETA, &zeta));
        assert_identity("zeta", &seen, "zeta", "zed", &[]);
    }
    assert_eq!(gw.directory_stat("tenants"), 1);
}

/// Zeta's own IdP: key 2, found through its discovery document.
fn zeta_idp() -> JwksServer {
    let idp = JwksServer::serving(&keys::jwks(&[&key2()]), 300);
    idp.serve_discovery(&json!({
        "issuer": IDP_ISSUER, "jwks_uri": format!("{IDP_ISSUER}/keys"),
        "id_token_signing_alg_values_supported": ["RS256"]
    }));
    idp
}

/// A pushable Envoy (two workers) with the directory policy refreshed every 300 s and a
/// directory serving zeta on two hosts with its own IdP (`idp`); also the policy.
fn start_pushable(idp: &JwksServer) -> Option<(Gateway, Value)> {
    let artifacts = support::artifacts()?;
    let mut policy = directory_policy();
    policy["directory"]["refresh_seconds"] = json!(300);
    let upstream = EchoUpstream::start();
    let jwks = jwks_with_key1();
    let zeta = json!({"zeta": {"hosts": [ZETA, ZETA_PORTAL], "idp": {
        "issuer": IDP_ISSUER, "audiences": ["zeta-api"],
        "jwks": {"discovery": {"cluster": IDP_CLUSTER, "timeout_ms": 2000}}}}});
    jwks.serve_directory(signed(keys::now(), &zeta));
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, &policy)
        .upstream(upstream.port())
        .cluster(JWKS_CLUSTER, jwks.port())
        .cluster(IDP_CLUSTER, idp.port())
        .concurrency(2)
        .pushable()
        .start();
    let gw = Gateway {
        envoy,
        upstream,
        jwks,
    };
    Some((gw, policy))
}

fn own_token() -> String {
    key2().sign(&claims(IDP_ISSUER, "zeta-api", "-", "zoe", &["admin"]))
}

/// Sends `load` round robin (each request a new connection) while `push` runs; how many were
/// sent, and each one refused.
fn under_load(gw: &Gateway, load: &[(&str, &str)], push: impl FnOnce()) -> (usize, Vec<String>) {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let (mut sent, mut refused) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (host, bearer) = load[sent % load.len()];
                let resp = gw.envoy.send(&get(host, bearer));
                if resp.status != 200 {
                    refused.push(format!("{host}: {}", resp.summary()));
                }
                sent += 1;
            }
            (sent, refused)
        });
        push();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        sender.join().expect("the load thread")
    })
}

/// The policy with a public route `/pushed` first.
fn with_pushed_route(policy: &Value) -> Value {
    let mut pushed = policy.clone();
    pushed["routes"].as_array_mut().expect("routes").insert(
        0,
        json!({"name": "pushed", "path": {"prefix": "/pushed"}, "require": "public"}),
    );
    pushed
}

/// Istio rewrites the filter's configuration on every `WasmPlugin` change. With a directory in
/// force, a push under load (a new route, the directory section unchanged) refuses no request of
/// a directory tenant, on its custom host with its own IdP's tokens (found through discovery),
/// applies the new route, and fetches neither the directory nor any key set or discovery
/// document again: the new configuration's workers adopt what the Envoy already holds. Every
/// refresh is 300 s, so any fetch after the first ones is one too many.
#[test]
fn a_configuration_push_under_load_keeps_the_directory_and_fetches_nothing() {
    let idp = zeta_idp();
    let Some((gw, policy)) = start_pushable(&idp) else {
        return;
    };
    let (own, acme) = (own_token(), token(&key1(), "acme", "alice", &[]));
    let load = [(ZETA_PORTAL, own.as_str()), (ZETA, &own), (ACME, &acme)];
    // Both workers hold the directory and zeta's keys once ten in a row pass (new connections).
    let both = wait_until(SETTLE, || {
        (0..10).all(|i| gw.send(get(load[i % 2].0, load[i % 2].1)).0.status == 200)
    });
    assert!(both, "zeta never allowed; log:\n{}", gw.envoy.log());
    gw.deny(
        "the new route before the push",
        Req::get(ZETA_PORTAL, "/pushed/x"),
        Denial::RouteDenied,
    );
    let fetches = |gw: &Gateway| {
        [
            gw.jwks.directory_fetches(),
            key_set_fetches(gw),
            idp.discovery_fetches(),
            idp.fetches(),
        ]
    };
    let fetched = fetches(&gw);
    let adopted = gw.directory_stat("adopted");
    assert_eq!(
        fetched,
        [1, 1, 1, 1],
        "one directory, signer key set, zeta discovery document and zeta key set per Envoy"
    );

    let (sent, refused) = under_load(&gw, &load, || {
        gw.envoy.push_filter_config(&with_pushed_route(&policy));
        let applied = wait_until(SETTLE, || {
            gw.send(Req::get(ZETA_PORTAL, "/pushed/x")).0.status == 200
        });
        assert!(
            applied,
            "the pushed policy never applied; log:\n{}",
            gw.envoy.log()
        );
        // More load on the new configuration, on both workers, before stopping.
        for _ in 0..20 {
            let _ = gw.send(Req::get(ZETA_PORTAL, "/pushed/x"));
        }
    });
    assert!(sent >= 10, "too little load: {sent}");
    assert!(
        refused.is_empty(),
        "{} of {sent} requests refused across the push: {refused:?}",
        refused.len()
    );
    for (host, bearer) in load {
        for n in 0..10 {
            gw.allow(&format!("{host} after the push ({n})"), get(host, bearer));
        }
    }
    let seen = gw.allow("zeta's own IdP", get(ZETA_PORTAL, &own));
    assert_identity(
        "zeta's IdP after the push",
        &seen,
        "zeta",
        "zoe",
        &["admin"],
    );
    assert_eq!(fetches(&gw), fetched, "the push fetched nothing again");
    assert!(
        gw.directory_stat("adopted") > adopted,
        "the new configuration's workers adopted the directory the Envoy held"
    );
}

/// A push that changes the directory section (its callout timeout), then one that changes its
/// signer's key source (the same keys at another URI), each start a fresh shared entry: the
/// directory is fetched anew and enforced; key sets whose source is unchanged are kept.
#[test]
fn a_push_that_changes_the_directory_or_its_signer_fetches_it_anew() {
    let idp = zeta_idp();
    let Some((gw, policy)) = start_pushable(&idp) else {
        return;
    };
    let own = own_token();
    gw.allowed_soon("zeta before the pushes", || get(ZETA_PORTAL, &own));
    assert_eq!(gw.jwks.directory_fetches(), 1);
    let mut pushed = with_pushed_route(&policy);
    pushed["directory"]["remote"]["timeout_ms"] = json!(3000);
    let moved = "http://jwks.e2e.test/v2/jwks.json";
    for (n, what) in ["the section", "the signer's key source"]
        .iter()
        .enumerate()
    {
        if n == 1 {
            pushed["providers"][0]["jwks"]["remote"]["uri"] = json!(moved);
            pushed["routes"][0]["path"]["prefix"] = json!("/moved");
        }
        gw.envoy.push_filter_config(&pushed);
        let path = if n == 0 { "/pushed/x" } else { "/moved/x" };
        gw.allowed_soon(what, || Req::get(ZETA_PORTAL, path));
        let fetched_anew = wait_until(SETTLE, || gw.jwks.directory_fetches() > n + 1);
        assert!(
            fetched_anew,
            "{what} changed: the directory is fetched anew"
        );
        let seen = gw.allowed_soon(what, || get(ZETA_PORTAL, &own));
        assert_identity(what, &seen, "zeta", "zoe", &["admin"]);
        gw.allow(what, get(ZETA, &token(&key1(), "zeta", "zed", &[])));
    }
    assert_eq!(
        key_set_fetches(&gw),
        1,
        "the signer's first key source, once"
    );
    let moved_fetches = gw
        .jwks
        .paths()
        .iter()
        .filter(|p| p.as_str() == "/v2/jwks.json")
        .count();
    assert_eq!(moved_fetches, 1, "its new key source, once");
    assert_eq!(
        (idp.discovery_fetches(), idp.fetches()),
        (1, 1),
        "zeta's IdP's were kept"
    );
}
