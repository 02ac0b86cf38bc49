//! The worker against a fake host: what Envoy would see of requests, callouts, replies and stats.
//! Tokens are signed with the test harness's keys; the fake clock starts at the real time, so
//! the tokens' time claims hold.

mod audit;
mod directory;
mod discovery;
mod forwarding;
mod hot_path;
mod keys;
mod operators;
mod push;
mod requests;
mod rs256;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{json, Value};
use tenantgate_testkit::keys::{claims, jwks, now};
use tenantgate_testkit::TestKey;

use super::{Verdict, Worker};
use crate::fake_host::{FakeHost, MemStore, Reply};

const ROOT: u32 = 1;
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api";
const ACME: &str = "acme.test";
const GLOBEX: &str = "globex.test";
const WAIT_MS: u64 = 2000;
const TICK_MS: u64 = 100;

/// The configuration under test; tests change fields of it.
fn config() -> Value {
    json!({
        "realm": "unit",
        "providers": [{
            "name": "main",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "token_sources": [{"type": "bearer"}, {"type": "cookie", "name": "tg_token"}],
            "jwks": {
                "remote": {"cluster": "jwks", "uri": "http://jwks.test/keys", "timeout_ms": 1000},
                "backoff_initial_ms": 100,
                "backoff_max_ms": 400,
                "unknown_kid_refetch_seconds": 30,
                "max_response_bytes": 4096
            }
        }],
        "tenants": {"acme": {"hosts": [ACME]}, "globex": {"hosts": [GLOBEX]}},
        "routes": [
            {"path": {"prefix": "/public"}, "require": "public"},
            {"path": {"prefix": "/api"}, "require": "authenticated"}
        ],
        "default_requirement": "deny",
        "jwks_wait_ms": WAIT_MS,
        "retry_after_seconds": 7
    })
}

fn key_a() -> TestKey {
    TestKey::a("a1")
}

fn key_b() -> TestKey {
    TestKey::b("b1")
}

fn token(key: &TestKey, tenant: &str, user: &str) -> String {
    key.sign(&claims(ISSUER, AUDIENCE, tenant, user, &["viewer"]))
}

