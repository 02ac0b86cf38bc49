//! One worker's key sets: per provider the fetch state machine, the coordination with the other
//! workers through shared data, and the callouts.

use tenantgate_core::gate::GateProvider;
use tenantgate_core::jwks::fetch::KeySetFetcher;
use tenantgate_core::jwks::keyset::{KeySet, RsaKey};
use tenantgate_core::jwks::shared::{Namespace, Refetch, SharedKeys, Tick};
use tenantgate_core::jwks::Callout;
use tenantgate_core::verify::KeySource;

use super::Worker;
use crate::host::{CalloutRequest, Host};
use crate::metrics::FetchResult;

/// One provider's keys in this VM: the lifecycle state machine, and how to fetch.
pub(super) struct ProviderKeys {
    fetcher: KeySetFetcher,
    /// `None` for an inline key set.
    remote: Option<Callout>,
    /// Coordination with the other workers, so one of them fetches per refresh (remote only).
    shared: Option<SharedKeys>,
    /// Token of the callout in flight, if any.
    in_flight: Option<u32>,
    /// A refetch for an unknown `kid` was granted to this worker; the root dispatches it.
    refetch_wanted: bool,
}

impl ProviderKeys {
    /// How many usable keys are loaded.
    pub(super) fn loaded(&self) -> usize {
        self.fetcher.key_set().map_or(0, KeySet::len)
    }
}

/// The keys of one compiled provider (`worker_id` as for [`SharedKeys::new`]).
pub(super) fn provider_keys(
    index: usize,
    provider: GateProvider<'_>,
    worker_id: u64,
) -> ProviderKeys {
    ProviderKeys {
        // Per-worker seeds spread the workers' retries apart.
        fetcher: KeySetFetcher::new(provider.jwks, worker_id ^ (index as u64)),
        remote: provider.jwks.callout().cloned(),
        shared: Namespace::new(&provider.config.name, &provider.config.jwks)
            .map(|ns| SharedKeys::new(ns, worker_id)),
        in_flight: None,
        refetch_wanted: false,
    }
}

/// The worker's RS256 check: key, message, signature.
pub(super) type VerifyRs256<'a> = dyn Fn(&RsaKey, &[u8], &[u8]) -> bool + 'a;

/// The key source handed to the gate: the fetchers' current sets, and whether an unknown `kid`
/// may still trigger a refetch (never on the second pass after a refetch), and the worker's RS256
/// (through the host or ring, [`crate::rs256`]).
pub(super) struct WorkerKeys<'a> {
    providers: &'a [ProviderKeys],
    allow_refetch: bool,
    rs256: &'a VerifyRs256<'a>,
}

impl<'a> WorkerKeys<'a> {
    pub(super) fn new(
        providers: &'a [ProviderKeys],
        allow_refetch: bool,
        rs256: &'a VerifyRs256<'a>,
    ) -> Self {
        WorkerKeys {
            providers,
            allow_refetch,
            rs256,
        }
    }
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

    fn verify_rs256(&self, key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
        (self.rs256)(key, message, signature)
    }
}

impl<H: Host> Worker<H> {
    fn provider_name(&self, provider: usize) -> &str {
        self.gate
            .config()
            .providers
            .get(provider)
            .map_or("?", |p| p.name.as_str())
    }

    /// The provider whose callout has this token.
    pub(super) fn provider_of_callout(&self, token_id: u32) -> Option<usize> {
        self.providers
            .iter()
            .position(|p| p.in_flight == Some(token_id))
    }

    /// The periodic step for one provider: adopt another worker's fetch, or fetch if elected.
    /// Returns whether the keys or their schedule changed (waiting requests may be decided again).
    pub(super) fn tick_provider(&mut self, provider: usize, now_ms: u64) -> bool {
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
        let Tick { fetch, adopted } = shared.tick(&self.host, &mut keys.fetcher, now_ms);
        let loaded = keys.loaded();
        if adopted.is_some() {
            self.metrics.keys_loaded(&self.host, provider, loaded);
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
    pub(super) fn request_refetch(&mut self, provider: usize, now_ms: u64) -> bool {
        let Some(keys) = self.providers.get_mut(provider) else {
            return false;
        };
        let Some(shared) = keys.shared.as_mut() else {
            return false;
        };
        match shared.request_refetch(&self.host, &mut keys.fetcher, now_ms) {
            Refetch::Fetch => {
                keys.refetch_wanted = true;
                true
            }
            Refetch::Wait => true,
            Refetch::Refused => false,
        }
    }

    /// The callout for `provider` answered (`Some`) or failed (`None`).
    pub(super) fn fetched(
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
                shared.on_failed(&self.host, &mut keys.fetcher, now_ms);
                FetchResult::Failure
            }
            Some((status, cache_control, body)) => {
                match shared.on_fetched(
                    &self.host,
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
        let loaded = keys.loaded();
        self.metrics.fetch(&self.host, provider, result);
        self.metrics.keys_loaded(&self.host, provider, loaded);
        result
    }

    /// Dispatches the key-set callout of `provider`.
    fn dispatch(&mut self, provider: usize, now_ms: u64) {
        let dispatched = {
            let Some(remote) = self.providers.get(provider).and_then(|k| k.remote.as_ref()) else {
                return;
            };
            let headers = [
                (":method", "GET"),
                (":path", remote.path.as_str()),
                (":authority", remote.authority.as_str()),
                ("accept", "application/json"),
            ];
            self.host
                .dispatch_callout(&CalloutRequest {
                    cluster: &remote.cluster,
                    headers: &headers,
                    timeout: remote.timeout,
                })
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
                    "tenantgate: cannot fetch the key set of provider {} through cluster {cluster}: {status}",
                    self.provider_name(provider),
                );
                self.fetched(provider, now_ms, None);
            }
        }
    }
}
