//! Workers simulated over an in-memory store with the host's semantics and a fake clock.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use super::*;
use crate::jwks::keyset::tests::jwk;

/// The fetcher of a key source, compiled as the gate compiles it.
fn fetcher_for(cfg: &config::Jwks, seed: u64) -> KeySetFetcher {
    KeySetFetcher::new(&crate::compile::jwks_for_tests(cfg), seed)
}

/// The host's shared data: one CAS counter for every write, a CAS mismatch only on an existing
/// key (an absent key takes any write), and an optional outage.
#[derive(Default)]
struct MemStore {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    last_cas: Cell<u32>,
    down: Cell<bool>,
    /// Runs (once) right before the next CAS write to this key: another worker acting between a
    /// worker's read and its write.
    interleave: RefCell<Option<(String, OtherWorker)>>,
}

type OtherWorker = Box<dyn FnOnce(&MemStore)>;

impl SharedStore for MemStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        if self.down.get() {
            return Err(StoreError::Unavailable);
        }
        Ok(self.map.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        if self.down.get() {
            return Err(StoreError::Unavailable);
        }
        if cas.is_some() {
            let due = matches!(&*self.interleave.borrow(), Some((k, _)) if k == key);
            let other = if due {
                self.interleave.borrow_mut().take()
            } else {
                None
            };
            if let Some((_, other)) = other {
                other(self);
            }
        } else {
            // A blind write only ever creates an empty entry or the empty body placeholder.
            let empty_entry = Entry::decode(value) == Some(Entry::default());
            let placeholder = decode_body(value).is_some_and(|(tag, body)| {
                tag.generation == 0 && tag.holder == 0 && body.is_empty()
            });
            assert!(
                empty_entry || placeholder,
                "blind write of a lease or a publication"
            );
        }
        let mut map = self.map.borrow_mut();
        if let (Some(cas), Some((_, current))) = (cas, map.get(key)) {
            if cas != *current {
                return Err(StoreError::CasMismatch);
            }
        }
        let next = self.last_cas.get().wrapping_add(1).max(1);
        self.last_cas.set(next);
        map.insert(key.to_owned(), (value.to_vec(), next));
        Ok(())
    }
}

impl MemStore {
    fn entry(&self, ns: &Namespace) -> Option<Entry> {
        let map = self.map.borrow();
        map.get(ns.state_key())
            .and_then(|(bytes, _)| Entry::decode(bytes))
    }
}

const TICK_MS: u64 = 100;
const STEP_MS: u64 = 5;
const LATENCY_MS: u64 = 40;
const START: u64 = 1_700_000_000_000;

fn jwks_config(extra: serde_json::Value) -> config::Jwks {
    let mut v = serde_json::json!({
        "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks"}
    });
    if let (Some(v), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
        v.extend(extra);
    }
    serde_json::from_value(v).expect("valid config")
}

fn body(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<_> = kids.iter().map(|k| jwk(k, 2048)).collect();
    serde_json::json!({ "keys": keys }).to_string().into_bytes()
}

/// What the identity provider does with one request.
#[derive(Clone)]
enum Answer {
    Response {
        status: u32,
        cache_control: Option<&'static str>,
        body: Vec<u8>,
    },
    /// The callout fails (Envoy calls back without headers).
    NoResponse,
    /// No callback at all.
    Never,
}

fn keys(kid: &str, cache_control: &'static str) -> Answer {
    Answer::Response {
        status: 200,
        cache_control: Some(cache_control),
        body: body(&[kid]),
    }
}

struct Worker {
    fetcher: KeySetFetcher,
    shared: SharedKeys,
    phase: u64,
}

#[derive(Debug, Clone, Copy)]
struct Fetch {
    at: u64,
    worker: usize,
}

struct Sim {
    now: u64,
    store: Rc<MemStore>,
    ns: Namespace,
    workers: Vec<Worker>,
    /// The answer to fetch number n.
    idp: Box<dyn FnMut(usize) -> Answer>,
    fetches: Vec<Fetch>,
    deliveries: Vec<(u64, usize, Answer)>,
}

impl Sim {
    fn new(n: usize, cfg: &config::Jwks, idp: impl FnMut(usize) -> Answer + 'static) -> Sim {
        Sim::with_store(n, cfg, Rc::new(MemStore::default()), START, idp)
    }

