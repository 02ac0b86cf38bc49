//! OIDC discovery end to end: the provider gives only its issuer; Envoy fetches the discovery
//! document, then the key set it names, through the provider's cluster; a document that names
//! another issuer or sends the filter to another host keeps the last good keys and is counted.

use std::time::Duration;

use super::support::{wait_until, JwksMode};
use super::*;

const DOCUMENT_PATH: &str = "/.well-known/openid-configuration";
const JWKS_PATH: &str = "/oauth2/v1/keys";

/// The policy with the key set found through discovery from `ISSUER`, refreshed every second.
fn discovery_policy() -> Value {
    let mut policy = policy();
    policy["providers"][0]["jwks"] = json!({
        "discovery": {"cluster": JWKS_CLUSTER, "timeout_ms": 1000},
        "refresh_min_seconds": 1,
        "refresh_default_seconds": 1,
        "refresh_max_seconds": 1,
        "backoff_initial_ms": 100,
        "backoff_max_ms": 400
    });
    policy
}

fn document(issuer: &str, jwks_uri: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "id_token_signing_alg_values_supported": ["RS256"]
    })
}

fn good_document() -> Value {
    document(ISSUER, &format!("{ISSUER}{JWKS_PATH}"))
}

/// A gateway whose JWKS server serves `doc` and key 1 (max-age 1).
fn start(doc: &Value, concurrency: u32) -> Option<Gateway> {
    let jwks = JwksServer::serving(&keys::jwks(&[&key1()]), 1);
    jwks.serve_discovery(doc);
    Gateway::start(
        Setup {
            policy: discovery_policy(),
            concurrency,
            ..Setup::default()
        },
        jwks,
    )
}

#[test]
fn tokens_verify_with_keys_found_through_discovery() {
    let Some(gw) = start(&good_document(), 2) else {
        return;
    };
    let k1 = key1();
    for i in 0..6 {
        let seen = gw.allow(
            &format!("key 1 through discovery {i}"),
            Req::get(ACME, "/api/x").bearer(&token(&k1, "acme", &format!("u{i}"), &["viewer"])),
        );
        assert_identity("discovery", &seen, "acme", &format!("u{i}"), &["viewer"]);
    }
    let paths = gw.jwks.paths();
    assert_eq!(
        paths.first().map(String::as_str),
        Some(DOCUMENT_PATH),
        "{paths:?}"
    );
    assert_eq!(
        paths.get(1).map(String::as_str),
        Some(JWKS_PATH),
        "{paths:?}"
    );
    // Every fetch is a document and then its key set: as many of one as of the other (give or
    // take the fetch under way).
    let (documents, key_sets) = (gw.jwks.discovery_fetches(), gw.jwks.fetches());
    assert!(
        documents.abs_diff(key_sets) <= 1,
        "documents {documents}, key sets {key_sets}"
    );
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.jwks.main.fetch.rejected"),
        Some(0)
    );

    // Rotation: the refresh reads the document again and loads key 2.
    let k2 = key2();
    gw.jwks.serve_keys(&keys::jwks(&[&k1, &k2]), 1);
    let rotated = wait_until(Duration::from_secs(10), || {
        gw.send(Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "bob", &[])))
            .0
            .status
            == 200
    });
    assert!(rotated, "key 2 was not found through discovery");
}

/// Serves `bad` as the document and key 2 as the key set; asserts that the bad document is
/// refused and counted, the key set it would lead to never fetched, and key 1 kept.
fn a_bad_document_keeps_the_last_good_keys(bad: &Value) {
    let Some(gw) = start(&good_document(), 2) else {
        return;
    };
    let (k1, k2) = (key1(), key2());
    let k1_token = token(&k1, "acme", "alice", &[]);
    gw.allow("key 1 loaded", Req::get(ACME, "/api/x").bearer(&k1_token));

    gw.jwks.serve_discovery(bad);
    let key_sets = gw.jwks.fetches();
    gw.jwks.serve_keys(&keys::jwks(&[&k2]), 1);
    let counted = wait_until(Duration::from_secs(10), || {
        gw.envoy.wasm_stat("tenantgate.jwks.main.fetch.rejected") >= Some(2)
    });
    assert!(counted, "refused documents are counted");
    // The key set's callout is never made, whatever the document says.
    assert!(
        gw.jwks.fetches() <= key_sets + 1,
        "key sets fetched after a bad document: {} then {}",
        key_sets,
        gw.jwks.fetches()
    );
    for i in 0..4 {
        gw.allow(
            &format!("key 1 kept {i}"),
            Req::get(ACME, "/api/x").bearer(&token(&k1, "acme", &format!("k{i}"), &[])),
        );
    }
    gw.deny(
        "key 2, only behind the bad document",
        Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "bob", &[])),
        Denial::KeyNotFound,
    );

    // The good document again: key 2 loads.
    gw.jwks.serve_discovery(&good_document());
    let recovered = wait_until(Duration::from_secs(10), || {
        gw.send(Req::get(ACME, "/api/x").bearer(&token(&k2, "acme", "bob", &[])))
            .0
            .status
            == 200
    });
    assert!(recovered, "key 2 not loaded after the document was fixed");
}

#[test]
fn a_document_naming_another_issuer_keeps_the_last_good_keys() {
    a_bad_document_keeps_the_last_good_keys(&document(
        "https://other.e2e.test",
        &format!("{ISSUER}{JWKS_PATH}"),
    ));
}

#[test]
fn a_jwks_uri_on_another_host_keeps_the_last_good_keys() {
    a_bad_document_keeps_the_last_good_keys(&document(
        ISSUER,
        &format!("https://evil.e2e.test{JWKS_PATH}"),
    ));
}

