//! One directory fetch per Envoy, as for key sets (`jwks::shared`, whose value layouts this
//! reuses): a worker takes a lease in the shared `state` value with a compare-and-swap and
//! fetches; when it adopted the document it publishes the raw bytes in the `doc` value, and
//! every other worker, polling `state` on its tick, reads and checks them itself (the same checks
//! against the same inputs) before adopting. A refused or failed fetch is published as a
//! failure, so every worker backs off together; a refusal is therefore logged and counted once
//! per Envoy, by the worker that fetched. When shared data fails, each worker fetches on its own
//! schedule.
//!
//! Keys: `tenantgate.directory.v1.<h>.state` and `.doc`, `<h>` a hash of the signing provider
//! (name, issuer, key source) and the section's callout and limits, so a changed section or
//! signer starts a fresh entry. Nothing else is hashed: a configuration push that changes only
//! static policy keeps the entry, and its workers adopt the published document without a fetch
//! (each checks and merges it against its own static configuration).

use crate::compile::CompiledDirectory;
use crate::config;
use crate::jwks::shared::codec::{decode_body, encode_body, Entry, Lease, Tag};
use crate::jwks::shared::{Fnv, Mode, Namespace, SharedStore, StoreError};

/// Compare-and-swap attempts before a call gives up until the next tick.
const ATTEMPTS: usize = 4;
/// First retry delay after a failed fetch; doubles up to the refresh interval.
const BACKOFF_INITIAL_MS: u64 = 1000;
/// How long after its own lease lapsed a worker leaves the takeover to the others.
const TAKEOVER_GRACE_MS: u64 = 1000;

/// This worker's fetch schedule: when the next fetch is due, and whether one is under way.
#[derive(Debug, Clone)]
pub struct DirectorySchedule {
    refresh_ms: u64,
    lost_after_ms: u64,
    next_fetch_at: u64,
    in_flight_since: Option<u64>,
    failures: u32,
}

impl DirectorySchedule {
    /// Due at once.
    pub fn new(directory: &CompiledDirectory) -> DirectorySchedule {
        let timeout = u64::try_from(directory.callout.timeout.as_millis()).unwrap_or(u64::MAX);
        DirectorySchedule {
            refresh_ms: directory.refresh_ms.max(1),
            lost_after_ms: timeout.saturating_mul(2).saturating_add(1000),
            next_fetch_at: 0,
            in_flight_since: None,
            failures: 0,
        }
    }

    /// Whether a fetch should start now (one is due, or the one under way is lost).
    pub fn poll(&self, now_ms: u64) -> bool {
        match self.in_flight_since {
            Some(since) => now_ms >= since.saturating_add(self.lost_after_ms),
            None => now_ms >= self.next_fetch_at,
        }
    }

    pub fn fetch_started(&mut self, now_ms: u64) {
        self.in_flight_since = Some(now_ms);
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight_since.is_some()
    }

    /// Consecutive failed or refused fetches.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn next_fetch_at(&self) -> u64 {
        self.next_fetch_at
    }

    /// The fetch ended: a document adopted (`ok`), or a failure or refusal (backoff).
    pub fn finished(&mut self, now_ms: u64, ok: bool) {
        self.in_flight_since = None;
        if ok {
            self.failures = 0;
            self.next_fetch_at = now_ms.saturating_add(self.refresh_ms);
        } else {
            self.failures = self.failures.saturating_add(1);
            self.next_fetch_at = now_ms.saturating_add(self.backoff_ms());
        }
    }

    /// 1 s, 2 s, 4 s ... up to the refresh interval (at least 1 s).
    pub fn backoff_ms(&self) -> u64 {
        let doublings = self.failures.saturating_sub(1).min(32);
        BACKOFF_INITIAL_MS
            .saturating_mul(1u64 << doublings)
            .min(self.refresh_ms.max(BACKOFF_INITIAL_MS))
    }

    fn follow(&mut self, next_fetch_at: u64, failures: u32) {
        self.next_fetch_at = next_fetch_at;
        self.failures = failures;
    }

    fn lost_after_ms(&self) -> u64 {
        self.lost_after_ms
    }
}

