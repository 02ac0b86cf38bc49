//! The per-VM (per Envoy worker) state shared by the root context and the HTTP contexts.

use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;

use tenantgate_core::gate::{Gate, Outcome, RequestView};
use tenantgate_core::jwks::fetch::KeySetFetcher;
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::jwks::shared::{Namespace, Refetch, SharedKeys, Tick};
use tenantgate_core::verify::cache::TokenCache;
use tenantgate_core::verify::KeySource;

use super::abi::HostStore;
use super::metrics::{FetchResult, Metrics};

/// One provider's keys in this VM: the lifecycle state machine, and how to fetch.
pub struct ProviderKeys {
    pub fetcher: KeySetFetcher,
    /// `None` for an inline key set.
    pub remote: Option<Callout>,
    /// Coordination with the other workers, so one of them fetches per refresh (remote only).
    pub shared: Option<SharedKeys>,
    /// Token of the callout in flight, if any.
    pub in_flight: Option<u32>,
    /// A refetch for an unknown `kid` was granted to this worker; the root dispatches it.
    refetch_wanted: bool,
}

/// Where a remote key set is fetched from, as the configuration compiled it.
pub use tenantgate_core::jwks::Callout;

/// A request paused while its provider's keys load.
pub struct Pending {
    pub context_id: u32,
    pub provider: usize,
    pub deadline_ms: u64,
    pub request: OwnedRequest,
}

/// The parts of a request the decision reads, kept while it waits.
pub struct OwnedRequest {
    pub headers: Vec<(String, String)>,
}

impl OwnedRequest {
    /// A borrowed header list and the pseudo-headers, as the gate wants them.
    pub fn with_view<R>(&self, f: impl FnOnce(&RequestView<'_>) -> R) -> R {
        let pairs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let find = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, v)| *v)
        };
        let view = RequestView {
            method: find(":method"),
            authority: find(":authority"),
            path: find(":path"),
            headers: &pairs,
        };
        f(&view)
    }
}

pub struct Worker {
    pub gate: Gate,
    pub providers: Vec<ProviderKeys>,
    pub cache: TokenCache,
    pub pending: Vec<Pending>,
    pub metrics: Metrics,
}

/// The key source handed to the gate: the fetchers' current sets, and whether an unknown `kid`
/// may still trigger a refetch (never on the second pass after a refetch).
pub struct WorkerKeys<'a> {
    providers: &'a [ProviderKeys],
    allow_refetch: bool,
}

impl KeySource for WorkerKeys<'_> {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.providers
            .get(provider)
            .and_then(|p| p.fetcher.key_set())
    }

    /// On the first pass an unknown `kid` of a remote key set always waits for the glue's
    /// verdict: the workers' shared state, not this worker's view of it, says whether a refetch
    /// is due, under way, or already published by another worker and not adopted here yet.
    fn may_refetch(&self, provider: usize) -> bool {
        self.allow_refetch
            && self
                .providers
                .get(provider)
                .is_some_and(|p| p.remote.is_some())
    }
}