    fn with_store(
        n: usize,
        cfg: &config::Jwks,
        store: Rc<MemStore>,
        now: u64,
        idp: impl FnMut(usize) -> Answer + 'static,
    ) -> Sim {
        let ns = Namespace::new("acme", cfg).expect("remote");
        let workers = (0..n)
            .map(|i| {
                let i = i as u64;
                Worker {
                    fetcher: fetcher_for(cfg, i * 7_919 + 13),
                    shared: SharedKeys::new(ns.clone(), 1_000 + i),
                    phase: (i * TICK_MS / n as u64) / STEP_MS * STEP_MS,
                }
            })
            .collect();
        Sim {
            now,
            store,
            ns,
            workers,
            idp: Box::new(idp),
            fetches: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    /// The glue dispatching a callout for worker `w`.
    fn dispatch(&mut self, w: usize) {
        let n = self.fetches.len();
        self.fetches.push(Fetch {
            at: self.now,
            worker: w,
        });
        if let Some(worker) = self.workers.get_mut(w) {
            worker.fetcher.fetch_started(self.now);
        }
        match (self.idp)(n) {
            Answer::Never => {}
            answer => self.deliveries.push((self.now + LATENCY_MS, w, answer)),
        }
    }

    fn step(&mut self) {
        self.now += STEP_MS;
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deliveries)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.deliveries = later;
        for (_, w, answer) in due {
            let Some(worker) = self.workers.get_mut(w) else {
                continue;
            };
            let store = &*self.store;
            match answer {
                Answer::Response {
                    status,
                    cache_control,
                    body,
                } => {
                    let _ = worker.shared.on_fetched(
                        store,
                        &mut worker.fetcher,
                        now,
                        status,
                        cache_control,
                        &body,
                    );
                }
                Answer::NoResponse => worker.shared.on_failed(store, &mut worker.fetcher, now),
                Answer::Never => {}
            }
        }
        for w in 0..self.workers.len() {
            let Some(worker) = self.workers.get_mut(w) else {
                continue;
            };
            if now % TICK_MS != worker.phase {
                continue;
            }
            let tick = worker.shared.tick(&*self.store, &mut worker.fetcher, now);
            if tick.fetch {
                self.dispatch(w);
            }
        }
    }

    fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.step();
        }
    }

    /// Runs until the next fetch is dispatched (or `limit` ms pass); returns its index.
    fn run_to_next_fetch(&mut self, limit: u64) -> Option<usize> {
        let seen = self.fetches.len();
        let end = self.now + limit;
        while self.now < end {
            self.step();
            if self.fetches.len() > seen {
                return Some(seen);
            }
        }
        None
    }

    fn all_hold(&self, kid: &str) -> bool {
        self.workers
            .iter()
            .all(|w| w.fetcher.key_set().is_some_and(|k| k.contains(kid)))
    }

    fn gaps(&self) -> Vec<u64> {
        self.fetches.windows(2).map(|w| w[1].at - w[0].at).collect()
    }
}

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

#[test]
fn a_bad_response_after_a_good_one_keeps_the_good_set_everywhere() {
    let cfg = jwks_config(serde_json::json!({}));
    let bad = [
        Answer::Response {
            status: 200,
            cache_control: None,
            body: b"not json".to_vec(),
        },
        Answer::Response {
            status: 200,
            cache_control: None,
            body: br#"{"keys":[]}"#.to_vec(),
        },
        Answer::Response {
            status: 200,
            cache_control: None,
            body: serde_json::json!({"keys": [jwk("small", 1024)]})
                .to_string()
                .into_bytes(),
        },
        Answer::Response {
            status: 404,
            cache_control: None,
            body: body(&["k404"]),
        },
        Answer::Response {
            status: 200,
            cache_control: None,
            body: vec![b' '; 64 * 1024 + 1],
        },
    ];
    let answers = bad.clone();
    let mut sim = Sim::new(8, &cfg, move |i| match i {
        0 => keys("k0", "max-age=60"),
        i => answers.get(i - 1).cloned().unwrap_or(Answer::Never),
    });
    sim.run_to_next_fetch(1_000).expect("first");
    let errors = [
        JwksError::NotJson,
        JwksError::NoUsableKey {
            total: 0,
            first_rejection: None,
        },
        JwksError::NoUsableKey {
            total: 1,
            first_rejection: None,
        },
        JwksError::HttpStatus(404),
        JwksError::TooLarge {
            size: 64 * 1024 + 1,
            max: 64 * 1024,
        },
    ];
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

/// The glue's path for tokens whose `kid` is unknown: the gate asks `may_refetch` (local, no
/// side effects), then the glue asks `request_refetch`.
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

#[test]
fn a_config_change_starts_a_new_namespace() {
    let base = jwks_config(serde_json::json!({}));
    let ns = |name: &str, cfg: &config::Jwks| Namespace::new(name, cfg).expect("remote");
    let same = ns("acme", &jwks_config(serde_json::json!({})));
    assert_eq!(ns("acme", &base), same);
    assert!(same.state_key().starts_with("tenantgate.jwks.v1."));
    assert_ne!(same.state_key(), same.keys_key());
    let changed = [
        ns("other", &base),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks2"}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp2", "uri": "https://idp.example.com/jwks"}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks",
                           "timeout_ms": 1000}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &jwks_config(serde_json::json!({"refresh_max_seconds": 300})),
        ),
        ns(
            "acme",
            &jwks_config(serde_json::json!({"max_response_bytes": 1024})),
        ),
    ];
    let mut keys_seen: BTreeSet<&str> = changed.iter().map(Namespace::state_key).collect();
    keys_seen.insert(same.state_key());
    assert_eq!(keys_seen.len(), changed.len() + 1, "all distinct");
    let inline = jwks_config(serde_json::json!({}));
    let inline = config::Jwks {
        remote: None,
        inline: Some(serde_json::from_slice(&body(&["x"])).expect("json")),
        ..inline
    };
    assert_eq!(Namespace::new("acme", &inline), None);

    // Workers of the old configuration load k0.
    let mut old = Sim::new(4, &base, |_| keys("k0", "max-age=600"));
    old.run_for(1_000);
    assert!(old.all_hold("k0"));
    // A reload with the same key source adopts it: no fetch.
    let mut reloaded = Sim::with_store(4, &base, Rc::clone(&old.store), old.now, |_| {
        keys("never", "max-age=600")
    });
    reloaded.run_for(1_000);
    assert!(reloaded.fetches.is_empty() && reloaded.all_hold("k0"));
    // A reload with another URI fetches its own set, once.
    let moved: config::Jwks = serde_json::from_value(serde_json::json!({
        "remote": {"cluster": "idp", "uri": "https://idp.example.com/other-jwks"}
    }))
    .expect("valid");
    let mut new = Sim::with_store(4, &moved, Rc::clone(&old.store), old.now, |_| {
        keys("k9", "max-age=600")
    });
    new.run_for(1_000);
    assert_eq!(new.fetches.len(), 1);
    assert!(
        new.all_hold("k9")
            && !new
                .workers
                .iter()
                .any(|w| w.fetcher.key_set().is_some_and(|k| k.contains("k0")))
    );
}

