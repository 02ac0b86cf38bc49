//! The election: leases taken by compare-and-swap, publication of a fetch's outcome, adoption
//! of another worker's, and the shared rate limit of unknown-`kid` refetches. The protocol is
//! described in the documentation of `jwks::shared`.

use super::codec::{decode_body, encode_body, Entry, Lease, Tag};
use super::{Adopted, Mode, Namespace, Refetch, SharedStore, StoreError, Tick};
use crate::jwks::fetch::KeySetFetcher;
use crate::jwks::JwksError;

/// Compare-and-swap attempts before a call gives up until the next tick.
const ATTEMPTS: usize = 4;
/// How long after its lease lapsed a worker waits before taking it over itself.
pub(super) const TAKEOVER_GRACE_MS: u64 = 1_000;

impl Entry {
    /// Whether worker `me` may take the lease for a fetch now: one is due, and no live lease
    /// stands in the way. A worker whose own lease lapsed without an answer leaves the takeover
    /// to the others for [`TAKEOVER_GRACE_MS`]: its callouts may be what fails.
    fn fetch_due(&self, now_ms: u64, me: u64) -> bool {
        now_ms >= self.next_fetch_at
            && self.lease.is_none_or(|l| {
                let grace = if l.holder == me { TAKEOVER_GRACE_MS } else { 0 };
                now_ms >= l.until_ms.saturating_add(grace)
            })
    }

    /// Whether a fetch is under way somewhere (a lease that has not lapsed).
    fn leased(&self, now_ms: u64) -> bool {
        self.lease.is_some_and(|l| now_ms < l.until_ms)
    }
}

/// The `state` value as a worker found it.
enum Read {
    Entry(Entry, u32),
    /// There was no entry: an empty one was written.
    Created,
    Unavailable,
}

/// The shared-fetch state of one provider in one worker.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    namespace: Namespace,
    worker_id: u64,
    /// The generation of the entry this worker follows.
    adopted: Option<u64>,
    /// The tag of the body this worker loaded.
    adopted_keys: Option<Tag>,
    /// The entry's generation when this worker took the lease it holds.
    leased_at: Option<u64>,
    mode: Mode,
}

