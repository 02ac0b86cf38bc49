//! One directory fetch per Envoy, through the same election as key sets (`jwks::shared`: its
//! value layouts and its `Election`, with [`DirectorySchedule`] as the schedule): a worker takes
//! a lease in the shared `state` value with a compare-and-swap and fetches; when it adopted the
//! document it publishes the raw bytes in the `doc` value, and every other worker, polling
//! `state` on its tick, reads and checks them itself (the same checks against the same inputs)
//! before adopting. A refused or failed fetch is published as a failure, so every worker backs
//! off together; a refusal is therefore logged and counted once per Envoy, by the worker that
//! fetched. When shared data fails, each worker fetches on its own schedule.
//!
//! Keys: `tenantgate.directory.v1.<h>.state` and `.doc`, `<h>` a hash of the signing provider
//! (name, issuer, key source) and the section's callout and limits, so a changed section or
//! signer starts a fresh entry. Nothing else is hashed: a configuration push that changes only
//! static policy keeps the entry, and its workers adopt the published document without a fetch
//! (each checks and merges it against its own static configuration).

use crate::compile::CompiledDirectory;
use crate::config;
use crate::jwks::shared::codec::Entry;
use crate::jwks::shared::election::{Election, Schedule};
use crate::jwks::shared::{Fnv, Mode, Namespace, SharedStore};

/// First retry delay after a failed fetch; doubles up to the refresh interval.
const BACKOFF_INITIAL_MS: u64 = 1000;

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
}

impl Schedule for DirectorySchedule {
    /// The document's bytes, for the glue to check and adopt.
    type Adopted = Vec<u8>;
    // A publication half-way through is read on the next tick before anything is elected.
    const ELECT_WHILE_PENDING: bool = false;

    fn lease_ms(&self) -> u64 {
        self.lost_after_ms
    }

    fn due(&self, now_ms: u64) -> bool {
        self.poll(now_ms)
    }

    fn busy(&self) -> bool {
        self.in_flight()
    }

    fn adopt_body(&mut self, body: &[u8]) -> Vec<u8> {
        body.to_vec()
    }

    fn follow(&mut self, entry: &Entry) {
        self.next_fetch_at = entry.next_fetch_at;
        self.failures = entry.failures;
    }

    fn record(&self, next: &mut Entry, _now_ms: u64) {
        next.next_fetch_at = self.next_fetch_at;
        next.failures = self.failures;
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
    election: Election,
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
            election: Election::new(Namespace::at(&base, "doc"), worker_id),
        }
    }

    pub fn state_key(&self) -> &str {
        self.election.namespace().state_key()
    }

    /// Whether the last call could use shared data.
    pub fn mode(&self) -> Mode {
        self.election.mode()
    }

    /// The periodic step: hand out a newer publication, follow the shared schedule, and take
    /// the lease when a fetch is due and no other worker holds it.
    pub fn tick(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut DirectorySchedule,
        now_ms: u64,
    ) -> DirectoryTick {
        let step = self.election.tick(store, schedule, now_ms);
        DirectoryTick {
            fetch: step.fetch,
            published: step.adopted,
        }
    }

    /// The document another worker published, if newer than the one this worker followed;
    /// nothing is elected or fetched. For a request that cannot wait for the next tick.
    pub fn catch_up(
        &mut self,
        store: &dyn SharedStore,
        schedule: &mut DirectorySchedule,
    ) -> Option<Vec<u8>> {
        self.election.catch_up(store, schedule)
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
        self.election.finished(store, schedule, now_ms, adopted);
    }
}
