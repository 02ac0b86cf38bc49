//! Key sets found through OIDC discovery: the document's callout, then the key set's, the
//! refusals that keep the last good keys, refreshes, and one fetch per Envoy.

use std::rc::Rc;

use serde_json::json;
use tenantgate_testkit::keys::jwks;

use super::*;

const DOCUMENT_PATH: &str = "/.well-known/openid-configuration";

/// The unit configuration with the key set found through discovery from `ISSUER`.
fn discovery_config() -> Value {
    let mut config = config();
    config["providers"][0]["jwks"] = json!({
        "discovery": {"cluster": "idp", "timeout_ms": 1000},
        "refresh_default_seconds": 1,
        "refresh_min_seconds": 1,
        "backoff_initial_ms": 100,
        "backoff_max_ms": 400,
        "max_response_bytes": 4096
    });
    config
}

fn document(issuer: &str, jwks_uri: &str) -> Value {
    json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["code"]})
}

fn good_document() -> Value {
    document(ISSUER, "https://issuer.test/oauth/keys?v=1")
}

/// The `(cluster, :authority, :path)` of callout number `n`.
fn target(sim: &Sim, n: usize) -> (String, String, String) {
    let callout = &sim.host.callouts()[n];
    let get = |name: &str| {
        header(&callout.headers, name)
            .unwrap_or_default()
            .to_string()
    };
    (callout.cluster.clone(), get(":authority"), get(":path"))
}

/// Answers the pending document callout with `doc`, then, if one follows, the key set's with
/// `keys`. Returns how many callouts the fetch made.
fn answer_fetch(sim: &mut Sim, doc: &Value, keys: &[&TestKey]) -> usize {
    let before = sim.callouts();
    sim.answer(sim.last_callout(), doc);
    if sim.callouts() > before {
        sim.answer(sim.last_callout(), &jwks(keys));
        2
    } else {
        1
    }
}

#[test]
fn the_document_then_the_key_set_it_names_are_fetched() {
    let mut sim = Sim::start(&discovery_config());
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Pause);
    sim.tick(TICK_MS);
    let document_callout = sim.only_callout();
    assert_eq!(
        target(&sim, 0),
        ("idp".into(), "issuer.test".into(), DOCUMENT_PATH.into())
    );
    sim.answer(document_callout, &good_document());
    assert_eq!(sim.callouts(), 2, "the key set's callout follows at once");
    assert_eq!(
        target(&sim, 1),
        ("idp".into(), "issuer.test".into(), "/oauth/keys?v=1".into())
    );
    assert_eq!(sim.host.callouts()[1].from_context, ROOT);
    assert!(sim.unanswered(ctx));
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.success"), 0);

    sim.answer(sim.last_callout(), &jwks(&[&key_a()]));
    assert_eq!(sim.host.resumed(), vec![ctx]);
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-user-id"),
        Some("alice")
    );
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.success"), 1);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 1);
}

#[test]
fn a_bad_document_keeps_the_last_good_keys_and_is_counted() {
    let mut sim = Sim::start(&discovery_config());
    sim.tick(TICK_MS);
    assert_eq!(answer_fetch(&mut sim, &good_document(), &[&key_a()]), 2);
    let bad_documents = [
        document("https://other.test", "https://issuer.test/oauth/keys"),
        document(ISSUER, "https://evil.test/oauth/keys"),
        document(ISSUER, "http://issuer.test/oauth/keys"),
        json!({"issuer": ISSUER}),
    ];
    for (n, bad) in bad_documents.iter().enumerate() {
        let before = sim.callouts();
        sim.run(1500);
        assert_eq!(
            sim.callouts(),
            before + 1,
            "document {n}: a refresh or retry"
        );
        assert_eq!(target(&sim, before).2, DOCUMENT_PATH);
        assert_eq!(answer_fetch(&mut sim, bad, &[&key_b()]), 1, "document {n}");
        assert_eq!(
            sim.stat("tenantgate.jwks.main.fetch.rejected"),
            n as i64 + 1
        );
        assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 1);
        let (_, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
        assert_eq!(
            verdict,
            Verdict::Continue,
            "document {n}: key a still verifies"
        );
    }
    // An oversized document is refused by its length, read no further than the cap.
    sim.run(1500);
    let mut big = good_document().to_string().into_bytes();
    big.resize(5_000, b' ');
    let headers = vec![(":status".to_string(), "200".to_string())];
    let before = sim.callouts();
    sim.answer_raw(sim.last_callout(), headers, big);
    assert_eq!(sim.callouts(), before, "no key set fetched");
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.rejected"), 5);
    assert_eq!(sim.host.body_reads().last(), Some(&4097));

    // A good document again: the key set it names replaces the old one.
    sim.run(1500);
    assert_eq!(answer_fetch(&mut sim, &good_document(), &[&key_b()]), 2);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.success"), 2);
    let (_, verdict) = sim.send(bearer(ACME, &token(&key_b(), "acme", "bob")));
    assert_eq!(verdict, Verdict::Continue);
}