#[test]
fn inline_key_sets_never_touch_the_store() {
    let cfg = config::Jwks {
        remote: None,
        inline: Some(serde_json::from_slice(&body(&["x"])).expect("json")),
        ..jwks_config(serde_json::json!({}))
    };
    let mut fetcher = fetcher_for(&cfg, 1);
    let ns = Namespace::new("acme", &jwks_config(serde_json::json!({}))).expect("remote");
    let mut shared = SharedKeys::new(ns, 1);
    let store = MemStore::default();
    assert_eq!(shared.tick(&store, &mut fetcher, START), Tick::default());
    assert_eq!(
        shared.request_refetch(&store, &mut fetcher, START),
        Refetch::Refused
    );
    assert!(store.map.borrow().is_empty());
    assert_eq!(
        fetcher.adopt_key_set(&body(&["y"])),
        Err(JwksError::NoSource)
    );
    assert!(fetcher.key_set().is_some_and(|k| k.contains("x")));
}

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

#[test]
fn entries_round_trip_and_anything_else_is_refused() {
    let errors = [
        JwksError::NotJson,
        JwksError::NoKeysArray,
        JwksError::NoUsableKey {
            total: 3,
            first_rejection: None,
        },
        JwksError::HttpStatus(503),
        JwksError::TooLarge {
            size: 70_000,
            max: 65_536,
        },
        JwksError::FetchFailed,
    ];
    for error in errors {
        let entry = Entry {
            generation: 7,
            lease: Some(Lease {
                holder: u64::MAX,
                until_ms: START,
            }),
            next_fetch_at: START + 1,
            failures: 3,
            error: Some(error),
            keys: Some(Tag {
                generation: 6,
                holder: 42,
            }),
            fetched_at: Some(START - 1),
            unknown_kid_refetch_at: Some(0),
        };
        let bytes = entry.encode();
        assert_eq!(bytes.len(), STATE_LEN);
        assert_eq!(Entry::decode(&bytes), Some(entry));
    }
    let empty = Entry::default().encode();
    assert_eq!(Entry::decode(&empty), Some(Entry::default()));
    for bad in [
        Vec::new(),
        empty[..STATE_LEN - 1].to_vec(),
        [empty.as_slice(), &[0]].concat(),
        [&[2u8][..], &empty[1..]].concat(),
        [&[FORMAT, 32][..], &empty[2..]].concat(),
        {
            let mut v = empty.clone();
            v[1] = ERROR;
            v[38] = 7;
            v
        },
    ] {
        assert_eq!(Entry::decode(&bad), None, "{bad:?}");
    }
    let tag = Tag {
        generation: 9,
        holder: 4,
    };
    let encoded = encode_body(tag, b"{}");
    assert_eq!(decode_body(&encoded), Some((tag, &b"{}"[..])));
    assert_eq!(decode_body(&encoded[..BODY_HEADER_LEN - 1]), None);
    assert_eq!(
        decode_body(&[[2u8].as_slice(), &encoded[1..]].concat()),
        None
    );
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
