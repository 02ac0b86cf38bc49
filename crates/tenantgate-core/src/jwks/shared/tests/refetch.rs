//! Refetches for an unknown `kid`: one per Envoy, under one rate limit across the workers.

use super::*;

/// `per_step` tokens with the unknown `kid` on every worker at every step for `ms`: each one this
/// worker's own rate limit lets through (`may_refetch`, no side effects) asks `request_refetch`.
/// Returns how many got `Fetch`, `Wait` and `Refused`.
fn flood(sim: &mut Sim, kid: &str, ms: u64, per_step: usize) -> [usize; 3] {
    let mut answers = [0; 3]; // Fetch, Wait, Refused
    let end = sim.now + ms;
    while sim.now < end {
        for w in 0..sim.workers.len() {
            for _ in 0..per_step {
                let now = sim.now;
                let Some(worker) = sim.workers.get_mut(w) else {
                    continue;
                };
                let known = worker.fetcher.key_set().is_some_and(|k| k.contains(kid));
                if known || !worker.fetcher.may_refetch(now) {
                    continue;
                }
                match worker
                    .shared
                    .request_refetch(&*sim.store, &mut worker.fetcher, now)
                {
                    Refetch::Fetch => {
                        answers[0] += 1;
                        sim.dispatch(w);
                    }
                    Refetch::Wait => answers[1] += 1,
                    Refetch::Refused => answers[2] += 1,
                }
            }
        }
        sim.step();
    }
    answers
}

#[test]
fn an_unknown_kid_flood_makes_one_fetch() {
    let cfg = jwks_config(serde_json::json!({}));
    for n in [1, 2, 8] {
        // The provider rotates: every fetch serves a new key.
        let mut sim = Sim::new(n, &cfg, |i| keys(&format!("k{i}"), "max-age=600"));
        sim.run_to_next_fetch(1_000).expect("first");
        sim.run_for(60_000);
        assert_eq!(sim.fetches.len(), 1);
        let [fetch, wait, _] = flood(&mut sim, "k1", 1_000, 20);
        assert_eq!(fetch, 1, "n={n}: one refetch for the whole flood");
        assert_eq!(sim.fetches.len(), 2);
        assert!(wait > 0, "n={n}: the others waited for it");
        assert!(sim.all_hold("k1"), "n={n}");
        // Within the rate limit (30 s) another new kid gets no refetch, on any worker.
        sim.run_for(5_000);
        let [fetch, wait, _] = flood(&mut sim, "k2", 1_000, 20);
        assert_eq!((fetch, wait), (0, 0), "n={n}");
        assert!(sim.workers.iter().all(|w| !w.fetcher.may_refetch(sim.now)));
        assert_eq!(sim.fetches.len(), 2);
        // After it, one refetch again.
        sim.run_for(25_000);
        let [fetch, _, _] = flood(&mut sim, "k2", 1_000, 20);
        assert_eq!(fetch, 1, "n={n}");
        assert!(sim.all_hold("k2"));
        assert_eq!(sim.fetches.len(), 3);
        // The refresh schedule follows the last refetch.
        sim.run_for(600_000);
        assert_eq!(sim.fetches.len(), 4, "n={n}");
    }
}

#[test]
fn the_unknown_kid_rate_limit_holds_before_a_worker_has_seen_the_mark() {
    let cfg = jwks_config(serde_json::json!({}));
    let lost_after = fetcher_for(&cfg, 0).policy().lost_after_ms;
    let mut sim = Sim::new(2, &cfg, |i| match i {
        0 => keys("k0", "max-age=600"),
        _ => Answer::Never,
    });
    sim.run_for(1_000);
    assert!(sim.all_hold("k0"));
    let t = sim.now;
    let store = Rc::clone(&sim.store);
    let [a, b] = &mut sim.workers[..] else {
        panic!("two workers")
    };
    assert_eq!(
        a.shared.request_refetch(&*store, &mut a.fetcher, t),
        Refetch::Fetch
    );
    a.fetcher.fetch_started(t);
    // A's refetch never answers and its lease lapses; B has not ticked since A took it.
    let later = t + lost_after + 1;
    assert!(
        b.fetcher.may_refetch(later),
        "B's own limit knows nothing yet"
    );
    assert_eq!(
        b.shared.request_refetch(&*store, &mut b.fetcher, later),
        Refetch::Refused
    );
    assert!(!b.fetcher.may_refetch(later), "and now it does");
    let limit = b.fetcher.policy().unknown_kid_refetch_ms;
    assert_eq!(
        b.shared.request_refetch(&*store, &mut b.fetcher, t + limit),
        Refetch::Fetch
    );
}

#[test]
fn a_refetch_request_while_a_refresh_is_under_way_waits_for_it() {
    let cfg = jwks_config(serde_json::json!({}));
    let mut sim = Sim::new(4, &cfg, |i| keys(&format!("k{i}"), "max-age=300"));
    sim.run_to_next_fetch(1_000).expect("first");
    sim.run_for(LATENCY_MS + TICK_MS);
    sim.run_to_next_fetch(400_000).expect("refresh");
    let [fetch, wait, refused] = flood(&mut sim, "k1", LATENCY_MS + TICK_MS, 3);
    assert_eq!((fetch, refused), (0, 0));
    assert!(wait > 0);
    assert!(sim.all_hold("k1"));
}
