//! The election, written once for every value fetched once per Envoy (key sets here, the tenant
//! directory in `directory::shared`): leases taken by compare-and-swap, publication of a fetch's
//! outcome, following another worker's, and the fallback to this worker's own schedule when
//! shared data fails. The protocol is described in the documentation of `jwks::shared`; what
//! differs between the values is the [`Schedule`] of each.

use super::codec::{decode_body, encode_body, Entry, Lease, Tag};
use super::{Mode, Namespace, SharedStore, StoreError};

/// Compare-and-swap attempts before a call gives up until the next tick.
pub(super) const ATTEMPTS: usize = 4;
/// How long after its lease lapsed a worker waits before taking it over itself.
pub(crate) const TAKEOVER_GRACE_MS: u64 = 1_000;

/// A worker's own fetch schedule for one elected value, which the election drives and follows.
pub(crate) trait Schedule {
    /// What adopting a published body gives the caller.
    type Adopted;
    /// Whether the election goes on while a publication is half-way through (or its body could
    /// not be read); otherwise the tick waits for it to land.
    const ELECT_WHILE_PENDING: bool;
    /// How long a lease lasts: past it, the holder's fetch is taken as lost.
    fn lease_ms(&self) -> u64;
    /// Whether a fetch of this worker is due now, or the one under way is lost.
    fn due(&self, now_ms: u64) -> bool;
    /// Whether a fetch of this worker is under way.
    fn busy(&self) -> bool;
    /// Sees every entry read on a tick, newer or not.
    fn observe(&mut self, _entry: &Entry) {}
    /// Takes in a body another worker published.
    fn adopt_body(&mut self, body: &[u8]) -> Self::Adopted;
    /// Follows the schedule of a newer entry.
    fn follow(&mut self, entry: &Entry);
    /// Writes this worker's outcome (next fetch, failures) into the entry it publishes.
    fn record(&self, next: &mut Entry, now_ms: u64);
}

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
    pub(super) fn leased(&self, now_ms: u64) -> bool {
        self.lease.is_some_and(|l| now_ms < l.until_ms)
    }
}

/// The `state` value as a worker found it.
pub(super) enum Read {
    Entry(Entry, u32),
    /// There was no entry: an empty one was written.
    Created,
    Unavailable,
}

/// What following an entry came to.
enum Follow<A> {
    /// It is not newer than the one this worker follows.
    Current,
    /// A publication is half-way through (the body of the next generation is already written;
    /// its state follows at once), or the body could not be read.
    Pending,
    /// Followed, with what its body gave if that was new too.
    Newer(Option<A>),
}

/// What a tick asks of the caller.
pub(crate) struct Step<A> {
    /// Dispatch the callout now (this worker took the lease, or it is alone and due).
    pub(crate) fetch: bool,
    /// What a body published by another worker gave, when one was adopted on this tick.
    pub(crate) adopted: Option<A>,
    /// The consecutive failures of the newer entry followed on this tick, if one was.
    pub(crate) followed: Option<u32>,
}

/// The election state of one value in one worker.
#[derive(Debug, Clone)]
pub(crate) struct Election {
    namespace: Namespace,
    worker_id: u64,
    /// The generation of the entry this worker follows.
    followed: Option<u64>,
    /// The tag of the body this worker read.
    read: Option<Tag>,
    /// The entry's generation when this worker took the lease it holds.
    leased_at: Option<u64>,
    mode: Mode,
}

impl Election {
    /// `worker_id` must differ between the workers of an Envoy (0 is taken as 1).
    pub(crate) fn new(namespace: Namespace, worker_id: u64) -> Election {
        Election {
            namespace,
            worker_id: worker_id.max(1),
            followed: None,
            read: None,
            leased_at: None,
            mode: Mode::Shared,
        }
    }

    pub(crate) fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Whether the last call could use shared data.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether this worker follows an entry at least as new as `entry`.
    pub(super) fn follows(&self, entry: &Entry) -> bool {
        self.followed.is_some_and(|g| g >= entry.generation)
    }

