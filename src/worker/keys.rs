//! One worker's key sets: per provider the fetch state machine, the coordination with the other
//! workers through shared data, and the callouts.

use tenantgate_core::gate::GateProvider;
use tenantgate_core::jwks::fetch::KeySetFetcher;
use tenantgate_core::jwks::keyset::{KeySet, RsaKey};
use tenantgate_core::jwks::shared::{Namespace, Refetch, SharedKeys, Tick};
use tenantgate_core::jwks::{Callout, Discovery, JwksError};
use tenantgate_core::verify::KeySource;

use super::Worker;
use crate::host::{CalloutRequest, Host};
use crate::metrics::FetchResult;

/// One provider's keys in this VM: the lifecycle state machine, and how to fetch.
pub(super) struct ProviderKeys {
    fetcher: KeySetFetcher,
    /// The first callout of a fetch (with discovery, the document's); `None` for an inline set.
    remote: Option<Callout>,
    /// `jwks.discovery`: the document's answer names the key set's callout.
    discovery: Option<Discovery>,
    /// With discovery, whether the callout in flight is the document's (else the key set's).
    document_in_flight: bool,
    /// Coordination with the other workers, so one of them fetches per refresh (remote only).
    shared: Option<SharedKeys>,
    /// Token of the callout in flight, if any.
    in_flight: Option<u32>,
    /// A refetch for an unknown `kid` was granted to this worker; the root dispatches it.
    refetch_wanted: bool,
    /// A request adopted a newer key set; the root decides the waiting requests again.
    caught_up: bool,
}

impl ProviderKeys {
    /// How many usable keys are loaded.
    pub(super) fn loaded(&self) -> usize {
        self.fetcher.key_set().map_or(0, KeySet::len)
    }

    /// The key set loaded, if any.
    pub(super) fn key_set(&self) -> Option<&KeySet> {
        self.fetcher.key_set()
    }

    /// The shared-data namespace of its key source (`None`: inline), which names the source and
    /// its limits: equal namespaces, same keys to fetch.
    pub(super) fn namespace(&self) -> Option<&Namespace> {
        self.shared.as_ref().map(SharedKeys::namespace)
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
        discovery: provider.jwks.discovery().cloned(),
        document_in_flight: false,
        shared: Namespace::of_provider(provider.config).map(|ns| SharedKeys::new(ns, worker_id)),
        in_flight: None,
        refetch_wanted: false,
        caught_up: false,
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
        let caught_up = std::mem::take(&mut keys.caught_up);
        let loaded = keys.loaded();
        if adopted.is_some() {
            self.metrics.keys_loaded(&self.host, provider, loaded);
        }
        if fetch {
            self.dispatch(provider, now_ms);
        }
        adopted.is_some() || caught_up
    }

    /// Adopts the key set another worker published for `provider`, if newer, from a request's
    /// context: nothing is elected or fetched, and the root's next tick decides the requests
    /// waiting for it.
    pub(super) fn catch_up_keys(&mut self, provider: usize) {
        let Some(keys) = self.providers.get_mut(provider) else {
            return;
        };
        let Some(shared) = keys.shared.as_mut() else {
            return;
        };
        if shared.catch_up(&self.host, &mut keys.fetcher).is_some() {
            keys.caught_up = true;
            let loaded = keys.loaded();
            self.metrics.keys_loaded(&self.host, provider, loaded);
        }
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

    /// The callout for `provider` answered (`Some`) or failed (`None`). With discovery, a good
    /// document dispatches the key set's callout and counts nothing yet (`None`).
    pub(super) fn fetched(
        &mut self,
        provider: usize,
        now_ms: u64,
        response: Option<(u32, Option<&str>, &[u8])>,
    ) -> Option<FetchResult> {
        let name = self.provider_name(provider).to_string();
        let keys = self.providers.get_mut(provider)?;
        keys.in_flight = None;
        if std::mem::take(&mut keys.document_in_flight) {
            if let Some((status, _, body)) = response {
                let max_bytes = keys.fetcher.policy().max_response_bytes;
                let next = keys
                    .discovery
                    .as_ref()
                    .map(|d| d.jwks_callout(status, body, max_bytes));
                match next {
                    // `None` while the key set's callout is under way.
                    Some(Ok(callout)) => {
                        return self.dispatch_to(provider, now_ms, &callout, false)
                    }
                    Some(Err(why)) => {
                        log::warn!(
                            "tenantgate: discovery document of provider {name} refused, the \
                             last good key set stays: {why}"
                        );
                        return Some(self.refused(provider, now_ms, JwksError::Discovery(why)));
                    }
                    None => {}
                }
            }
        }
        let keys = self.providers.get_mut(provider)?;
        let Some(shared) = keys.shared.as_mut() else {
            return Some(FetchResult::Failure);
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
        Some(result)
    }

    /// The fetch of `provider` ended with nothing to load, for `why`: counted as a refused
    /// response, published to the other workers as a failure (they back off with this one).
    fn refused(&mut self, provider: usize, now_ms: u64, why: JwksError) -> FetchResult {
        if let Some(keys) = self.providers.get_mut(provider) {
            match keys.shared.as_mut() {
                Some(shared) => shared.on_refused(&self.host, &mut keys.fetcher, now_ms, why),
                None => keys.fetcher.on_refused(now_ms, why),
            }
        }
        self.metrics
            .fetch(&self.host, provider, FetchResult::Rejected);
        FetchResult::Rejected
    }

    /// Starts a fetch of `provider`: its key set's callout, or with discovery the document's.
    fn dispatch(&mut self, provider: usize, now_ms: u64) {
        let Some(keys) = self.providers.get(provider) else {
            return;
        };
        let Some(first) = keys.remote.clone() else {
            return;
        };
        let document = keys.discovery.is_some();
        self.dispatch_to(provider, now_ms, &first, document);
    }

    /// Dispatches `remote` for `provider` (`document`: the discovery document's callout). A
    /// fetch's lifetime counts from its first callout: the key set's after a document does not
    /// restart it, so a fetch that hangs half-way is found lost all the same.
    /// `None` once the callout is under way; the failure's result when the host refused it.
    fn dispatch_to(
        &mut self,
        provider: usize,
        now_ms: u64,
        remote: &Callout,
        document: bool,
    ) -> Option<FetchResult> {
        let dispatched = {
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
                    keys.document_in_flight = document;
                    if document || keys.discovery.is_none() {
                        keys.fetcher.fetch_started(now_ms);
                    }
                }
                None
            }
            Err((status, cluster)) => {
                log::warn!(
                    "tenantgate: cannot fetch the key set of provider {} through cluster {cluster}: {status}",
                    self.provider_name(provider),
                );
                self.fetched(provider, now_ms, None)
            }
        }
    }
}
