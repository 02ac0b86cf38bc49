//! Workers racing for the lease and for the published body, step by step.

use super::*;

#[test]
fn a_concurrent_lease_taker_wins_and_the_other_stands_by() {
    let cfg = jwks_config(serde_json::json!({}));
    let ns = Namespace::new("acme", &cfg).expect("remote");
    let store = MemStore::default();
    let mut a = (SharedKeys::new(ns.clone(), 1), fetcher_for(&cfg, 1));
    let b = Rc::new(RefCell::new((
        SharedKeys::new(ns.clone(), 2),
        fetcher_for(&cfg, 2),
    )));
    let tick = a.0.tick(&store, &mut a.1, START);
    assert_eq!(tick, Tick::default(), "created, no lease yet");
    // B takes the lease between A's read and A's compare-and-swap.
    let b_fetch = Rc::new(Cell::new(false));
    let (b2, flag) = (Rc::clone(&b), Rc::clone(&b_fetch));
    *store.interleave.borrow_mut() = Some((
        ns.state_key().to_owned(),
        Box::new(move |store: &MemStore| {
            let mut b = b2.borrow_mut();
            let (shared, fetcher) = &mut *b;
            flag.set(shared.tick(store, fetcher, START + 100).fetch);
        }),
    ));
    let tick = a.0.tick(&store, &mut a.1, START + 100);
    assert!(b_fetch.get(), "B won");
    assert!(
        !tick.fetch,
        "A lost the compare-and-swap and does not fetch"
    );
    let entry = store.entry(&ns).expect("entry");
    assert_eq!(entry.lease.map(|l| l.holder), Some(2));
    // A keeps standing by while the lease lives, even when it is asked for a refetch.
    assert!(!a.0.tick(&store, &mut a.1, START + 5_000).fetch);
    assert_eq!(
        a.0.request_refetch(&store, &mut a.1, START + 5_000),
        Refetch::Wait
    );
}

#[test]
fn a_lapsed_winner_cannot_overwrite_the_body_of_its_successor() {
    let cfg = jwks_config(serde_json::json!({}));
    let ns = Namespace::new("acme", &cfg).expect("remote");
    let lost_after = fetcher_for(&cfg, 0).policy().lost_after_ms;
    let store = MemStore::default();
    let worker = |id: u64| (SharedKeys::new(ns.clone(), id), fetcher_for(&cfg, id));
    let (mut a, b, mut c, mut d) = (
        worker(1),
        Rc::new(RefCell::new(worker(2))),
        worker(3),
        worker(4),
    );
    // C loads k0 (generation 1); A follows it.
    let _ = c.0.tick(&store, &mut c.1, START);
    assert!(c.0.tick(&store, &mut c.1, START + 100).fetch);
    c.1.fetch_started(START + 100);
    let loaded =
        c.0.on_fetched(&store, &mut c.1, START + 140, 200, None, &body(&["k0"]));
    assert_eq!(loaded, Ok(1));
    assert_eq!(
        a.0.tick(&store, &mut a.1, START + 200).adopted,
        Some(Adopted::Keys(1))
    );
    // A wins the refresh, and its answer comes late. Right before A writes the body, B takes
    // the lapsed lease over.
    let due = store.entry(&ns).expect("entry").next_fetch_at;
    assert!(a.0.tick(&store, &mut a.1, due).fetch);
    a.1.fetch_started(due);
    let late = due + lost_after + 500;
    let (b2, keys_key) = (Rc::clone(&b), ns.keys_key().to_owned());
    *store.interleave.borrow_mut() = Some((
        keys_key,
        Box::new(move |store: &MemStore| {
            let mut b = b2.borrow_mut();
            let (shared, fetcher) = &mut *b;
            let tick = shared.tick(store, fetcher, late);
            assert_eq!(tick.adopted, Some(Adopted::Keys(1)));
            assert!(tick.fetch, "B takes over");
            fetcher.fetch_started(late);
        }),
    ));
    let loaded =
        a.0.on_fetched(&store, &mut a.1, late, 200, None, &body(&["from-a"]));
    assert_eq!(loaded, Ok(1), "A keeps its answer locally");
    // A's body was written (its CAS was still good) but its entry was not: nobody adopts it,
    // not even a worker that starts now and has no keys at all.
    let entry = store.entry(&ns).expect("entry");
    assert_eq!(
        (entry.generation, entry.lease.map(|l| l.holder)),
        (1, Some(2))
    );
    assert_eq!(c.0.tick(&store, &mut c.1, late + 10).adopted, None);
    assert_eq!(d.0.tick(&store, &mut d.1, late + 10).adopted, None);
    assert!(d.1.key_set().is_none());
    // B answers and publishes; everyone follows B's set.
    {
        let mut b = b.borrow_mut();
        let (shared, fetcher) = &mut *b;
        let published =
            shared.on_fetched(&store, fetcher, late + 40, 200, None, &body(&["from-b"]));
        assert_eq!(published, Ok(1));
    }
    for (shared, fetcher) in [&mut a, &mut c, &mut d] {
        assert_eq!(
            shared.tick(&store, fetcher, late + 100).adopted,
            Some(Adopted::Keys(1))
        );
        assert!(fetcher.key_set().is_some_and(|k| k.contains("from-b")));
    }
}

#[test]
fn a_worker_with_a_callout_under_way_is_not_elected() {
    let cfg = jwks_config(serde_json::json!({}));
    let ns = Namespace::new("acme", &cfg).expect("remote");
    let store = MemStore::default();
    let mut a = (SharedKeys::new(ns.clone(), 1), fetcher_for(&cfg, 1));
    let mut b = (SharedKeys::new(ns.clone(), 2), fetcher_for(&cfg, 2));
    // During an outage A fetches on its own.
    store.down.set(true);
    assert!(a.0.tick(&store, &mut a.1, START).fetch);
    a.1.fetch_started(START);
    store.down.set(false);
    let _ = b.0.tick(&store, &mut b.1, START + 50);
    // Shared data is back and a fetch is due: A, whose callout is still out, stands aside.
    assert!(!a.0.tick(&store, &mut a.1, START + 100).fetch);
    assert_eq!(a.0.mode(), Mode::Shared);
    assert!(b.0.tick(&store, &mut b.1, START + 150).fetch);
    // A's own answer is not published: it holds no lease.
    assert_eq!(
        a.0.on_fetched(&store, &mut a.1, START + 160, 200, None, &body(&["own"])),
        Ok(1)
    );
    assert_eq!(store.entry(&ns).map(|e| e.generation), Some(0));
}