impl SharedKeys {
    /// `worker_id` must differ between the workers of an Envoy (0 is taken as 1).
    pub fn new(namespace: Namespace, worker_id: u64) -> SharedKeys {
        SharedKeys {
            namespace,
            worker_id: worker_id.max(1),
            adopted: None,
            adopted_keys: None,
            leased_at: None,
            mode: Mode::Shared,
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Whether the last call could use shared data (for logs and metrics).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The periodic step: adopt a newer publication, then, if a fetch is due and no other
    /// worker holds the lease, try to take it. Call it on every tick.
    pub fn tick(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        now_ms: u64,
    ) -> Tick {
        let mut tick = Tick::default();
        if !fetcher.is_remote() {
            return tick;
        }
        let (entry, cas) = match self.read(store) {
            Read::Entry(entry, cas) => (entry, cas),
            // The lease is taken on a later tick; see the module documentation.
            Read::Created => return tick,
            Read::Unavailable => {
                tick.fetch = fetcher.poll(now_ms);
                return tick;
            }
        };
        tick.adopted = self.adopt(store, fetcher, &entry);
        // A callout of this worker under way and not yet lost: nothing to elect.
        let idle = !fetcher.in_flight() || fetcher.poll(now_ms);
        if idle && entry.fetch_due(now_ms, self.worker_id) {
            tick.fetch = self.take_lease(store, fetcher, &entry, cas, now_ms, false);
        }
        tick
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
            let (entry, cas) = match self.read(store) {
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
            if entry.leased(now_ms) || self.adopted.is_none_or(|g| g < entry.generation) {
                return Refetch::Wait;
            }
            if let Some(at) = entry.unknown_kid_refetch_at {
                let limit = fetcher.policy().unknown_kid_refetch_ms;
                if now_ms < at.saturating_add(limit) {
                    fetcher.adopt_refetch_mark(at);
                    return Refetch::Refused;
                }
            }
            if self.take_lease(store, fetcher, &entry, cas, now_ms, true) {
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
        if let Some(leased_at) = self.leased_at.take() {
            let published = result.as_ref().ok().map(|_| body);
            self.publish(store, fetcher, now_ms, leased_at, published);
        }
        result
    }

    /// The callout failed without a usable response. Feeds the fetcher, then, if this worker
    /// holds the lease, publishes the failure and releases the lease.
    pub fn on_failed(&mut self, store: &dyn SharedStore, fetcher: &mut KeySetFetcher, now_ms: u64) {
        fetcher.on_failure(now_ms);
        if let Some(leased_at) = self.leased_at.take() {
            self.publish(store, fetcher, now_ms, leased_at, None);
        }
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
        if let Some(leased_at) = self.leased_at.take() {
            self.publish(store, fetcher, now_ms, leased_at, None);
        }
    }

    fn read(&mut self, store: &dyn SharedStore) -> Read {
        let read = match store.get(&self.namespace.state_key) {
            Ok(Some((bytes, cas))) => match Entry::decode(&bytes) {
                Some(entry) => Read::Entry(entry, cas),
                None => Read::Unavailable,
            },
            Ok(None) => self.create(store),
            Err(_) => Read::Unavailable,
        };
        self.mode = match read {
            Read::Unavailable => Mode::PerWorker,
            Read::Entry(..) | Read::Created => Mode::Shared,
        };
        read
    }

    /// Writes an empty entry and an empty body placeholder (so that every later body write can
    /// be a CAS). Blind writes: the host cannot create a key atomically.
    fn create(&self, store: &dyn SharedStore) -> Read {
        let placeholder = Tag {
            generation: 0,
            holder: 0,
        };
        let keys_written = match store.get(&self.namespace.keys_key) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => store.set(
                &self.namespace.keys_key,
                &encode_body(placeholder, &[]),
                None,
            ),
            Err(e) => Err(e),
        };
        let state_written = keys_written
            .and_then(|()| store.set(&self.namespace.state_key, &Entry::default().encode(), None));
        match state_written {
            Ok(()) => Read::Created,
            Err(_) => Read::Unavailable,
        }
    }

    /// Follows the entry if it is newer than the one this worker follows.
    fn adopt(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &mut KeySetFetcher,
        entry: &Entry,
    ) -> Option<Adopted> {
        if let Some(at) = entry.unknown_kid_refetch_at {
            fetcher.adopt_refetch_mark(at);
        }
        if entry.generation == 0 || self.adopted.is_some_and(|g| g >= entry.generation) {
            return None;
        }
        let mut adopted = None;
        if let Some(tag) = entry.keys.filter(|&tag| self.adopted_keys != Some(tag)) {
            let Ok(Some((bytes, _))) = store.get(&self.namespace.keys_key) else {
                return None; // Try again on the next tick.
            };
            match decode_body(&bytes) {
                Some((body_tag, body)) if body_tag == tag => {
                    adopted = Some(match fetcher.adopt_key_set(body) {
                        Ok(count) => Adopted::Keys(count),
                        Err(why) => Adopted::Unusable(why),
                    });
                    self.adopted_keys = Some(tag);
                }
                // A publication is half-way through: the body of the next generation is
                // already written. Its state follows at once.
                _ => return None,
            }
        }
        fetcher.adopt_schedule(entry.next_fetch_at, entry.failures, entry.error.clone());
        self.adopted = Some(entry.generation);
        if adopted.is_none() && entry.failures > 0 {
            adopted = Some(Adopted::Backoff {
                failures: entry.failures,
            });
        }
        adopted
    }

    fn take_lease(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &KeySetFetcher,
        entry: &Entry,
        cas: u32,
        now_ms: u64,
        unknown_kid: bool,
    ) -> bool {
        let mut next = entry.clone();
        next.lease = Some(Lease {
            holder: self.worker_id,
            until_ms: now_ms.saturating_add(fetcher.policy().lost_after_ms),
        });
        if unknown_kid {
            next.unknown_kid_refetch_at = Some(now_ms);
        }
        match store.set(&self.namespace.state_key, &next.encode(), Some(cas)) {
            Ok(()) => {
                self.leased_at = Some(entry.generation);
                true
            }
            Err(StoreError::CasMismatch) => false,
            Err(StoreError::Unavailable) => {
                self.mode = Mode::PerWorker;
                false
            }
        }
    }

    /// Publishes this worker's fetch outcome (`body` on success) and releases its lease, unless
    /// the lease was taken over or something was published since it was taken: then the
    /// outcome stays local and the shared one is adopted on the next tick.
    fn publish(
        &mut self,
        store: &dyn SharedStore,
        fetcher: &KeySetFetcher,
        now_ms: u64,
        leased_at: u64,
        body: Option<&[u8]>,
    ) {
        for _ in 0..ATTEMPTS {
            // The body's CAS is read before the entry, so that a worker that loses the lease
            // between the two reads cannot overwrite the body of the one that took it.
            let keys_cas = match body {
                Some(_) => match store.get(&self.namespace.keys_key) {
                    Ok(found) => found.map(|(_, cas)| cas),
                    Err(_) => return,
                },
                None => None,
            };
            let Ok(Some((bytes, cas))) = store.get(&self.namespace.state_key) else {
                return;
            };
            let Some(entry) = Entry::decode(&bytes) else {
                return;
            };
            let holder = entry.lease.map(|l| l.holder);
            if entry.generation != leased_at || holder != Some(self.worker_id) {
                return;
            }
            let generation = entry.generation.saturating_add(1);
            let mut next = entry;
            next.generation = generation;
            next.lease = None;
            next.next_fetch_at = fetcher.next_wakeup().unwrap_or(now_ms);
            next.failures = fetcher.consecutive_failures();
            next.error = fetcher.last_error().cloned();
            let tag = Tag {
                generation,
                holder: self.worker_id,
            };
            if let Some(body) = body {
                match store.set(&self.namespace.keys_key, &encode_body(tag, body), keys_cas) {
                    Ok(()) => {}
                    Err(StoreError::CasMismatch) => continue,
                    Err(StoreError::Unavailable) => return,
                }
                next.keys = Some(tag);
                next.fetched_at = Some(now_ms);
            }
            match store.set(&self.namespace.state_key, &next.encode(), Some(cas)) {
                Ok(()) => {
                    self.adopted = Some(generation);
                    if body.is_some() {
                        self.adopted_keys = Some(tag);
                    }
                    return;
                }
                Err(StoreError::CasMismatch) => continue,
                Err(StoreError::Unavailable) => return,
            }
        }
    }
}
