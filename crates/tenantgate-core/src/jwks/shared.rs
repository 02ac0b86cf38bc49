//! One JWKS fetch per Envoy instead of one per worker.
//!
//! Envoy runs one wasm VM per worker thread, and each VM has its own [`KeySetFetcher`] per
//! provider. Left alone, an Envoy with N workers fetches every key set N times per refresh. This
//! module coordinates the workers through the host's process-wide shared data (a string-keyed
//! byte store with compare-and-swap, shared by every VM of the plugin, kept across configuration
//! reloads, with no expiry and no notification), behind the [`SharedStore`] trait so that it stays
//! pure and testable:
//!
//! - **Election.** When a fetch is due, a worker takes a *lease* in the shared entry with a
//!   compare-and-swap; only the winner dispatches the callout. The lease expires after the
//!   provider's `lost_after_ms` (twice the callout timeout plus a second), so a winner that never
//!   answers blocks nobody for long: another worker takes the lease over (the lapsed holder
//!   itself only a second later, which matters when it is alone).
//! - **Publication.** The winner publishes the outcome and releases the lease: on a good response
//!   the raw JWKS body, the fetch time and the next refresh time (from `Cache-Control`, computed
//!   by its fetcher); on a failure the failure count, the error and the retry time, so that every
//!   worker backs off together.
//! - **Adoption.** Every worker polls the entry on its tick. When the generation is newer than the
//!   one it follows, it parses the published body into its own fetcher
//!   ([`KeySetFetcher::adopt_key_set`]: a body that does not load never replaces a good set) and
//!   takes the shared schedule ([`KeySetFetcher::adopt_schedule`]).
//! - **Unknown `kid`.** A refetch for a token with an unknown `kid` is elected through the same
//!   lease and rate-limited across workers by a time stamp in the entry, so a flood of tokens
//!   with a new `kid` makes one fetch per Envoy.
//! - **Fallback.** When the store fails (a call errors, or holds a value this version cannot
//!   read), the worker falls back to its own fetcher's schedule, as if it were alone.
//!
//! # Layout
//!
//! Each remote provider has a [`Namespace`]: two keys, `tenantgate.jwks.v1.<h>.state` and
//! `tenantgate.jwks.v1.<h>.keys`, where `<h>` is a 64-bit FNV-1a hash (16 hex digits) of the
//! provider name, the callout cluster, URI and timeout, and every field of the [`FetchPolicy`].
//! Any change to a provider's key source or limits therefore starts a fresh entry; entries of an
//! identical configuration are reused, so a reload that changes something else fetches nothing.
//!
//! The `state` value is small (79 bytes) and read on every tick; the `keys` value holds the body
//! and is read only when a newer one is published. All integers are little-endian.
//!
//! ```text
//! state:  off len
//!           0   1  format version (1)
//!           1   1  flags: 1 lease held, 2 keys published, 4 fetch time set,
//!                  8 unknown-kid refetch time set, 16 error set
//!           2   8  generation: +1 on every publication (keys or failure)
//!          10   8  lease holder (worker id)
//!          18   8  lease expiry (unix ms)
//!          26   8  next fetch due (unix ms): refresh or retry
//!          34   4  consecutive failures
//!          38   1  error kind (1 not JSON, 2 no keys array, 3 no usable key, 4 HTTP status,
//!                  5 too large, 6 no response)
//!          39   4  error argument (key count, status, size)
//!          43   4  error argument (size limit)
//!          47   8  generation of the published keys
//!          55   8  worker that published them
//!          63   8  fetch time of the published keys (unix ms)
//!          71   8  last unknown-kid refetch (unix ms)
//! keys:     0   1  format version (1)
//!           1   8  generation of this body (0 for the empty placeholder)
//!           9   8  worker that published it
//!          17   …  the JWKS response body, as received
//! ```
//!
//! A body is adopted only when its (generation, worker) tag equals the one in `state`. The tag,
//! and the compare-and-swap on both keys, make a late publication by a worker whose lease was
//! taken over harmless: it never becomes visible.
//!
//! The host accepts any write to an *absent* key, whatever the CAS, so creating an entry cannot
//! be atomic. A worker that finds no entry therefore writes an empty one and takes no lease in
//! the same call; the lease is taken, with CAS, on a later tick, by when every blind creation of
//! the workers that raced for the first one has long landed. Only CAS writes ever carry a lease
//! or a publication.
//!
//! # Use from the glue
//!
//! One [`SharedKeys`] per remote provider per worker, next to its [`KeySetFetcher`]. `worker_id`
//! must differ between the workers (8 random bytes, e.g. from `ring::rand::SystemRandom`).
//! The store maps `hostcalls::get_shared_data` / `set_shared_data`: a value without CAS and any
//! error other than `CasMismatch` are [`StoreError::Unavailable`].
//!
//! ```ignore
//! struct HostStore;
//! impl SharedStore for HostStore {
//!     fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
//!         match hostcalls::get_shared_data(key) {
//!             Ok((None, _)) => Ok(None),
//!             Ok((Some(value), Some(cas))) => Ok(Some((value, cas))),
//!             _ => Err(StoreError::Unavailable),
//!         }
//!     }
//!     fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
//!         match hostcalls::set_shared_data(key, Some(value), cas) {
//!             Ok(()) => Ok(()),
//!             Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
//!             Err(_) => Err(StoreError::Unavailable),
//!         }
//!     }
//! }
//!
//! // configuration:
//! let shared = Namespace::new(&provider.name, &provider.jwks)
//!     .map(|ns| SharedKeys::new(ns, worker_id));
//!
//! // on every tick (and once in on_configure), per provider:
//! let tick = shared.tick(&HostStore, &mut fetcher, now);
//! if tick.adopted.is_some() { /* keys or backoff changed: retry waiting requests, metrics */ }
//! if tick.fetch { /* dispatch_http_call, then fetcher.fetch_started(now) */ }
//!
//! // a token names an unknown kid (Outcome::AwaitKeys { unknown_kid: true, .. }):
//! match shared.request_refetch(&HostStore, &mut fetcher, now) {
//!     Refetch::Fetch => { /* dispatch, fetcher.fetch_started(now); the request waits */ }
//!     Refetch::Wait => { /* the request waits for a fetch under way */ }
//!     Refetch::Refused => { /* rate-limited: decide again with allow_refetch = false */ }
//! }
//!
//! // the callout answered, or failed (no headers, dispatch error, body over the limit):
//! let loaded = shared.on_fetched(&HostStore, &mut fetcher, now, status, cache_control, &body);
//! shared.on_failed(&HostStore, &mut fetcher, now);
//! ```
//!
//! `on_fetched`/`on_failed` replace `fetcher.on_response`/`on_failure`, and `request_refetch`
//! replaces `fetcher.request_refetch`; everything else (`key_set`, `may_refetch`,
//! `fetch_started`) stays on the fetcher. Fetches start only where `tick` or `request_refetch`
//! say so: a request waiting for a provider that has no keys yet just waits (calling
//! `fetcher.poll` there would bypass the election). When `tick` says `fetch` while an older
//! callout of this worker is still recorded, that callout was lost (its fetcher says so):
//! dispatch anyway.

