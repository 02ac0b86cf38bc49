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
//! - **Discovery.** With `jwks.discovery` a fetch is two callouts, the document and then the
//!   key set it names, both made by the lease holder under one lease (`lost_after_ms` counts two
//!   callout timeouts). Only the key set is published: the others adopt keys and never need the
//!   document. A refused document is published as a failure, so every worker backs off. Caching
//!   the document per worker would need its own schedule and a second lifecycle; reading it on
//!   every fetch costs one small request per refresh per Envoy and follows a moved `jwks_uri`.
//! - **Fallback.** When the store fails (a call errors, or holds a value this version cannot
//!   read), the worker falls back to its own fetcher's schedule, as if it were alone.
//!
//! The election itself (`election.rs`) knows nothing of key sets: it is generic over the
//! worker's fetch schedule and what a published body gives, and the tenant directory
//! (`directory::shared`) is elected by the same code, under its own keys.
//!
//! # Layout
//!
//! Each remote provider has a [`Namespace`]: two keys, `tenantgate.jwks.v1.<h>.state` and
//! `tenantgate.jwks.v1.<h>.keys`, where `<h>` is a 64-bit FNV-1a hash (16 hex digits) of the
//! provider name, the callout cluster, URI and timeout, and every field of the [`FetchPolicy`].
//! With `jwks.discovery` the issuer and the discovery cluster and timeout take the place of the
//! callout's. Any change to a provider's key source or limits therefore starts a fresh entry; entries of an
//! identical configuration are reused, so a reload that changes something else fetches nothing.
//!
//! The `state` value is small (79 bytes) and read on every tick; the `keys` value holds the body
//! and is read only when a newer one is published. Their bytes are laid out in `codec.rs`.
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
//!
//! The store calls the host's `proxy_get_shared_data` and `proxy_set_shared_data` through the
//! ABI directly, not through the SDK's `hostcalls` wrappers: those panic on a status they do not
//! expect, and a panic kills the worker's VM. A read that finds nothing (`NotFound`, or no value)
//! is `Ok(None)`; a write that fails with `CasMismatch` is [`StoreError::CasMismatch`]; a value
//! without a CAS and any other failing status are [`StoreError::Unavailable`].
//!
//! ```ignore
//! // configuration:
//! let shared = Namespace::new(&provider.name, &provider.jwks)
//!     .map(|ns| SharedKeys::new(ns, worker_id));
//!
//! // on every tick (and once in on_configure), per provider:
//! let tick = shared.tick(&store, &mut fetcher, now);
//! if tick.adopted.is_some() { /* keys or backoff changed: retry waiting requests, metrics */ }
//! if tick.fetch { /* dispatch the callout, then fetcher.fetch_started(now) */ }
//!
//! // a token names an unknown kid (Outcome::AwaitKeys { unknown_kid: true, .. }):
//! match shared.request_refetch(&store, &mut fetcher, now) {
//!     // The request waits; the root context dispatches the callout on its next tick, so that
//!     // a request that goes away does not take the callout (and the granted refetch) with it.
//!     Refetch::Fetch => { /* mark the refetch wanted; the request waits */ }
//!     Refetch::Wait => { /* the request waits for a fetch under way */ }
//!     Refetch::Refused => { /* rate-limited: decide again with allow_refetch = false */ }
//! }
//!
//! // the callout answered (a body over the limit is refused by its length), or failed (no
//! // headers, or the dispatch itself failed):
//! let loaded = shared.on_fetched(&store, &mut fetcher, now, status, cache_control, &body);
//! shared.on_failed(&store, &mut fetcher, now);
//! ```
//!
//! `on_fetched`/`on_failed` replace `fetcher.on_response`/`on_failure`, and `request_refetch`
//! replaces `fetcher.request_refetch`; `key_set` and `fetch_started` stay on the fetcher. Fetches
//! start only where `tick` or `request_refetch` say so: a request waiting for a provider that
//! has no keys yet just waits (calling `fetcher.poll` there would bypass the election). On a
//! request's first pass the glue's `KeySource::may_refetch` says yes for every remote provider:
//! whether a refetch is due is for `request_refetch` to say, from the shared state rather than
//! this worker's view of it. When `tick` says `fetch` while an older callout of this worker is
//! still recorded, that callout was lost (its fetcher says so): dispatch anyway.
//!
//! [`KeySetFetcher`]: super::KeySetFetcher
//! [`KeySetFetcher::adopt_key_set`]: super::KeySetFetcher::adopt_key_set
//! [`KeySetFetcher::adopt_schedule`]: super::KeySetFetcher::adopt_schedule

pub(crate) mod codec;
pub(crate) mod election;
mod keys;
#[cfg(any(test, feature = "test-support"))]
pub mod mem_store;

pub use keys::SharedKeys;

use super::fetch::FetchPolicy;
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

/// The prefix of every key; `v1` is the format of the values (see `codec.rs`).
const KEY_PREFIX: &str = "tenantgate.jwks.v1.";

/// The shared-data keys of one provider's key source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    state_key: String,
    keys_key: String,
}

impl Namespace {
    /// The namespace of a provider's fetched key set (`jwks.remote` or `jwks.discovery`); `None`
    /// for an inline one (never fetched).
    pub fn of_provider(provider: &config::Provider) -> Option<Namespace> {
        match (&provider.jwks.remote, &provider.jwks.discovery) {
            (Some(_), _) => Namespace::new(&provider.name, &provider.jwks),
            // The issuer is hashed: it names the document, and so the key set.
            (None, Some(discovery)) => Some(Namespace::hashed(
                &[
                    provider.name.as_bytes(),
                    b"discovery",
                    provider.issuer.as_bytes(),
                    discovery.cluster.as_bytes(),
                ],
                discovery.timeout_ms,
                &provider.jwks,
            )),
            (None, None) => None,
        }
    }

    /// The namespace of a provider's `jwks.remote` key set; `None` for any other source (see
    /// [`of_provider`](Self::of_provider) for discovery, which also needs the issuer).
    pub fn new(provider: &str, jwks: &config::Jwks) -> Option<Namespace> {
        let remote = jwks.remote.as_ref()?;
        Some(Namespace::hashed(
            &[
                provider.as_bytes(),
                remote.cluster.as_bytes(),
                remote.uri.as_bytes(),
            ],
            remote.timeout_ms,
            jwks,
        ))
    }

    /// The keys of a source named by `fields`, its callout timeout and its fetch limits.
    fn hashed(fields: &[&[u8]], timeout_ms: u64, jwks: &config::Jwks) -> Namespace {
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
        for field in fields {
            hash.field(field);
        }
        for number in [
            timeout_ms,
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
        Namespace::at(&format!("{KEY_PREFIX}{:016x}", hash.0), "keys")
    }

    /// The keys `<base>.state` and `<base>.<body>`, for any value elected the same way.
    pub(crate) fn at(base: &str, body: &str) -> Namespace {
        Namespace {
            state_key: format!("{base}.state"),
            keys_key: format!("{base}.{body}"),
        }
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
pub(crate) struct Fnv(pub(crate) u64);

impl Fnv {
    pub(crate) fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.bytes(&len.to_le_bytes());
        self.bytes(bytes);
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

#[cfg(test)]
mod tests;