/// Current host time in unix milliseconds; 0 if the host cannot tell (every token then looks
/// issued in the future and is refused: failing closed).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Worker {
    /// The worker of a compiled configuration: nothing is left to check.
    pub fn new(gate: Gate) -> Worker {
        let worker_id = worker_id();
        let providers: Vec<ProviderKeys> = gate
            .providers()
            .enumerate()
            .map(|(index, provider)| ProviderKeys {
                // Per-worker seeds spread the workers' retries apart.
                fetcher: KeySetFetcher::new(provider.jwks, worker_id ^ (index as u64)),
                remote: provider.jwks.callout().cloned(),
                shared: Namespace::new(&provider.config.name, &provider.config.jwks)
                    .map(|ns| SharedKeys::new(ns, worker_id)),
                in_flight: None,
                refetch_wanted: false,
            })
            .collect();
        let cache = TokenCache::new(&gate.config().cache);
        let metrics = Metrics::define(gate.config());
        for (index, p) in providers.iter().enumerate() {
            metrics.keys_loaded(index, p.fetcher.key_set().map_or(0, KeySet::len));
        }
        Worker {
            gate,
            providers,
            cache,
            pending: Vec::new(),
            metrics,
        }
    }

    /// Decides a request against the current keys and the cache.
    pub fn decide(&mut self, req: &RequestView<'_>, now_ms: u64, allow_refetch: bool) -> Outcome {
        let keys = WorkerKeys {
            providers: &self.providers,
            allow_refetch,
        };
        self.gate
            .decide(req, &keys, Some(&mut self.cache), now_ms / 1000)
    }

    /// Decides `request`. A token whose `kid` is unknown asks the workers for a refetch; when
    /// none is granted (rate-limited), the kid is final and the request is decided with the keys
    /// there are. `AwaitKeys` left over means: the request waits for keys.
    pub fn decide_or_wait(&mut self, request: &OwnedRequest, now_ms: u64) -> Outcome {
        match request.with_view(|view| self.decide(view, now_ms, true)) {
            Outcome::AwaitKeys {
                provider,
                unknown_kid: true,
            } if !self.request_refetch(provider, now_ms) => {
                request.with_view(|view| self.decide(view, now_ms, false))
            }
            outcome => outcome,
        }
    }

    fn provider_name(&self, provider: usize) -> &str {
        self.gate
            .config()
            .providers
            .get(provider)
            .map_or("?", |p| p.name.as_str())
    }

    /// The periodic step for one provider: adopt another worker's fetch, or fetch if elected.
    /// Returns whether the keys or their schedule changed (waiting requests may be decided again).
    pub fn tick_provider(&mut self, provider: usize, now_ms: u64) -> bool {
        let Some(keys) = self.providers.get_mut(provider) else {
            return false;
        };
        if std::mem::take(&mut keys.refetch_wanted) {
            self.dispatch(provider, now_ms);
            return false;
        }
        let Some(shared) = keys.shared.as_mut() else {
            return false;
        };
        let Tick { fetch, adopted } = shared.tick(&HostStore, &mut keys.fetcher, now_ms);
        let loaded = keys.fetcher.key_set().map_or(0, KeySet::len);
        if adopted.is_some() {
            self.metrics.keys_loaded(provider, loaded);
        }
        if fetch {
            self.dispatch(provider, now_ms);
        }
        adopted.is_some()
    }

    /// A token named an unknown `kid`: whether the request may wait for a refetch. A granted
    /// refetch is dispatched by the root on its next tick, never from the request's context: the
    /// SDK answers the context that dispatched, and a request that goes away takes its callout
    /// (and the refetch the rate limit just granted) with it.
    fn request_refetch(&mut self, provider: usize, now_ms: u64) -> bool {
        let Some(keys) = self.providers.get_mut(provider) else {
            return false;
        };
        let Some(shared) = keys.shared.as_mut() else {
            return false;
        };
        match shared.request_refetch(&HostStore, &mut keys.fetcher, now_ms) {
            Refetch::Fetch => {
                keys.refetch_wanted = true;
                true
            }
            Refetch::Wait => true,
            Refetch::Refused => false,
        }
    }

    /// The callout for `provider` answered (`Some`) or failed (`None`).
    pub fn fetched(
        &mut self,
        provider: usize,
        now_ms: u64,
        response: Option<(u32, Option<&str>, &[u8])>,
    ) -> FetchResult {
        let name = self.provider_name(provider).to_string();
        let Some(keys) = self.providers.get_mut(provider) else {
            return FetchResult::Failure;
        };
        keys.in_flight = None;
        let Some(shared) = keys.shared.as_mut() else {
            return FetchResult::Failure;
        };
        let result = match response {
            None => {
                log::warn!("tenantgate: key set fetch for provider {name} failed: no response");
                shared.on_failed(&HostStore, &mut keys.fetcher, now_ms);
                FetchResult::Failure
            }
            Some((status, cache_control, body)) => {
                match shared.on_fetched(
                    &HostStore,
                    &mut keys.fetcher,
                    now_ms,
                    status,
                    cache_control,
                    body,
                ) {
                    Ok(_) => FetchResult::Success,
                    Err(error) => {
                        log::warn!("tenantgate: key set of provider {name} refused: {error}");
                        FetchResult::Rejected
                    }
                }
            }
        };
        let loaded = keys.fetcher.key_set().map_or(0, KeySet::len);
        self.metrics.fetch(provider, result);
        self.metrics.keys_loaded(provider, loaded);
        result
    }

    /// Dispatches the key-set callout of `provider`.
    fn dispatch(&mut self, provider: usize, now_ms: u64) {
        let dispatched = {
            let Some(remote) = self.providers.get(provider).and_then(|k| k.remote.as_ref()) else {
                return;
            };
            let headers = vec![
                (":method", "GET"),
                (":path", remote.path.as_str()),
                (":authority", remote.authority.as_str()),
                ("accept", "application/json"),
            ];
            hostcalls::dispatch_http_call(&remote.cluster, headers, None, vec![], remote.timeout)
                .map_err(|status| (status, remote.cluster.clone()))
        };
        match dispatched {
            Ok(token) => {
                if let Some(keys) = self.providers.get_mut(provider) {
                    keys.in_flight = Some(token);
                    keys.fetcher.fetch_started(now_ms);
                }
            }
            Err((status, cluster)) => {
                log::warn!(
                    "tenantgate: cannot fetch the key set of provider {} through cluster {cluster}: {status:?}",
                    self.provider_name(provider),
                );
                self.fetched(provider, now_ms, None);
            }
        }
    }
}

/// A random id for this worker's VM, so the workers can tell their leases apart.
fn worker_id() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        // Without host randomness, time is distinct enough between workers started apart.
        Err(_) => now_ms().rotate_left(17) ^ u64::from(std::process::id()),
    }
}