#[test]
fn every_refresh_and_unknown_kid_refetch_reads_the_document_again() {
    let mut sim = Sim::start(&discovery_config());
    sim.tick(TICK_MS);
    assert_eq!(answer_fetch(&mut sim, &good_document(), &[&key_a()]), 2);
    sim.run(1500);
    assert_eq!(sim.callouts(), 3, "the refresh is due");
    // The document may move the key set: the refresh follows its new jwks_uri.
    let moved = document(ISSUER, "https://issuer.test/v2/keys");
    assert_eq!(answer_fetch(&mut sim, &moved, &[&key_a()]), 2);
    assert_eq!(target(&sim, 3).2, "/v2/keys");

    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_b(), "acme", "bob")));
    assert_eq!(
        verdict,
        Verdict::Pause,
        "an unknown kid waits for a refetch"
    );
    sim.tick(TICK_MS);
    assert_eq!(target(&sim, 4).2, DOCUMENT_PATH);
    assert_eq!(answer_fetch(&mut sim, &moved, &[&key_a(), &key_b()]), 2);
    assert_eq!(sim.host.resumed(), vec![ctx]);
}

#[test]
fn a_failed_document_callout_backs_off_like_a_failed_key_set() {
    let mut sim = Sim::start(&discovery_config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    sim.tick(TICK_MS);
    sim.fail(sim.only_callout());
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.failure"), 1);
    sim.run(500);
    assert_eq!(sim.callouts(), 2, "retried after the backoff");
    assert_eq!(target(&sim, 1).2, DOCUMENT_PATH);
    // The document succeeds, the key set's callout fails: a failure, the whole fetch retried.
    sim.answer(sim.last_callout(), &good_document());
    sim.fail(sim.last_callout());
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.failure"), 2);
    sim.run(1000);
    assert_eq!(target(&sim, 3).2, DOCUMENT_PATH);
    assert_eq!(answer_fetch(&mut sim, &good_document(), &[&key_a()]), 2);
    assert_eq!(sim.host.resumed(), vec![ctx]);
}

#[test]
fn one_worker_fetches_for_the_envoy_and_the_others_adopt() {
    let store = Rc::new(MemStore::default());
    let mut fetcher = Sim::start_on(&discovery_config(), Rc::clone(&store), 1);
    fetcher.tick(TICK_MS);
    let mut other = Sim::start_on(&discovery_config(), Rc::clone(&store), 2);
    let (ctx, _) = other.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    other.run(300);
    assert_eq!(fetcher.callouts(), 1);
    // The lease covers both callouts: the other worker waits through the document's answer.
    fetcher.answer(fetcher.last_callout(), &good_document());
    other.run(300);
    assert_eq!(other.callouts(), 0);
    fetcher.answer(fetcher.last_callout(), &jwks(&[&key_a()]));
    other.tick(TICK_MS);
    assert_eq!(other.host.resumed(), vec![ctx]);
    assert_eq!(other.callouts(), 0, "adopted, not fetched");

    // A refused document is published too: the other worker backs off with the fetcher.
    fetcher.run(1500);
    other.run(1500);
    let (one, two) = (fetcher.callouts(), other.callouts());
    assert_eq!(one + two, 3, "one refresh for the Envoy ({one}, {two})");
    let refreshing = if one == 3 { &mut fetcher } else { &mut other };
    let bad = document("https://other.test", "https://issuer.test/oauth/keys");
    assert_eq!(answer_fetch(refreshing, &bad, &[&key_b()]), 1);
    assert_eq!(refreshing.stat("tenantgate.jwks.main.fetch.rejected"), 1);
    // The shared backoff (100 ms at most here) then gives the Envoy one retry, not one each.
    fetcher.tick(TICK_MS);
    other.tick(TICK_MS);
    fetcher.tick(TICK_MS);
    other.tick(TICK_MS);
    assert_eq!(
        fetcher.callouts() + other.callouts(),
        4,
        "one retry for the Envoy"
    );
    assert_eq!(fetcher.stat("tenantgate.jwks.main.keys"), 1);
    assert_eq!(other.stat("tenantgate.jwks.main.keys"), 1);
}
