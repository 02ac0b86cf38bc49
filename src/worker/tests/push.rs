//! A configuration push (Istio rewrites the filter's configuration on every `WasmPlugin`
//! change): the new configuration's workers start in the same Envoy, over the same shared data.
//! With only static policy changed they adopt, while configuring, the directory and every key
//! set the Envoy holds: a directory tenant is served at once and nothing is fetched again. A
//! directory section or signer that changed in a way the document depends on is fetched anew.

use std::rc::Rc;

use serde_json::json;
use tenantgate_testkit::keys::{claims, jwks};

use super::*;

const DIRECTORY_CLUSTER: &str = "issuer";
const IDP_ISSUER: &str = "https://zeta-idp.test";

fn directory_config() -> Value {
    let mut config = config();
    config["directory"] = json!({
        "provider": "main",
        "remote": {"cluster": DIRECTORY_CLUSTER, "uri": "http://issuer.test/v1/directory",
                   "timeout_ms": 1000},
        "refresh_seconds": 300,
        "idp_clusters": ["egress"]
    });
    config
}

/// Zeta on its custom host, with its own IdP (key set behind `egress`).
fn document() -> Vec<u8> {
    let key = key_a();
    let header = json!({"alg": "RS256", "typ": "tenantgate-directory+jwt", "kid": key.kid});
    let tenants = json!({"zeta": {"hosts": ["zeta.test", "portal.zeta.io"], "idp": {
        "issuer": IDP_ISSUER, "audiences": ["zeta-api"],
        "jwks": {"remote": {"cluster": "egress", "uri": "https://zeta-idp.test/keys"}}}}});
    let payload = json!({"iss": ISSUER, "iat": now(), "tenants": tenants});
    key.sign_with_header(&header, &payload).into_bytes()
}

fn own_token() -> String {
    key_b().sign(&claims(IDP_ISSUER, "zeta-api", "-", "zoe", &["admin"]))
}

/// The first configuration's worker on `store`: main's keys, the directory and zeta's IdP's
/// keys fetched, adopted and published.
fn before_the_push(store: &Rc<MemStore>) -> Sim {
    let mut sim = Sim::start_on(&directory_config(), Rc::clone(store), 1);
    sim.tick(TICK_MS);
    let keys = sim.only_callout();
    sim.answer(keys, &jwks(&[&key_a()]));
    let directory = sim.first_callout_to(DIRECTORY_CLUSTER);
    let headers = vec![(":status".to_string(), "200".to_string())];
    sim.answer_raw(directory, headers, document());
    let idp = sim.first_callout_to("egress");
    sim.answer(idp, &jwks(&[&key_b()]));
    let (ctx, verdict) = sim.send(bearer("portal.zeta.io", &own_token()));
    assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));
    assert_eq!(sim.callouts(), 3, "keys, directory, zeta's keys");
    sim
}

impl Sim {
    /// Ticks until a callout to `cluster` went out; its token.
    fn first_callout_to(&mut self, cluster: &str) -> u32 {
        for _ in 0..10 {
            let callouts = self.host.callouts();
            if let Some(callout) = callouts.iter().find(|c| c.cluster == cluster) {
                return callout.token;
            }
            self.tick(TICK_MS);
        }
        panic!("no callout to {cluster}: {:?}", self.host.callouts());
    }
}

/// The pushed configuration's worker, on the same shared data, at `first`'s time.
fn pushed(config: &Value, store: &Rc<MemStore>, first: &Sim) -> Sim {
    let at = first.host.now();
    Sim::start_prepared(config, Rc::clone(store), 2, |host| {
        host.advance(at.saturating_sub(host.now()));
    })
}

#[test]
fn a_push_of_static_policy_adopts_the_directory_and_key_sets_while_configuring() {
    let store = Rc::new(MemStore::default());
    let first = before_the_push(&store);
    let mut config = directory_config();
    config["routes"].as_array_mut().expect("routes").insert(
        0,
        json!({"path": {"prefix": "/pushed"}, "require": "public"}),
    );
    let mut next = pushed(&config, &store, &first);
    // No tick yet: what the worker holds came with its configuration.
    let (ctx, verdict) = next.send(bearer("portal.zeta.io", &own_token()));
    assert_eq!(
        verdict,
        Verdict::Continue,
        "{:?}",
        next.host.replies_to(ctx)
    );
    assert_eq!(
        header(&next.host.headers_of(ctx), "x-tenant-id"),
        Some("zeta")
    );
    let (ctx, verdict) = next.send(bearer("zeta.test", &token(&key_a(), "zeta", "zed")));
    assert_eq!(
        verdict,
        Verdict::Continue,
        "{:?}",
        next.host.replies_to(ctx)
    );
    let (ctx, verdict) = next.send(request("portal.zeta.io", "/pushed/x", &[]));
    assert_eq!(
        verdict,
        Verdict::Continue,
        "{:?}",
        next.host.replies_to(ctx)
    );
    next.run(10_000);
    assert_eq!(next.callouts(), 0, "nothing fetched again");
    assert_eq!(next.stat("tenantgate.directory.adopted"), 1);
    assert_eq!(next.stat("tenantgate.jwks.zeta-idp.keys"), 1);
}

/// A change to a configuration, named.
type Edit = (&'static str, fn(&mut Value));

/// Each change the published document depends on: where it is fetched from, and its signer's
/// key source (the signer's issuer is covered by the core's tests of the shared key).
#[test]
fn a_push_that_changes_the_directory_or_its_signer_fetches_the_directory_anew() {
    let edits: [Edit; 3] = [
        ("another URI", |c| {
            c["directory"]["remote"]["uri"] = json!("http://issuer.test/v2/directory");
        }),
        ("another directory cluster", |c| {
            c["directory"]["remote"]["cluster"] = json!("issuer-2");
        }),
        ("another signer key source", |c| {
            c["providers"][0]["jwks"]["remote"]["uri"] = json!("http://jwks.test/v2/keys");
        }),
    ];
    for (what, edit) in edits {
        let store = Rc::new(MemStore::default());
        let first = before_the_push(&store);
        let mut config = directory_config();
        edit(&mut config);
        let mut next = pushed(&config, &store, &first);
        // Until the new directory is in, what only it could allow waits for it (fail closed).
        let (ctx, _) = next.send(bearer("zeta.test", &token(&key_a(), "zeta", "zed")));
        assert_refused(&next.reply(ctx), 503, "directory_unavailable");
        drop(first);
        if next.stat("tenantgate.jwks.main.keys") == 0 {
            let keys = next.first_callout_to("jwks");
            next.answer(keys, &jwks(&[&key_a()]));
        }
        let cluster = config["directory"]["remote"]["cluster"]
            .as_str()
            .unwrap_or("");
        let directory = next.first_callout_to(cluster);
        let headers = vec![(":status".to_string(), "200".to_string())];
        next.answer_raw(directory, headers, document());
        let (ctx, verdict) = next.send(bearer("zeta.test", &token(&key_a(), "zeta", "zed")));
        assert_eq!(
            verdict,
            Verdict::Continue,
            "{what}: {:?}",
            next.host.replies_to(ctx)
        );
        let fetched = next
            .host
            .callouts()
            .iter()
            .filter(|c| c.cluster == cluster)
            .count();
        assert_eq!(fetched, 1, "{what}: the directory is fetched anew, once");
    }
}