use super::fetch::{FetchPolicy, KeySetFetcher};
use super::JwksError;
use crate::config;

/// Process-wide shared data with compare-and-swap, as the host offers it.
pub trait SharedStore {
    /// The value of `key` and its CAS, or `None` if the key was never written.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError>;
    /// Write `value`. With `Some(cas)` the write fails with [`StoreError::CasMismatch`] if the
    /// key was written since that CAS was read; `None` writes unconditionally. (An absent key
    /// takes any write.)
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// Why a shared-data call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Another worker wrote the key since its CAS was read.
    CasMismatch,
    /// Shared data cannot be used: the call failed, or the value came without a CAS.
    Unavailable,
}

/// The format of both values; also part of the key, so that another format never collides.
const FORMAT: u8 = 1;
const KEY_PREFIX: &str = "tenantgate.jwks.v1.";
/// Compare-and-swap attempts before a call gives up until the next tick.
const ATTEMPTS: usize = 4;
/// How long after its lease lapsed a worker waits before taking it over itself.
const TAKEOVER_GRACE_MS: u64 = 1_000;

/// The shared-data keys of one provider's key source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    state_key: String,
    keys_key: String,
}

impl Namespace {
    /// The namespace of a provider's remote key set; `None` for an inline one (never fetched).
    pub fn new(provider: &str, jwks: &config::Jwks) -> Option<Namespace> {
        let remote = jwks.remote.as_ref()?;
        // Destructured so that a new policy field cannot be forgotten here.
        let FetchPolicy {
            refresh_default_ms,
            refresh_min_ms,
            refresh_max_ms,
            max_response_bytes,
            unknown_kid_refetch_ms,
            backoff_initial_ms,
            backoff_max_ms,
            lost_after_ms,
        } = FetchPolicy::from_config(jwks);
        let mut hash = Fnv::new();
        hash.field(provider.as_bytes());
        hash.field(remote.cluster.as_bytes());
        hash.field(remote.uri.as_bytes());
        for number in [
            remote.timeout_ms,
            refresh_default_ms,
            refresh_min_ms,
            refresh_max_ms,
            u64::try_from(max_response_bytes).unwrap_or(u64::MAX),
            unknown_kid_refetch_ms,
            backoff_initial_ms,
            backoff_max_ms,
            lost_after_ms,
        ] {
            hash.field(&number.to_le_bytes());
        }
        let base = format!("{KEY_PREFIX}{:016x}", hash.0);
        Some(Namespace {
            state_key: format!("{base}.state"),
            keys_key: format!("{base}.keys"),
        })
    }

