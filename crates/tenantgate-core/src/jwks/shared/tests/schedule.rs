//! Refreshes and retries: one fetch per Envoy, taken over when its winner never answers, and
//! one backoff shared by every worker.

use std::collections::BTreeSet;

use super::super::election::TAKEOVER_GRACE_MS;
use super::*;

#[test]
fn one_fetch_per_refresh_whatever_the_worker_count() {
    let cfg = jwks_config(serde_json::json!({}));
    for n in [1, 2, 8] {
        let mut sim = Sim::new(n, &cfg, |i| keys(&format!("k{i}"), "max-age=300"));
        // The first tick creates the entry; the next one elects the first fetch.
        assert_eq!(sim.run_to_next_fetch(1_000), Some(0), "n={n}");
        assert!(sim.now - START <= 2 * TICK_MS, "n={n}: {}", sim.now - START);
        let end = START + 2 * 3_600_000;
        while sim.now < end {
            sim.run_for(LATENCY_MS + 2 * TICK_MS);
            let kid = format!("k{}", sim.fetches.len() - 1);
            assert!(sim.all_hold(&kid), "n={n}: every worker adopted {kid}");
            if sim.run_to_next_fetch(end - sim.now).is_none() {
                break;
            }
        }
        // Refresh every 300 s, up to 10% early (jitter), plus the callout latency and up to one
        // tick before a worker notices: never two fetches in an interval, never a skipped one.
        for gap in sim.gaps() {
            assert!(
                (270_000 + LATENCY_MS..=300_000 + LATENCY_MS + TICK_MS).contains(&gap),
                "n={n}: gap {gap}"
            );
        }
        assert!(
            (24..=27).contains(&sim.fetches.len()),
            "n={n}: {}",
            sim.fetches.len()
        );
        let winners: BTreeSet<usize> = sim.fetches.iter().map(|f| f.worker).collect();
        if n == 8 {
            assert!(winners.len() > 2, "the election is not fixed: {winners:?}");
        }
        assert!(sim.workers.iter().all(|w| w.shared.mode() == Mode::Shared));
    }
}

#[test]
fn a_winner_that_never_answers_is_taken_over() {
    let cfg = jwks_config(serde_json::json!({}));
    let lost_after = fetcher_for(&cfg, 0).policy().lost_after_ms;
    for n in [1, 2, 8] {
        let mut sim = Sim::new(n, &cfg, |i| match i {
            0 | 3 => Answer::Never,
            i => keys(&format!("k{i}"), "max-age=300"),
        });
        sim.run_to_next_fetch(1_000).expect("first fetch");
        let first = sim.fetches[0];
        // Nobody else fetches while the lease lives.
        assert_eq!(sim.run_to_next_fetch(lost_after - TICK_MS), None, "n={n}");
        sim.run_to_next_fetch(2_000).expect("taken over");
        let second = sim.fetches[1];
        let waited = second.at - first.at;
        if n == 1 {
            // Alone, the worker takes its own lapsed lease over after the grace period.
            assert!(
                (lost_after + TAKEOVER_GRACE_MS..=lost_after + TAKEOVER_GRACE_MS + TICK_MS)
                    .contains(&waited),
                "{waited}"
            );
        } else {
            assert_ne!(second.worker, first.worker, "n={n}: another worker");
            assert!(
                (lost_after..=lost_after + TICK_MS).contains(&waited),
                "n={n}: {waited}"
            );
        }
        sim.run_for(LATENCY_MS + 2 * TICK_MS);
        assert!(sim.all_hold("k1"), "n={n}: including the stuck worker");
        assert_eq!(sim.fetches.len(), 2, "n={n}");
        // Fetch 3 (the second refresh) never answers either; then the schedule is normal again.
        while sim.fetches.len() < 5 {
            sim.run_to_next_fetch(400_000).expect("next fetch");
        }
        sim.run_for(LATENCY_MS + 2 * TICK_MS);
        assert!(sim.all_hold("k4"), "n={n}");
        let gaps = sim.gaps();
        let lapse = if n == 1 {
            lost_after + TAKEOVER_GRACE_MS
        } else {
            lost_after
        };
        assert!(
            (lapse..=lapse + TICK_MS).contains(&gaps[3]),
            "n={n}: {gaps:?}"
        );
        for gap in [gaps[1], gaps[2]] {
            assert!((270_000..=300_200).contains(&gap), "n={n}: {gaps:?}");
        }
    }
}

