//! Without usable shared data every worker fetches on its own, as if alone.

use super::*;

#[test]
fn without_shared_data_every_worker_fetches_on_its_own() {
    let cfg = jwks_config(serde_json::json!({}));
    for n in [1, 2, 8] {
        let mut sim = Sim::new(n, &cfg, |i| keys(&format!("k{i}"), "max-age=300"));
        sim.store.down.set(true);
        sim.run_for(TICK_MS + LATENCY_MS + STEP_MS);
        assert_eq!(sim.fetches.len(), n, "n={n}: one first fetch per worker");
        assert!(sim.workers.iter().all(|w| w.fetcher.key_set().is_some()));
        assert!(sim
            .workers
            .iter()
            .all(|w| w.shared.mode() == Mode::PerWorker));
        sim.run_for(3_600_000);
        // As before sharing: each worker refreshes on its own schedule.
        for w in 0..n {
            let own = sim.fetches.iter().filter(|f| f.worker == w).count();
            assert!((13..=14).contains(&own), "n={n}, worker {w}: {own}");
        }
    }
}

#[test]
fn an_unreadable_entry_falls_back_to_the_worker_s_own_fetches() {
    let cfg = jwks_config(serde_json::json!({}));
    let ns = Namespace::new("acme", &cfg).expect("remote");
    let store = MemStore::default();
    store
        .map
        .borrow_mut()
        .insert(ns.state_key().to_owned(), (b"garbage".to_vec(), 1));
    let mut shared = SharedKeys::new(ns.clone(), 1);
    let mut fetcher = fetcher_for(&cfg, 1);
    assert!(shared.tick(&store, &mut fetcher, START).fetch);
    assert_eq!(shared.mode(), Mode::PerWorker);
    fetcher.fetch_started(START);
    assert!(!shared.tick(&store, &mut fetcher, START + 100).fetch);
    assert_eq!(
        shared.on_fetched(&store, &mut fetcher, START + 200, 200, None, &body(&["k"])),
        Ok(1)
    );
    let map = store.map.borrow();
    assert_eq!(
        map.get(ns.state_key()).map(|(v, _)| v.as_slice()),
        Some(&b"garbage"[..]),
        "left alone"
    );
    drop(map);
    // Unknown-kid refetches follow the worker's own rate limit.
    assert_eq!(
        shared.request_refetch(&store, &mut fetcher, START + 300),
        Refetch::Fetch
    );
    fetcher.fetch_started(START + 300);
    assert_eq!(
        shared.request_refetch(&store, &mut fetcher, START + 301),
        Refetch::Wait
    );
    shared.on_failed(&store, &mut fetcher, START + 400);
    assert_eq!(
        shared.request_refetch(&store, &mut fetcher, START + 500),
        Refetch::Refused
    );
}
