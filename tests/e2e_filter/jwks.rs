//! The key-set lifecycle: fetching, refetching on an unknown `kid`, one fetch per Envoy, and
//! keeping the good set through bad responses.

use std::time::{Duration, Instant};

use super::support::{wait_until, JwksMode};
use super::*;

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

    keys_never_load(&gw, &tok);
    recovery_on_every_worker(&gw, &k, &tok);
}

/// Requests that need keys wait for them, up to `jwks_wait_ms` (1500 ms here), then get a 503,
/// however the JWKS endpoint fails; each failure is retried.
fn keys_never_load(gw: &Gateway, tok: &str) {
    let started = Instant::now();
    gw.deny(
        "keys never loaded (connection refused)",
        Req::get(ACME, "/api/x").bearer(tok),
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
        Req::get(ACME, "/api/x").bearer(tok),
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
        Req::get(ACME, "/api/x").bearer(tok),
        Denial::KeysUnavailable,
    );
    assert!(
        gw.jwks.fetches() > seen_before,
        "failed fetches are retried with backoff"
    );
}

/// The JWKS comes up: the next retry loads it and requests pass, on every worker.
fn recovery_on_every_worker(gw: &Gateway, k: &TestKey, tok: &str) {
    gw.jwks.serve_keys(&keys::jwks(&[k]), 300);
    let mut last = None;
    let recovered = wait_until(Duration::from_secs(10), || {
        let (resp, _) = gw.send(Req::get(ACME, "/api/x").bearer(tok));
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
            Req::get(ACME, "/api/x").bearer(&token(k, "acme", &format!("u{i}"), &[])),
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

/// What a JWKS endpoint can answer instead of a usable key set.
fn bad_jwks_responses() -> [(&'static str, JwksMode); 4] {
    [
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
    ]
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

    for (what, mode) in bad_jwks_responses() {
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
fn a_kid_reused_for_new_key_material_ends_the_cached_tokens_of_the_old_key() {
    let old = TestKey::a("rotating");
    let new = TestKey::b("rotating");
    let Some(gw) = Gateway::start(
        Setup {
            policy: fast_refresh_policy(),
            ..Setup::default()
        },
        JwksServer::serving(&keys::jwks(&[&old]), 1),
    ) else {
        return;
    };
    // Verified once, then served from the worker's cache.
    let cached = token(&old, "acme", "cached", &[]);
    for _ in 0..3 {
        gw.allow("old key", Req::get(ACME, "/api/x").bearer(&cached));
    }

    // The issuer publishes new material under the same kid.
    gw.jwks.serve_keys(&keys::jwks(&[&new]), 1);
    let adopted = wait_until(Duration::from_secs(10), || {
        gw.send(Req::get(ACME, "/api/x").bearer(&token(&new, "acme", "new", &[])))
            .0
            .status
            == 200
    });
    assert!(adopted, "the new key set was not adopted");
    gw.deny(
        "a cached token of the replaced key",
        Req::get(ACME, "/api/x").bearer(&cached),
        Denial::SignatureInvalid,
    );
}
