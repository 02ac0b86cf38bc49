//! Requests that wait for keys: the first fetch, deadlines, refetch on an unknown `kid`, failed
//! callouts, and key sets adopted from another worker.

use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tenantgate_testkit::keys::jwks;
use tenantgate_testkit::TestKey;

use super::*;

#[test]
fn a_request_waits_while_keys_load_and_is_allowed_when_they_arrive() {
    let mut sim = Sim::start(&config());
    assert_eq!(sim.callouts(), 0, "the first fetch is elected on a tick");
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Pause);
    assert_eq!(sim.callouts(), 0, "a request never dispatches");

    sim.tick(TICK_MS);
    let callouts = sim.host.callouts();
    assert_eq!(callouts.len(), 1);
    let callout = &callouts[0];
    assert_eq!(callout.from_context, ROOT);
    assert_eq!(callout.cluster, "jwks");
    assert_eq!(callout.timeout, Duration::from_millis(1000));
    let expected: Vec<(String, String)> = [
        (":method", "GET"),
        (":path", "/keys"),
        (":authority", "jwks.test"),
        ("accept", "application/json"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(callout.headers, expected);
    assert!(sim.unanswered(ctx), "the request waits for the answer");

    sim.answer(callout.token, &jwks(&[&key_a()]));
    assert_eq!(sim.host.resumed(), vec![ctx]);
    assert!(sim.host.replies().is_empty());
    let headers = sim.host.headers_of(ctx);
    assert_eq!(header(&headers, "x-tenant-id"), Some("acme"));
    assert_eq!(header(&headers, "x-user-id"), Some("alice"));
    assert_eq!(header(&headers, "authorization"), None);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.success"), 1);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 1);
    assert_eq!(sim.stat("tenantgate.requests.allowed"), 1);

    // Decided once: later ticks answer nothing more.
    sim.run(WAIT_MS * 2);
    assert_eq!(sim.host.resumed(), vec![ctx]);
    assert!(sim.host.replies().is_empty());
}

#[test]
fn a_waiting_request_is_refused_503_at_its_deadline() {
    let mut sim = Sim::start(&config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    sim.run(WAIT_MS - TICK_MS);
    assert!(sim.unanswered(ctx), "refused before its deadline");
    sim.tick(TICK_MS);
    assert_refused(&sim.reply(ctx), 503, "jwks_unavailable");
    assert!(sim.host.resumed().is_empty());
    assert_eq!(sim.stat("tenantgate.denied.jwks_unavailable"), 1);
    assert_eq!(sim.stat("tenantgate.requests.denied"), 1);
    // The deadline refusal knows no place: it counts under `_other`.
    assert_eq!(sim.stat("tenantgate.tenant._other.denied"), 1);

    // Keys arriving later answer it no second time.
    let token = sim.last_callout();
    sim.answer(token, &jwks(&[&key_a()]));
    sim.run(1000);
    assert_eq!(sim.host.replies_to(ctx).len(), 1);
    assert!(sim.host.resumed().is_empty());
}

#[test]
fn with_no_wait_a_request_is_decided_at_once() {
    let mut config = config();
    config["jwks_wait_ms"] = json!(0);
    let mut sim = Sim::start(&config);
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Pause);
    assert_refused(&sim.reply(ctx), 503, "jwks_unavailable");

    // Nothing waits: the keys arriving answer it no second time.
    sim.tick(TICK_MS);
    let token_id = sim.only_callout();
    sim.answer(token_id, &jwks(&[&key_a()]));
    assert!(sim.host.resumed().is_empty());
    assert_eq!(sim.host.replies().len(), 1);

    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "bob")));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(header(&sim.host.headers_of(ctx), "x-user-id"), Some("bob"));
}