    /// The key of the small entry every worker polls.
    pub fn state_key(&self) -> &str {
        &self.state_key
    }

    /// The key of the published JWKS body.
    pub fn keys_key(&self) -> &str {
        &self.keys_key
    }
}

/// 64-bit FNV-1a over length-prefixed fields (a namespace, not a security boundary: every
/// writer is this plugin).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.bytes(&len.to_le_bytes());
        self.bytes(bytes);
    }
}

/// The (generation, publisher) tag of a published body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    generation: u64,
    holder: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    holder: u64,
    until_ms: u64,
}

/// The decoded `state` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entry {
    generation: u64,
    lease: Option<Lease>,
    next_fetch_at: u64,
    failures: u32,
    error: Option<JwksError>,
    keys: Option<Tag>,
    fetched_at: Option<u64>,
    unknown_kid_refetch_at: Option<u64>,
}

const LEASE: u8 = 1;
const KEYS: u8 = 2;
const FETCHED_AT: u8 = 4;
const UNKNOWN_KID: u8 = 8;
const ERROR: u8 = 16;
const STATE_LEN: usize = 79;
const BODY_HEADER_LEN: usize = 17;

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

    fn leased(&self, now_ms: u64) -> bool {
        self.lease.is_some_and(|l| now_ms < l.until_ms)
    }

    fn encode(&self) -> Vec<u8> {
        let mut flags = 0;
        for (set, flag) in [
            (self.lease.is_some(), LEASE),
            (self.keys.is_some(), KEYS),
            (self.fetched_at.is_some(), FETCHED_AT),
            (self.unknown_kid_refetch_at.is_some(), UNKNOWN_KID),
            (self.error.is_some(), ERROR),
        ] {
            if set {
                flags |= flag;
            }
        }
        let (kind, a, b) = self.error.as_ref().map_or((0, 0, 0), encode_error);
        let lease = self.lease.unwrap_or(Lease {
            holder: 0,
            until_ms: 0,
        });
        let keys = self.keys.unwrap_or(Tag {
            generation: 0,
            holder: 0,
        });
        let mut out = Vec::with_capacity(STATE_LEN);
        out.push(FORMAT);
        out.push(flags);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&lease.holder.to_le_bytes());
        out.extend_from_slice(&lease.until_ms.to_le_bytes());
        out.extend_from_slice(&self.next_fetch_at.to_le_bytes());
        out.extend_from_slice(&self.failures.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(&keys.generation.to_le_bytes());
        out.extend_from_slice(&keys.holder.to_le_bytes());
        out.extend_from_slice(&self.fetched_at.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.unknown_kid_refetch_at.unwrap_or(0).to_le_bytes());
        out
    }

    /// `None` for anything but a well-formed value of this format.
    fn decode(bytes: &[u8]) -> Option<Entry> {
        if bytes.len() != STATE_LEN {
            return None;
        }
        let mut r = Reader(bytes);
        if r.u8()? != FORMAT {
            return None;
        }
        let flags = r.u8()?;
        if flags & !(LEASE | KEYS | FETCHED_AT | UNKNOWN_KID | ERROR) != 0 {
            return None;
        }
        let generation = r.u64()?;
        let lease = Lease {
            holder: r.u64()?,
            until_ms: r.u64()?,
        };
        let next_fetch_at = r.u64()?;
        let failures = r.u32()?;
        let (kind, a, b) = (r.u8()?, r.u32()?, r.u32()?);
        let keys = Tag {
            generation: r.u64()?,
            holder: r.u64()?,
        };
        let fetched_at = r.u64()?;
        let unknown_kid_refetch_at = r.u64()?;
        let error = if flags & ERROR != 0 {
            Some(decode_error(kind, a, b)?)
        } else {
            None
        };
        let when = |flag: u8| flags & flag != 0;
        Some(Entry {
            generation,
            lease: when(LEASE).then_some(lease),
            next_fetch_at,
            failures,
            error,
            keys: when(KEYS).then_some(keys),
            fetched_at: when(FETCHED_AT).then_some(fetched_at),
            unknown_kid_refetch_at: when(UNKNOWN_KID).then_some(unknown_kid_refetch_at),
        })
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn encode_error(error: &JwksError) -> (u8, u32, u32) {
    match error {
        JwksError::NotJson => (1, 0, 0),
        JwksError::NoKeysArray => (2, 0, 0),
        // Why the first key was refused is a detail of the publisher's log.
        JwksError::NoUsableKey { total, .. } => (3, saturate(*total), 0),
        JwksError::HttpStatus(status) => (4, *status, 0),
        JwksError::TooLarge { size, max } => (5, saturate(*size), saturate(*max)),
        // Configuration errors never come out of a fetch; count them as no response.
        JwksError::FetchFailed | JwksError::NoSource | JwksError::BadUri(_) => (6, 0, 0),
    }
}

fn decode_error(kind: u8, a: u32, b: u32) -> Option<JwksError> {
    let usize_of = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    Some(match kind {
        1 => JwksError::NotJson,
        2 => JwksError::NoKeysArray,
        3 => JwksError::NoUsableKey {
            total: usize_of(a),
            first_rejection: None,
        },
        4 => JwksError::HttpStatus(a),
        5 => JwksError::TooLarge {
            size: usize_of(a),
            max: usize_of(b),
        },
        6 => JwksError::FetchFailed,
        _ => return None,
    })
}

fn encode_body(tag: Tag, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_HEADER_LEN + body.len());
    out.push(FORMAT);
    out.extend_from_slice(&tag.generation.to_le_bytes());
    out.extend_from_slice(&tag.holder.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn decode_body(bytes: &[u8]) -> Option<(Tag, &[u8])> {
    let mut r = Reader(bytes);
    if r.u8()? != FORMAT {
        return None;
    }
    let tag = Tag {
        generation: r.u64()?,
        holder: r.u64()?,
    };
    Some((tag, r.0))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

/// Whether the last call could use shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The workers coordinate through the store.
    Shared,
    /// The store failed: this worker follows its own fetcher, as if alone.
    PerWorker,
}

/// What a tick asks of the glue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Tick {
    /// Dispatch the callout now (this worker won the election, or shared data is unavailable
    /// and its own fetch is due), then call `fetcher.fetch_started`.
    pub fetch: bool,
    /// Another worker's publication was adopted: requests waiting for this provider's keys may
    /// be decided again, and the key count or failure metrics updated.
    pub adopted: Option<Adopted>,
}

/// A publication of another worker, as adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopted {
    /// A new key set with this many usable keys replaced the current one.
    Keys(usize),
    /// The last fetch failed: the current set stays, and the next try follows the shared backoff.
    Backoff { failures: u32 },
    /// The published body did not load here (it is checked again under this worker's limits);
    /// the current set stays.
    Unusable(JwksError),
}

/// The answer to a refetch request for an unknown `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refetch {
    /// This worker was elected: dispatch the callout; the request waits for it.
    Fetch,
    /// A fetch is under way (here or in another worker), or about to start, or a newer key set
    /// is published that the next tick adopts: the request waits.
    Wait,
    /// Rate-limited: no refetch; the unknown `kid` is final.
    Refused,
}

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

#[cfg(test)]
mod tests;
