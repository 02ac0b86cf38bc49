//! Workers simulated over an in-memory store with the host's semantics and a fake clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::codec::Entry;
use super::mem_store::MemStore;
use super::*;
use crate::jwks::fetch::KeySetFetcher;
use crate::jwks::keyset::tests::jwk;

/// The fetcher of a key source, compiled as the gate compiles it.
fn fetcher_for(cfg: &config::Jwks, seed: u64) -> KeySetFetcher {
    KeySetFetcher::new(&crate::compile::jwks_for_tests(cfg), seed)
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

mod fallback;
mod namespace;
mod races;
mod refetch;
mod schedule;