/// What a tick asks of the glue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct DirectoryTick {
    /// Dispatch the directory callout now, then call `fetch_started`.
    pub fetch: bool,
    /// A document another worker adopted and published: check it and adopt it here.
    pub published: Option<Vec<u8>>,
}

/// The shared-fetch state of the directory in one worker.
#[derive(Debug, Clone)]
pub struct SharedDirectory {
    state_key: String,
    doc_key: String,
    worker_id: u64,
    /// The generation of the entry this worker follows.
    followed: Option<u64>,
    /// The tag of the document this worker read.
    read: Option<Tag>,
    /// The entry's generation when this worker took the lease it holds.
    leased_at: Option<u64>,
    mode: Mode,
}

impl SharedDirectory {
    /// The shared state of `directory` signed by provider `signer`. A document published under
    /// another signer's issuer or key source would fail the checks here (and hold the schedule
    /// for a whole refresh): it is another entry.
    pub fn for_signer(
        directory: &CompiledDirectory,
        signer: &config::Provider,
        worker_id: u64,
    ) -> SharedDirectory {
        let source = match Namespace::of_provider(signer) {
            Some(namespace) => namespace.state_key().to_owned(),
            None => signer
                .jwks
                .inline
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
        };
        let identity = format!("{}\n{}\n{source}", signer.name, signer.issuer);
        SharedDirectory::new(directory, &identity, worker_id)
    }

    /// `provider` identifies the signer; `worker_id` must differ between the workers of an Envoy (0 is taken as 1).
    pub fn new(directory: &CompiledDirectory, provider: &str, worker_id: u64) -> SharedDirectory {
        let mut hash = Fnv::new();
        let c = &directory.callout;
        let timeout = u64::try_from(c.timeout.as_millis()).unwrap_or(u64::MAX);
        let max_bytes = u64::try_from(directory.max_bytes).unwrap_or(u64::MAX);
        for field in [
            provider.as_bytes(),
            c.cluster.as_bytes(),
            c.authority.as_bytes(),
            c.path.as_bytes(),
        ] {
            hash.field(field);
        }
        for n in [
            timeout,
            directory.refresh_ms,
            max_bytes,
            directory.max_age_seconds,
        ] {
            hash.field(&n.to_le_bytes());
        }
        let base = format!("tenantgate.directory.v1.{:016x}", hash.0);
        SharedDirectory {
            state_key: format!("{base}.state"),
            doc_key: format!("{base}.doc"),
            worker_id: worker_id.max(1),
            followed: None,
            read: None,
            leased_at: None,
            mode: Mode::Shared,
        }
    }

    pub fn state_key(&self) -> &str {
        &self.state_key
    }

    /// Whether the last call could use shared data.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The periodic step: hand out a newer publication, follow the shared schedule, and take
    /// the lease when a fetch is due and no other worker holds it.
    pub fn tick(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut DirectorySchedule,
        now_ms: u64,
    ) -> DirectoryTick {
        let mut tick = DirectoryTick::default();
        let (entry, cas) = match store.get(&self.state_key) {
            Ok(Some((bytes, cas))) => match Entry::decode(&bytes) {
                Some(entry) => (entry, cas),
                None => return self.alone(schedule, now_ms),
            },
            // Created blind; the lease is taken, with a CAS, on a later tick.
            Ok(None) => {
                return match self.create(store) {
                    Ok(()) => tick,
                    Err(_) => self.alone(schedule, now_ms),
                }
            }
            Err(_) => return self.alone(schedule, now_ms),
        };
        self.mode = Mode::Shared;
        if entry.generation > 0 && self.followed.is_none_or(|g| g < entry.generation) {
            if let Some(tag) = entry.keys.filter(|&t| self.read != Some(t)) {
                match store.get(&self.doc_key) {
                    Ok(Some((bytes, _))) => match decode_body(&bytes) {
                        Some((found, body)) if found == tag => {
                            tick.published = Some(body.to_vec());
                            self.read = Some(tag);
                        }
                        _ => return tick, // Half-way through a publication: next tick.
                    },
                    _ => return tick,
                }
            }
            schedule.follow(entry.next_fetch_at, entry.failures);
            self.followed = Some(entry.generation);
        }
        let idle = !schedule.in_flight() || schedule.poll(now_ms);
        if idle && now_ms >= entry.next_fetch_at && self.lease_free(&entry, now_ms) {
            tick.fetch = self.take_lease(store, schedule, &entry, cas, now_ms);
        }
        tick
    }