#[test]
fn failures_back_off_together() {
    let cfg = jwks_config(serde_json::json!({}));
    let policy = fetcher_for(&cfg, 0).policy().clone();
    for n in [1, 2, 8] {
        let mut sim = Sim::new(n, &cfg, |i| match i {
            0 => keys("k0", "max-age=300"),
            1 | 3 | 5 => Answer::NoResponse,
            2 | 4 => Answer::Response {
                status: 503,
                cache_control: None,
                body: body(&["bad"]),
            },
            i => keys(&format!("k{i}"), "max-age=300"),
        });
        sim.run_to_next_fetch(1_000).expect("first");
        for failed in 1..=5u32 {
            sim.run_to_next_fetch(400_000).expect("next fetch");
            sim.run_for(LATENCY_MS + 2 * TICK_MS);
            for w in &sim.workers {
                assert_eq!(w.fetcher.consecutive_failures(), failed, "n={n}");
                assert!(w.fetcher.key_set().is_some_and(|k| k.contains("k0")));
            }
            let entry = sim.store.entry(&sim.ns).expect("entry");
            assert_eq!(entry.failures, failed);
            // Every worker's next try is the shared one.
            assert!(sim
                .workers
                .iter()
                .all(|w| w.fetcher.next_wakeup() == Some(entry.next_fetch_at)));
        }
        sim.run_to_next_fetch(400_000).expect("recovery");
        sim.run_for(LATENCY_MS + 2 * TICK_MS);
        assert!(sim.all_hold("k6"));
        assert!(sim
            .workers
            .iter()
            .all(|w| w.fetcher.consecutive_failures() == 0 && w.fetcher.last_error().is_none()));
        // One fetch per retry, each after the (jittered) backoff of the shared failure count.
        let gaps = sim.gaps();
        assert_eq!(gaps.len(), 6, "n={n}");
        for (retry, gap) in gaps.iter().skip(1).enumerate() {
            let base = policy.backoff_ms(retry as u32 + 1);
            assert!(
                (base / 2 + LATENCY_MS..=base + LATENCY_MS + TICK_MS).contains(gap),
                "n={n}, retry {retry}: {gap} for a backoff of {base}"
            );
        }
    }
}

/// Good-looking responses that must not replace a key set, and what each is refused for.
fn bad_responses() -> [(Answer, JwksError); 5] {
    let refused = |status: u32, body: Vec<u8>| Answer::Response {
        status,
        cache_control: None,
        body,
    };
    let no_usable_key = |total: usize| JwksError::NoUsableKey {
        total,
        first_rejection: None,
    };
    [
        (refused(200, b"not json".to_vec()), JwksError::NotJson),
        (refused(200, br#"{"keys":[]}"#.to_vec()), no_usable_key(0)),
        (
            refused(
                200,
                serde_json::json!({"keys": [jwk("small", 1024)]})
                    .to_string()
                    .into_bytes(),
            ),
            no_usable_key(1),
        ),
        (refused(404, body(&["k404"])), JwksError::HttpStatus(404)),
        (
            refused(200, vec![b' '; 64 * 1024 + 1]),
            JwksError::TooLarge {
                size: 64 * 1024 + 1,
                max: 64 * 1024,
            },
        ),
    ]
}

#[test]
fn a_bad_response_after_a_good_one_keeps_the_good_set_everywhere() {
    let cfg = jwks_config(serde_json::json!({}));
    let (answers, errors): (Vec<_>, Vec<_>) = bad_responses().into_iter().unzip();
    let mut sim = Sim::new(8, &cfg, move |i| match i {
        0 => keys("k0", "max-age=60"),
        i => answers.get(i - 1).cloned().unwrap_or(Answer::Never),
    });
    sim.run_to_next_fetch(1_000).expect("first");
    for (i, error) in errors.iter().enumerate() {
        sim.run_to_next_fetch(120_000).expect("next fetch");
        sim.run_for(LATENCY_MS + 2 * TICK_MS);
        for (w, worker) in sim.workers.iter().enumerate() {
            assert!(
                worker
                    .fetcher
                    .key_set()
                    .is_some_and(|k| k.contains("k0") && k.len() == 1),
                "worker {w} after bad response {i}"
            );
            assert_eq!(worker.fetcher.consecutive_failures(), i as u32 + 1);
            // The winner knows the rejection in detail; the others know its kind.
            if w != sim.fetches[i + 1].worker {
                assert_eq!(worker.fetcher.last_error(), Some(error), "worker {w}");
            }
        }
    }
    // The published body is still the good one, and a worker starting now (a new VM) adopts it
    // and the shared backoff without fetching.
    let mut late = Sim::with_store(1, &cfg, Rc::clone(&sim.store), sim.now, |_| Answer::Never);
    late.run_for(2 * TICK_MS);
    assert!(late.fetches.is_empty());
    assert!(late.all_hold("k0"));
    let w = &late.workers[0];
    assert_eq!(w.fetcher.consecutive_failures(), 5);
    let entry = sim.store.entry(&sim.ns).expect("entry");
    assert_eq!(w.fetcher.next_wakeup(), Some(entry.next_fetch_at));
    assert_eq!(entry.keys.map(|t| t.generation), Some(1));
}