/// Istio rewrites the filter's configuration on every `WasmPlugin` change. A push under load
/// applies the new policy with no refused request, and fetches neither the discovery document
/// nor the key set again: the new configuration's workers adopt the key set the Envoy holds.
#[test]
fn a_configuration_push_under_load_refuses_nothing_and_fetches_nothing() {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let jwks = JwksServer::serving(&keys::jwks(&[&key1()]), 300);
    jwks.serve_discovery(&good_document());
    let mut policy = discovery_policy();
    for setting in [
        "refresh_min_seconds",
        "refresh_default_seconds",
        "refresh_max_seconds",
    ] {
        policy["providers"][0]["jwks"][setting] = json!(300);
    }
    let upstream = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, &policy)
        .upstream(upstream.port())
        .cluster(JWKS_CLUSTER, jwks.port())
        .concurrency(2)
        .pushable()
        .start();
    let gw = Gateway {
        envoy,
        upstream,
        jwks,
    };
    let k1 = key1();
    let k1_token = token(&k1, "acme", "alice", &[]);
    for i in 0..4 {
        gw.allow(
            &format!("before the push {i}"),
            Req::get(ACME, "/api/x").bearer(&k1_token),
        );
    }
    gw.deny(
        "the new route before the push",
        Req::get(ACME, "/pushed/x"),
        Denial::RouteDenied,
    );
    let fetched = (gw.jwks.discovery_fetches(), gw.jwks.fetches());
    assert_eq!(
        fetched,
        (1, 1),
        "one document and one key set for the Envoy"
    );

    let mut pushed = policy.clone();
    pushed["routes"].as_array_mut().expect("routes").insert(
        0,
        json!({"name": "pushed", "path": {"prefix": "/pushed"}, "require": "public"}),
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    let statuses = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let req = Req::get(ACME, "/api/x").bearer(&k1_token);
                statuses.push(gw.envoy.send(&req).status);
            }
            statuses
        });
        gw.envoy.push_filter_config(&pushed);
        let applied = wait_until(Duration::from_secs(20), || {
            gw.send(Req::get(ACME, "/pushed/x")).0.status == 200
        });
        // Some more load on the new configuration before stopping.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(applied, "the pushed policy never applied");
        load.join().expect("the load thread")
    });
    assert!(statuses.len() >= 10, "too little load: {}", statuses.len());
    let refused: Vec<_> = statuses.iter().filter(|&&s| s != 200).collect();
    assert!(
        refused.is_empty(),
        "{} of {} requests refused across the push: {refused:?}",
        refused.len(),
        statuses.len()
    );
    gw.allow("after the push", Req::get(ACME, "/api/x").bearer(&k1_token));
    assert_eq!(
        (gw.jwks.discovery_fetches(), gw.jwks.fetches()),
        fetched,
        "the push fetched nothing again"
    );
}

/// `oidc-provider` (npm, OpenID Certified) on loopback: the filter finds its keys through its
/// real discovery document, and verifies the RS256 JWT access tokens it issues to a client
/// (client credentials grant, resource indicator as the audience, `scope` space-delimited).
#[test]
fn oidc_provider_tokens_verify_with_keys_found_through_its_discovery() {
    use support::oidc_provider::{OidcProvider, CLIENT_ID, RESOURCE};
    let Some(idp) = OidcProvider::start() else {
        return;
    };
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let policy = json!({
        "realm": REALM,
        "providers": [{
            "name": "oidc",
            "issuer": idp.issuer(),
            "audiences": [RESOURCE],
            "tenant": "acme",
            "jwks": {"discovery": {"cluster": "oidc", "timeout_ms": 2000}}
        }],
        "tenants": {"acme": {"hosts": [ACME]}},
        "routes": [
            {"path": {"prefix": "/orders"}, "methods": ["POST"],
             "require": {"scopes": {"all_of": ["orders:write"]}}},
            {"path": {"prefix": "/orders"}, "require": {"scopes": {"any_of": ["orders:read"]}}}
        ],
        "default_requirement": "deny",
        "jwks_wait_ms": 5000
    });
    let upstream = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, &policy)
        .upstream(upstream.port())
        .cluster("oidc", idp.port())
        .concurrency(2)
        .start();
    let gw = Gateway {
        envoy,
        upstream,
        jwks: JwksServer::start(JwksMode::Unavailable),
    };

    let reader = idp.access_token("orders:read");
    let seen = gw.allow("a read token", Req::get(ACME, "/orders/1").bearer(&reader));
    assert_identity("oidc-provider", &seen, "acme", CLIENT_ID, &[]);
    gw.deny(
        "a read token writes",
        Req::new("POST", ACME, "/orders").bearer(&reader),
        Denial::ScopeRequired,
    );
    let writer = idp.access_token("orders:read orders:write");
    gw.allow(
        "a write token",
        Req::new("POST", ACME, "/orders").bearer(&writer),
    );
    // The same claims signed by a key oidc-provider does not publish.
    let forged = key1().sign(&json!({
        "iss": idp.issuer(), "aud": RESOURCE, "sub": CLIENT_ID, "client_id": CLIENT_ID,
        "scope": "orders:read", "iat": keys::now(), "exp": keys::now() + 300
    }));
    gw.deny(
        "a token of another key",
        Req::get(ACME, "/orders/1").bearer(&forged),
        Denial::KeyNotFound,
    );
    assert_eq!(
        gw.envoy.wasm_stat("tenantgate.jwks.oidc.fetch.rejected"),
        Some(0)
    );
}