    /// The fetch this worker made ended: `adopted` holds the document when it was adopted here.
    /// Updates the schedule, then publishes the outcome if this worker holds the lease.
    pub fn finished(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut DirectorySchedule,
        now_ms: u64,
        adopted: Option<&[u8]>,
    ) {
        schedule.finished(now_ms, adopted.is_some());
        if let Some(leased_at) = self.leased_at.take() {
            self.publish(store, schedule, now_ms, leased_at, adopted);
        }
    }

    fn alone(&mut self, schedule: &DirectorySchedule, now_ms: u64) -> DirectoryTick {
        self.mode = Mode::PerWorker;
        DirectoryTick {
            fetch: schedule.poll(now_ms),
            published: None,
        }
    }

    fn lease_free(&self, entry: &Entry, now_ms: u64) -> bool {
        entry.lease.is_none_or(|l| {
            let grace = if l.holder == self.worker_id {
                TAKEOVER_GRACE_MS
            } else {
                0
            };
            now_ms >= l.until_ms.saturating_add(grace)
        })
    }

    fn create(&self, store: &dyn SharedStore) -> Result<(), StoreError> {
        let placeholder = Tag {
            generation: 0,
            holder: 0,
        };
        if store.get(&self.doc_key)?.is_none() {
            store.set(&self.doc_key, &encode_body(placeholder, &[]), None)?;
        }
        store.set(&self.state_key, &Entry::default().encode(), None)
    }

    fn take_lease(
        &mut self,
        store: &dyn SharedStore,
        schedule: &DirectorySchedule,
        entry: &Entry,
        cas: u32,
        now_ms: u64,
    ) -> bool {
        let mut next = entry.clone();
        next.lease = Some(Lease {
            holder: self.worker_id,
            until_ms: now_ms.saturating_add(schedule.lost_after_ms()),
        });
        match store.set(&self.state_key, &next.encode(), Some(cas)) {
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

    /// Publishes the outcome and releases the lease, unless the lease was taken over meanwhile.
    fn publish(
        &mut self,
        store: &dyn SharedStore,
        schedule: &DirectorySchedule,
        now_ms: u64,
        leased_at: u64,
        body: Option<&[u8]>,
    ) {
        for _ in 0..ATTEMPTS {
            let doc_cas = match body {
                Some(_) => match store.get(&self.doc_key) {
                    Ok(found) => found.map(|(_, cas)| cas),
                    Err(_) => return,
                },
                None => None,
            };
            let Ok(Some((bytes, cas))) = store.get(&self.state_key) else {
                return;
            };
            let Some(entry) = Entry::decode(&bytes) else {
                return;
            };
            if entry.generation != leased_at
                || entry.lease.map(|l| l.holder) != Some(self.worker_id)
            {
                return;
            }
            let generation = entry.generation.saturating_add(1);
            let tag = Tag {
                generation,
                holder: self.worker_id,
            };
            let mut next = entry;
            next.generation = generation;
            next.lease = None;
            next.next_fetch_at = schedule.next_fetch_at();
            next.failures = schedule.failures();
            if let Some(body) = body {
                match store.set(&self.doc_key, &encode_body(tag, body), doc_cas) {
                    Ok(()) => {}
                    Err(StoreError::CasMismatch) => continue,
                    Err(StoreError::Unavailable) => return,
                }
                next.keys = Some(tag);
                next.fetched_at = Some(now_ms);
            }
            match store.set(&self.state_key, &next.encode(), Some(cas)) {
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
