//! The election of one provider's key-set fetch: the generic [`Election`] with the key set's
//! fetcher as its schedule, and the shared rate limit of unknown-`kid` refetches. The protocol
//! is described in the documentation of `jwks::shared`.

use super::codec::Entry;
use super::election::{Election, Read, Schedule, ATTEMPTS};
use super::{Adopted, Mode, Namespace, Refetch, SharedStore, Tick};
use crate::jwks::fetch::KeySetFetcher;
use crate::jwks::JwksError;

impl Schedule for KeySetFetcher {
    type Adopted = Adopted;
    // The lease is elected even while a publication lands: the publisher still holds it.
    const ELECT_WHILE_PENDING: bool = true;

    fn lease_ms(&self) -> u64 {
        self.policy().lost_after_ms
    }

    fn due(&self, now_ms: u64) -> bool {
        self.poll(now_ms)
    }

    fn busy(&self) -> bool {
        self.in_flight()
    }

    /// The unknown-`kid` rate limit counts from the last refetch of any worker.
    fn observe(&mut self, entry: &Entry) {
        if let Some(at) = entry.unknown_kid_refetch_at {
            self.adopt_refetch_mark(at);
        }
    }

    fn adopt_body(&mut self, body: &[u8]) -> Adopted {
        match self.adopt_key_set(body) {
            Ok(count) => Adopted::Keys(count),
            Err(why) => Adopted::Unusable(why),
        }
    }

    fn follow(&mut self, entry: &Entry) {
        self.adopt_schedule(entry.next_fetch_at, entry.failures, entry.error.clone());
    }

    fn record(&self, next: &mut Entry, now_ms: u64) {
        next.next_fetch_at = self.next_wakeup().unwrap_or(now_ms);
        next.failures = self.consecutive_failures();
        next.error = self.last_error().cloned();
    }
}

/// The shared-fetch state of one provider in one worker.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    election: Election,
}

impl SharedKeys {
    /// `worker_id` must differ between the workers of an Envoy (0 is taken as 1).
    pub fn new(namespace: Namespace, worker_id: u64) -> SharedKeys {
        SharedKeys {
            election: Election::new(namespace, worker_id),
        }
    }

    pub fn namespace(&self) -> &Namespace {
        self.election.namespace()
    }

    /// Whether the last call could use shared data (for logs and metrics).
    pub fn mode(&self) -> Mode {
        self.election.mode()
    }

    /// The periodic step: adopt a newer publication, then, if a fetch is due and no other
    /// worker holds the lease, try to take it. Call it on every tick.
    pub fn tick(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        now_ms: u64,
    ) -> Tick {
        if !fetcher.is_remote() {
            return Tick::default();
        }
        let step = self.election.tick(store, fetcher, now_ms);
        let backoff = step.followed.filter(|&failures| failures > 0);
        Tick {
            fetch: step.fetch,
            adopted: step
                .adopted
                .or(backoff.map(|failures| Adopted::Backoff { failures })),
        }
    }

    /// Adopts a key set another worker published, if newer, without electing or fetching: for
    /// a request that cannot wait for the next tick. What the body gave, if one was adopted.
    pub fn catch_up(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
    ) -> Option<Adopted> {
        if !fetcher.is_remote() {
            return None;
        }
        self.election.catch_up(store, fetcher)
    }

    /// A token names a `kid` the key set lacks. Elects one refetch per Envoy, at most one per
    /// `unknown_kid_refetch_ms` across all workers.
    pub fn request_refetch(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        now_ms: u64,
    ) -> Refetch {
        if !fetcher.is_remote() {
            return Refetch::Refused;
        }
        if fetcher.in_flight() && !fetcher.poll(now_ms) {
            return Refetch::Wait;
        }
        for _ in 0..ATTEMPTS {
            let (entry, cas) = match self.election.read(store) {
                Read::Entry(entry, cas) => (entry, cas),
                // Nothing was ever fetched: the next tick starts the first fetch.
                Read::Created => return Refetch::Wait,
                Read::Unavailable => {
                    return if !fetcher.request_refetch(now_ms) {
                        Refetch::Refused
                    } else if fetcher.in_flight() {
                        Refetch::Wait
                    } else {
                        Refetch::Fetch
                    };
                }
            };
            // A fetch under way, or a newer set than this worker's, which its next tick adopts
            // (and then decides the waiting requests again).
            if entry.leased(now_ms) || !self.election.follows(&entry) {
                return Refetch::Wait;
            }
            if let Some(at) = entry.unknown_kid_refetch_at {
                let limit = fetcher.policy().unknown_kid_refetch_ms;
                if now_ms < at.saturating_add(limit) {
                    fetcher.adopt_refetch_mark(at);
                    return Refetch::Refused;
                }
            }
            if self
                .election
                .take_lease(store, fetcher, &entry, cas, now_ms, true)
            {
                // Mirror the refetch locally: the rate limit, and the due time for a fallback.
                fetcher.request_refetch(now_ms);
                return Refetch::Fetch;
            }
            // Another worker wrote the entry in between: look again.
        }
        Refetch::Wait
    }

    /// The callout answered. Feeds the fetcher, then, if this worker holds the lease, publishes
    /// the outcome and releases the lease. Returns what the fetcher returned.
    pub fn on_fetched(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        now_ms: u64,
        status: u32,
        cache_control: Option<&str>,
        body: &[u8],
    ) -> Result<usize, JwksError> {
        let result = fetcher.on_response(now_ms, status, cache_control, body);
        let published = result.as_ref().ok().map(|_| body);
        self.election.finished(store, fetcher, now_ms, published);
        result
    }

    /// The callout failed without a usable response. Feeds the fetcher, then, if this worker
    /// holds the lease, publishes the failure and releases the lease.
    pub fn on_failed(&mut self, store: &dyn SharedStore, fetcher: &mut KeySetFetcher, now_ms: u64) {
        fetcher.on_failure(now_ms);
        self.election.finished(store, fetcher, now_ms, None);
    }

    /// The fetch ended without a key set for a reason the glue found (a refused discovery
    /// document). Feeds the fetcher, then, if this worker holds the lease, publishes the failure
    /// and releases the lease, so that every worker backs off together.
    pub fn on_refused(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        now_ms: u64,
        error: JwksError,
    ) {
        fetcher.on_refused(now_ms, error);
        self.election.finished(store, fetcher, now_ms, None);
    }
}