/// A request's headers: method, authority, path, then `extra`.
fn request(host: &str, path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![
        (":method".to_string(), "GET".to_string()),
        (":authority".to_string(), host.to_string()),
        (":path".to_string(), path.to_string()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

fn bearer(host: &str, token: &str) -> Vec<(String, String)> {
    request(
        host,
        "/api/x",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One worker and its fake host, driven the way Envoy drives them.
struct Sim {
    worker: Worker<FakeHost>,
    host: FakeHost,
    next_context: u32,
}

impl Sim {
    fn start(config: &Value) -> Sim {
        Sim::start_on(config, Rc::new(MemStore::default()), 1)
    }

    /// A worker whose shared data is `store`, as another worker of the same Envoy.
    fn start_on(config: &Value, store: Rc<MemStore>, worker_id: u64) -> Sim {
        Sim::start_prepared(config, store, worker_id, |_| {})
    }

    /// [`Sim::start_on`] on a host that `prepare` set up before the worker is configured.
    fn start_prepared(
        config: &Value,
        store: Rc<MemStore>,
        worker_id: u64,
        prepare: impl FnOnce(&FakeHost),
    ) -> Sim {
        let clock = u64::try_from(now()).expect("clock after 1970") * 1000;
        let host = FakeHost::new(clock, store, worker_id);
        prepare(&host);
        host.enter(ROOT);
        let worker = match Worker::configure(host.clone(), config.to_string().as_bytes()) {
            Ok(worker) => worker,
            Err(error) => panic!("the configuration is refused: {error}"),
        };
        Sim {
            worker,
            host,
            next_context: ROOT + 1,
        }
    }

    /// A worker whose keys were fetched (one callout, answered with `keys`).
    fn loaded(config: &Value, keys: &[&TestKey]) -> Sim {
        let mut sim = Sim::start(config);
        sim.tick(TICK_MS);
        let token = sim.only_callout();
        sim.answer(token, &jwks(keys));
        sim
    }

    /// A request arrives; its context and what the worker told the host.
    fn send(&mut self, headers: Vec<(String, String)>) -> (u32, Verdict) {
        let context = self.next_context;
        self.next_context += 1;
        self.host.begin_request(context, headers);
        (context, self.worker.on_request(context))
    }

    /// The root's timer fires after `ms`.
    fn tick(&mut self, ms: u64) {
        self.host.advance(ms);
        self.host.enter(ROOT);
        self.worker.on_tick();
    }

    /// Ticks every 100 ms for `ms`.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / TICK_MS {
            self.tick(TICK_MS);
        }
    }

    /// The JWKS server answers callout `token` with 200 and this document.
    fn answer(&mut self, token: u32, document: &Value) {
        let headers = vec![
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        self.answer_raw(token, headers, document.to_string().into_bytes());
    }

    fn answer_raw(&mut self, token: u32, headers: Vec<(String, String)>, body: Vec<u8>) {
        let (count, size) = (headers.len(), body.len());
        self.host.set_answer(headers, body);
        self.host.enter(ROOT);
        self.worker.on_callout_response(token, count, size);
    }

    /// Envoy reports a failed callout (reset, timeout, no route): no headers.
    fn fail(&mut self, token: u32) {
        self.host.set_answer(Vec::new(), Vec::new());
        self.host.enter(ROOT);
        self.worker.on_callout_response(token, 0, 0);
    }

    /// The request's stream ends (Envoy calls `on_done`); the host still knows the context.
    fn done(&mut self, context: u32) {
        self.host.enter(context);
        self.worker.on_request_done(context);
    }

    /// The token of the last callout, asserting there was exactly one.
    fn only_callout(&self) -> u32 {
        let callouts = self.host.callouts();
        assert_eq!(callouts.len(), 1, "callouts: {callouts:?}");
        callouts[0].token
    }

    fn last_callout(&self) -> u32 {
        self.host.callouts().last().expect("a callout").token
    }

    fn callouts(&self) -> usize {
        self.host.callouts().len()
    }

    /// The one reply `context` got.
    fn reply(&self, context: u32) -> Reply {
        let replies = self.host.replies_to(context);
        assert_eq!(replies.len(), 1, "replies to {context}: {replies:?}");
        replies[0].clone()
    }

    fn unanswered(&self, context: u32) -> bool {
        self.host.replies_to(context).is_empty() && !self.host.resumed().contains(&context)
    }

    /// A stat as Envoy shows it after the next tick (request counters are batched per tick).
    fn stat(&self, name: &str) -> i64 {
        self.worker.flush_stats();
        self.host.stat(name)
    }

    /// Every stat other than 0, as Envoy shows them after the next tick.
    fn stats(&self) -> BTreeMap<String, i64> {
        self.worker.flush_stats();
        self.host.stats()
    }
}

/// Asserts a catalogued refusal: status, `error` code, and `Retry-After` only on a 503.
fn assert_refused(reply: &Reply, status: u32, code: &str) {
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (status, code),
        "{reply:?}"
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=\"unit\"")),
        "{reply:?}"
    );
    let retry_after = (status == 503).then_some("7");
    assert_eq!(reply.header("retry-after"), retry_after, "{reply:?}");
}

#[test]
fn a_refused_configuration_says_why() {
    let host = FakeHost::new(0, Rc::new(MemStore::default()), 1);
    let error = match Worker::configure(host.clone(), b"{\"providers\": [") {
        Ok(_) => panic!("accepted a broken configuration"),
        Err(error) => error.to_string(),
    };
    assert!(error.starts_with("providers: "), "names the field: {error}");
    assert!(host.callouts().is_empty());
}

#[test]
fn an_inline_key_set_needs_no_callout() {
    let mut config = config();
    config["providers"][0]["jwks"] = json!({"inline": jwks(&[&key_a()])});
    let mut sim = Sim::start(&config);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 1);
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Continue);
    sim.run(1000);
    assert_eq!(sim.callouts(), 0);
    assert!(sim.host.replies().is_empty());
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-user-id"),
        Some("alice")
    );
}