#[test]
fn an_unknown_kid_is_refetched_once_from_the_root() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let b_token = token(&key_b(), "acme", "bob");
    let (first, verdict) = sim.send(bearer(ACME, &b_token));
    assert_eq!(verdict, Verdict::Pause);
    let (second, _) = sim.send(bearer(ACME, &b_token));
    assert_eq!(
        sim.callouts(),
        1,
        "a request never dispatches the refetch itself"
    );

    sim.tick(TICK_MS);
    let callouts = sim.host.callouts();
    assert_eq!(callouts.len(), 2, "one refetch for both requests");
    assert_eq!(callouts[1].from_context, ROOT);
    sim.run(500);
    assert_eq!(sim.callouts(), 2, "the refetch is dispatched once");
    assert!(sim.unanswered(first) && sim.unanswered(second));

    sim.answer(callouts[1].token, &jwks(&[&key_a(), &key_b()]));
    assert_eq!(sim.host.resumed(), vec![first, second]);
    for ctx in [first, second] {
        assert_eq!(header(&sim.host.headers_of(ctx), "x-user-id"), Some("bob"));
    }

    // Within the rate limit another unknown kid is final at once.
    let c_token = token(&TestKey::b("c1"), "acme", "carol");
    let (third, verdict) = sim.send(bearer(ACME, &c_token));
    assert_eq!(verdict, Verdict::Pause);
    assert_refused(&sim.reply(third), 401, "key_not_found");
    sim.run(1000);
    assert_eq!(sim.callouts(), 2, "rate-limited: no refetch");

    // Once the limit has passed, it may ask again.
    sim.run(30_000);
    let (fourth, _) = sim.send(bearer(ACME, &c_token));
    assert!(sim.unanswered(fourth));
    sim.tick(TICK_MS);
    assert_eq!(sim.callouts(), 3);
}

#[test]
fn a_kid_still_unknown_after_the_refetch_is_refused() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_b(), "acme", "bob")));
    sim.tick(TICK_MS);
    let refetch = sim.last_callout();
    sim.answer(refetch, &jwks(&[&key_a()]));
    assert_refused(&sim.reply(ctx), 401, "key_not_found");
    assert!(sim.host.resumed().is_empty());
    sim.run(1000);
    assert_eq!(sim.callouts(), 2);
}

#[test]
fn an_unknown_kid_asks_again_after_a_set_that_was_no_refetch_arrives() {
    // The token waits for the first fetch; the set it brings lacks the token's kid. That set
    // was a routine fetch, not a refetch for this kid: a refetch is still due.
    let mut sim = Sim::start(&config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_b(), "acme", "bob")));
    sim.tick(TICK_MS);
    let first = sim.only_callout();
    sim.answer(first, &jwks(&[&key_a()]));
    assert!(sim.unanswered(ctx), "the request waits for a refetch");
    assert_eq!(
        sim.callouts(),
        1,
        "the refetch goes out from the root's tick"
    );

    sim.tick(TICK_MS);
    assert_eq!(sim.callouts(), 2);
    let refetch = sim.last_callout();
    sim.answer(refetch, &jwks(&[&key_a(), &key_b()]));
    assert_eq!(sim.host.resumed(), vec![ctx]);
}

#[test]
fn a_request_that_ends_while_waiting_is_never_answered() {
    let mut sim = Sim::start(&config());
    let (gone, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    let (stays, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "bob")));
    sim.done(gone);
    sim.tick(TICK_MS);
    let token_id = sim.only_callout();
    sim.answer(token_id, &jwks(&[&key_a()]));
    assert_eq!(sim.host.resumed(), vec![stays]);
    sim.run(WAIT_MS * 2);
    assert!(sim.unanswered(gone));
    assert_eq!(sim.stat("tenantgate.requests.allowed"), 1);
}

#[test]
fn a_request_the_host_forgot_is_dropped() {
    let mut sim = Sim::start(&config());
    let (reset, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    let (stays, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "bob")));
    // A client reset: the host refuses to switch to the context.
    sim.host.forget_request(reset);
    sim.tick(TICK_MS);
    let token_id = sim.only_callout();
    sim.answer(token_id, &jwks(&[&key_a()]));
    assert_eq!(sim.host.resumed(), vec![stays]);
    assert_eq!(sim.stat("tenantgate.requests.allowed"), 1);
    sim.run(WAIT_MS * 2);
    assert_eq!(sim.stat("tenantgate.requests.denied"), 0);
}

