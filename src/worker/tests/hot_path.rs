//! What a request costs in host calls: each call crosses from the VM into Envoy, so the cache-hit
//! path is pinned here and cannot grow unnoticed.

use std::collections::BTreeMap;

use super::*;

/// The host calls of one allowed request whose token is in the cache.
fn cache_hit_calls(config: &Value) -> BTreeMap<&'static str, usize> {
    let mut sim = Sim::loaded(config, &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    let (_, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue, "first request verifies");
    sim.host.take_host_calls();
    let (ctx, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue);
    let calls = sim.host.take_host_calls();
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-user-id"),
        Some("alice")
    );
    calls
}

/// Before batching the stats, a hit made 8: the two counter increments went per request.
#[test]
fn a_cache_hit_reads_headers_and_clock_once_and_writes_only_the_identity() {
    let calls = cache_hit_calls(&config());
    let expected = BTreeMap::from([
        ("now_ms", 1),
        ("request_headers", 1),
        // x-tenant-id, x-user-id, x-user-roles; the token's removal.
        ("set_request_header", 4),
    ]);
    assert_eq!(calls, expected);
}

#[test]
fn request_counters_reach_the_host_on_the_next_tick() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    sim.send(bearer(ACME, &tok));
    sim.send(request(ACME, "/api/x", &[]));
    assert_eq!(sim.host.stat("tenantgate.requests.allowed"), 0);
    assert_eq!(sim.host.stat("tenantgate.requests.denied"), 0);
    sim.tick(TICK_MS);
    assert_eq!(sim.host.stat("tenantgate.requests.allowed"), 1);
    assert_eq!(sim.host.stat("tenantgate.tenant.acme.allowed"), 1);
    assert_eq!(sim.host.stat("tenantgate.denied.token_missing"), 1);
    assert_eq!(sim.host.stat("tenantgate.tenant.acme.denied"), 1);
    // Nothing moved since: the next tick makes no increment.
    sim.host.take_host_calls();
    sim.tick(TICK_MS);
    assert_eq!(sim.host.take_host_calls().get("increment_metric"), None);
}

/// A public route, with the same token sent along: the filter reads the header map and the clock
/// and decides, and writes nothing (the token is neither read nor removed). The four header
/// writes are what a cache hit adds in host calls (docs/performance.md).
#[test]
fn a_public_route_reads_headers_and_clock_once_and_writes_nothing() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let tok = token(&key_a(), "acme", "alice");
    sim.host.take_host_calls();
    let bearer = format!("Bearer {tok}");
    let (_, verdict) = sim.send(request(ACME, "/public/x", &[("authorization", &bearer)]));
    assert_eq!(verdict, Verdict::Continue);
    let calls = sim.host.take_host_calls();
    assert_eq!(
        calls,
        BTreeMap::from([("now_ms", 1), ("request_headers", 1)])
    );
}

/// `n` cache hits, for a profiler to count (`scripts/profile-hit --native` runs it under callgrind
/// and collects inside this function only). Not inlined, so that its name stays in the profile.
#[inline(never)]
fn profile_cache_hits(sim: &mut Sim, request: &[(String, String)], n: usize) {
    for _ in 0..n {
        let (_, verdict) = sim.send(request.to_vec());
        assert_eq!(verdict, Verdict::Continue);
    }
}

/// The profiler's workload: one verification, then `TENANTGATE_PROFILE_HITS` (default 1000)
/// cache hits of the same token through the worker and the fake host.
#[test]
#[ignore = "a profiling workload, run by scripts/profile-hit --native"]
fn cache_hits_for_the_profiler() {
    let n = std::env::var("TENANTGATE_PROFILE_HITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let request = bearer(ACME, &token(&key_a(), "acme", "alice"));
    let (_, verdict) = sim.send(request.clone());
    assert_eq!(verdict, Verdict::Continue, "first request verifies");
    profile_cache_hits(&mut sim, &request, n);
}

/// Counts the allocations (and reallocations) of the current thread, for
/// [`a_cache_hit_allocates_little`]; tests run in threads of their own, so others do not count.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    fn count() {
        // `try_with`: the thread's storage may be gone while it exits.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }

    // SAFETY: every call goes to the system allocator unchanged; counting touches a const-
    // initialized thread-local, which never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made by this thread so far.
    pub fn allocations() -> usize {
        ALLOCATIONS.with(Cell::get)
    }
}

/// Allocations of one cache hit through the worker, the fake host's included: 22, of which the
/// fake host makes 14 (7 building the header block, which Envoy hands over in one buffer, and
/// 7 recording the header writes and counting calls), the module 8 (among them the header
/// list's index, the normalized path, the identity's tenant, user and roles, the roles header).
/// A hit used to copy the whole cached token too (its kid and kept claims besides), and the
/// host name.
#[test]
fn a_cache_hit_allocates_little() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let request = bearer(ACME, &token(&key_a(), "acme", "alice"));
    for _ in 0..3 {
        let (_, verdict) = sim.send(request.clone());
        assert_eq!(verdict, Verdict::Continue);
    }
    let context = sim.next_context;
    sim.next_context += 1;
    sim.host.begin_request(context, request);
    sim.host.take_host_calls();
    let before = counting::allocations();
    let verdict = sim.worker.on_request(context);
    let allocations = counting::allocations() - before;
    assert_eq!(verdict, Verdict::Continue);
    eprintln!("allocations on a cache hit: {allocations}");
    assert!(allocations <= 22, "{allocations} allocations on a hit");
}