    /// The periodic step: follow a newer publication, then, if a fetch is due and no other
    /// worker holds the lease, try to take it. Alone, the schedule's own due time decides.
    pub(crate) fn tick<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut S,
        now_ms: u64,
    ) -> Step<S::Adopted> {
        let mut step = Step {
            fetch: false,
            adopted: None,
            followed: None,
        };
        let (entry, cas) = match self.read(store) {
            Read::Entry(entry, cas) => (entry, cas),
            // The lease is taken on a later tick; see the module documentation.
            Read::Created => return step,
            Read::Unavailable => {
                step.fetch = schedule.due(now_ms);
                return step;
            }
        };
        schedule.observe(&entry);
        match self.follow(store, schedule, &entry) {
            Follow::Current => {}
            Follow::Pending if S::ELECT_WHILE_PENDING => {}
            Follow::Pending => return step,
            Follow::Newer(adopted) => {
                step.adopted = adopted;
                step.followed = Some(entry.failures);
            }
        }
        // A callout of this worker under way and not yet lost: nothing to elect.
        let idle = !schedule.busy() || schedule.due(now_ms);
        if idle && entry.fetch_due(now_ms, self.worker_id) {
            step.fetch = self.take_lease(store, schedule, &entry, cas, now_ms, false);
        }
        step
    }

    /// Follows a newer publication, if there is one, and nothing else: no lease is taken and
    /// nothing is due to the caller but what the body gave. For a request that cannot wait for
    /// the next tick.
    pub(crate) fn catch_up<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut S,
    ) -> Option<S::Adopted> {
        let Read::Entry(entry, _) = self.read(store) else {
            return None;
        };
        schedule.observe(&entry);
        match self.follow(store, schedule, &entry) {
            Follow::Newer(adopted) => adopted,
            Follow::Current | Follow::Pending => None,
        }
    }

    /// The fetch this worker made ended, and its schedule has taken the outcome in: if this
    /// worker holds the lease, publishes the outcome (`body` on success) and releases the lease.
    pub(crate) fn finished<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &S,
        now_ms: u64,
        body: Option<&[u8]>,
    ) {
        if let Some(leased_at) = self.leased_at.take() {
            self.publish(store, schedule, now_ms, leased_at, body);
        }
    }

    pub(super) fn read(&mut self, store: &dyn SharedStore) -> Read {
        let read = match store.get(self.namespace.state_key()) {
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
        let body_key = self.namespace.keys_key();
        let body_written = match store.get(body_key) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => store.set(body_key, &encode_body(placeholder, &[]), None),
            Err(e) => Err(e),
        };
        let state_written = body_written
            .and_then(|()| store.set(self.namespace.state_key(), &Entry::default().encode(), None));
        match state_written {
            Ok(()) => Read::Created,
            Err(_) => Read::Unavailable,
        }
    }

    /// Follows the entry if it is newer than the one this worker follows, adopting its body if
    /// that is new too.
    fn follow<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut S,
        entry: &Entry,
    ) -> Follow<S::Adopted> {
        if entry.generation == 0 || self.follows(entry) {
            return Follow::Current;
        }
        let mut adopted = None;
        if let Some(tag) = entry.keys.filter(|&tag| self.read != Some(tag)) {
            let Ok(Some((bytes, _))) = store.get(self.namespace.keys_key()) else {
                return Follow::Pending; // Try again on the next tick.
            };
            match decode_body(&bytes) {
                Some((body_tag, body)) if body_tag == tag => {
                    adopted = Some(schedule.adopt_body(body));
                    self.read = Some(tag);
                }
                _ => return Follow::Pending,
            }
        }
        schedule.follow(entry);
        self.followed = Some(entry.generation);
        Follow::Newer(adopted)
    }

    /// Takes the lease on `entry` (read with `cas`); `unknown_kid` also stamps the shared
    /// rate limit of unknown-`kid` refetches.
    pub(super) fn take_lease<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &S,
        entry: &Entry,
        cas: u32,
        now_ms: u64,
        unknown_kid: bool,
    ) -> bool {
        let mut next = entry.clone();
        next.lease = Some(Lease {
            holder: self.worker_id,
            until_ms: now_ms.saturating_add(schedule.lease_ms()),
        });
        if unknown_kid {
            next.unknown_kid_refetch_at = Some(now_ms);
        }
        match store.set(self.namespace.state_key(), &next.encode(), Some(cas)) {
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
    /// outcome stays local and the shared one is followed on the next tick.
    fn publish<S: Schedule>(
        &mut self,
        store: &dyn SharedStore,
        schedule: &S,
        now_ms: u64,
        leased_at: u64,
        body: Option<&[u8]>,
    ) {
        for _ in 0..ATTEMPTS {
            // The body's CAS is read before the entry, so that a worker that loses the lease
            // between the two reads cannot overwrite the body of the one that took it.
            let body_cas = match body {
                Some(_) => match store.get(self.namespace.keys_key()) {
                    Ok(found) => found.map(|(_, cas)| cas),
                    Err(_) => return,
                },
                None => None,
            };
            let Ok(Some((bytes, cas))) = store.get(self.namespace.state_key()) else {
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
            schedule.record(&mut next, now_ms);
            let tag = Tag {
                generation,
                holder: self.worker_id,
            };
            if let Some(body) = body {
                let key = self.namespace.keys_key();
                match store.set(key, &encode_body(tag, body), body_cas) {
                    Ok(()) => {}
                    Err(StoreError::CasMismatch) => continue,
                    Err(StoreError::Unavailable) => return,
                }
                next.keys = Some(tag);
                next.fetched_at = Some(now_ms);
            }
            match store.set(self.namespace.state_key(), &next.encode(), Some(cas)) {
                Ok(()) => {
                    self.followed = Some(generation);
                    if body.is_some() {
                        self.read = Some(tag);
                    }
                    return;
                }
                Err(StoreError::CasMismatch) => continue,
                Err(StoreError::Unavailable) => return,
            }
        }
    }
}