#[test]
fn a_failed_callout_counts_a_failure_and_requests_wait_until_their_deadline() {
    let mut sim = Sim::start(&config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    let deadline = sim.host.now() + WAIT_MS;
    sim.tick(TICK_MS);
    let first = sim.only_callout();
    sim.fail(first);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.failure"), 1);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 0);
    assert!(
        sim.unanswered(ctx),
        "a failure is no answer for the request"
    );

    // The retries (after the backoff, from the root) fail too, until the deadline.
    let mut answered = 1;
    while sim.host.now() < deadline {
        assert!(sim.unanswered(ctx), "refused before its deadline");
        sim.tick(TICK_MS);
        let callouts = sim.host.callouts();
        for callout in &callouts[answered..] {
            assert_eq!(callout.from_context, ROOT);
            sim.fail(callout.token);
        }
        answered = callouts.len();
    }
    assert!(answered > 1, "the fetch is retried");
    assert_eq!(
        sim.stat("tenantgate.jwks.main.fetch.failure"),
        i64::try_from(answered).expect("few")
    );
    assert_refused(&sim.reply(ctx), 503, "jwks_unavailable");
}

#[test]
fn a_callout_the_host_refuses_counts_a_failure() {
    let mut sim = Sim::start(&config());
    sim.host.refuse_dispatch(true);
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    sim.tick(TICK_MS);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.failure"), 1);
    sim.host.refuse_dispatch(false);
    sim.run(1000);
    let token_id = sim.last_callout();
    sim.answer(token_id, &jwks(&[&key_a()]));
    assert_eq!(sim.host.resumed(), vec![ctx]);
}

#[test]
fn the_answer_is_read_up_to_the_size_cap_and_refused_beyond() {
    let mut sim = Sim::start(&config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    sim.tick(TICK_MS);
    let token_id = sim.only_callout();
    let mut body = jwks(&[&key_a()]).to_string().into_bytes();
    body.resize(10_000, b' ');
    let headers = vec![(":status".to_string(), "200".to_string())];
    sim.answer_raw(token_id, headers, body);
    assert_eq!(sim.host.body_reads(), vec![4097]);
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.rejected"), 1);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 0);
    assert!(sim.unanswered(ctx));
}

#[test]
fn a_bad_answer_keeps_the_good_key_set() {
    let mut config = config();
    config["providers"][0]["jwks"]["refresh_default_seconds"] = json!(1);
    config["providers"][0]["jwks"]["refresh_min_seconds"] = json!(1);
    let mut sim = Sim::loaded(&config, &[&key_a()]);
    sim.run(1500);
    assert_eq!(sim.callouts(), 2, "the refresh is due");
    let refresh = sim.last_callout();
    let headers = vec![(":status".to_string(), "500".to_string())];
    sim.answer_raw(refresh, headers, b"oops".to_vec());
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.rejected"), 1);
    assert_eq!(sim.stat("tenantgate.jwks.main.keys"), 1);
    let (_, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Continue);
}

#[test]
fn an_answer_to_a_callout_given_up_on_is_ignored() {
    let mut sim = Sim::start(&config());
    let (ctx, _) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    sim.answer(999, &jwks(&[&key_a()]));
    assert!(sim.unanswered(ctx));
    assert_eq!(sim.stat("tenantgate.jwks.main.fetch.success"), 0);
}

#[test]
fn another_workers_key_set_is_adopted_without_a_callout() {
    let store = Rc::new(MemStore::default());
    let mut fetcher = Sim::start_on(&config(), Rc::clone(&store), 1);
    fetcher.tick(TICK_MS);
    let token_id = fetcher.only_callout();

    let mut other = Sim::start_on(&config(), store, 2);
    let (ctx, _) = other.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    other.run(500);
    assert_eq!(other.callouts(), 0, "the other worker holds the lease");
    assert!(other.unanswered(ctx));

    fetcher.answer(token_id, &jwks(&[&key_a()]));
    other.tick(TICK_MS);
    assert_eq!(other.host.resumed(), vec![ctx]);
    assert_eq!(
        header(&other.host.headers_of(ctx), "x-user-id"),
        Some("alice")
    );
    assert_eq!(other.stat("tenantgate.jwks.main.keys"), 1);
    assert_eq!(other.callouts(), 0, "adopted, not fetched");
}

#[test]
fn an_unknown_kid_waits_for_the_refetch_another_worker_publishes() {
    let store = Rc::new(MemStore::default());
    let mut one = Sim::start_on(&config(), Rc::clone(&store), 1);
    one.tick(TICK_MS);
    let mut two = Sim::start_on(&config(), store, 2);
    let first = one.only_callout();
    one.answer(first, &jwks(&[&key_a()]));
    two.tick(TICK_MS);
    assert_eq!(two.stat("tenantgate.jwks.main.keys"), 1);

    // Worker one is elected for the refetch; worker two's request waits for its publication.
    let b_token = token(&key_b(), "acme", "bob");
    let (waits_in_one, _) = one.send(bearer(ACME, &b_token));
    let (waits_in_two, _) = two.send(bearer(ACME, &b_token));
    one.tick(TICK_MS);
    two.tick(TICK_MS);
    assert_eq!((one.callouts(), two.callouts()), (2, 0));
    let refetch = one.last_callout();
    one.answer(refetch, &jwks(&[&key_a(), &key_b()]));
    assert_eq!(one.host.resumed(), vec![waits_in_one]);
    two.tick(TICK_MS);
    assert_eq!(two.host.resumed(), vec![waits_in_two]);
    assert_eq!(two.callouts(), 0);
}
