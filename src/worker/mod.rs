//! The per-VM (per Envoy worker) state and everything it does, over any [`Host`]: requests that
//! wait for keys, the key-set lifecycle (callouts, adoption, refetch on an unknown `kid`), their
//! deadlines, and applying decisions. The proxy-wasm contexts only forward their callbacks here.

mod audit;
mod directory;
mod keys;
#[cfg(test)]
mod tests;

use tenantgate_core::config::ConfigErrors;
use tenantgate_core::denial::Denial;
use tenantgate_core::gate::{Enforcement, Gate, Outcome, Place, RequestView};
use tenantgate_core::jwks::keyset::RsaKey;
use tenantgate_core::verify::cache::TokenCache;
use tenantgate_core::wire::HeaderBlock;

use crate::host::Host;
use crate::metrics::{AuditMetrics, Metrics};
use crate::reply::{self, ReplyForm};
use crate::rs256::Rs256;

use directory::DirectoryState;
use keys::{provider_keys, ProviderKeys, WorkerKeys};

/// What the host does with a request after its headers were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it go on to the upstream.
    Continue,
    /// Hold it: it was answered locally, or it waits for keys (and is resumed or answered later).
    Pause,
}

/// A request paused while its provider's keys load, with its headers as read.
struct Pending {
    context_id: u32,
    provider: usize,
    deadline_ms: u64,
    headers: HeaderBlock,
}

/// The gate's view of a request's header list: the pseudo-headers it reads and every pair.
fn request_view<'a>(pairs: &'a [(&'a str, &'a str)]) -> RequestView<'a> {
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| *v)
    };
    RequestView {
        method: find(":method"),
        authority: find(":authority"),
        path: find(":path"),
        headers: pairs,
    }
}

/// One worker: the compiled configuration, one key-set fetcher per provider, the verified-token
/// cache and the requests waiting for keys.
pub struct Worker<H: Host> {
    host: H,
    gate: Gate,
    providers: Vec<ProviderKeys>,
    cache: TokenCache,
    pending: Vec<Pending>,
    metrics: Metrics,
    audit: AuditMetrics,
    rs256: Rs256,
    /// The signed tenant directory, when configured.
    directory: Option<DirectoryState>,
    /// This VM's id among the workers (leases, jitter seeds).
    worker_id: u64,
    /// A gate was installed outside the root: the providers it added, to be started by the
    /// root's next step, which also decides the waiting requests again.
    after_install: Option<Vec<usize>>,
}

impl<H: Host> Worker<H> {
    /// Compiles the plugin configuration and starts the key sets: a remote provider's first fetch
    /// goes out on this call or the next ticks (through the workers' election).
    /// A configuration that does not parse or validate is refused with every error at its field
    /// path; once compiled, nothing is left to fail.
    pub fn configure(host: H, json: &[u8]) -> Result<Worker<H>, ConfigErrors> {
        let mut worker = Worker::new(host, Gate::from_json(json)?);
        let now = worker.host.now_ms();
        for provider in 0..worker.providers.len() {
            worker.tick_provider(provider, now);
        }
        worker.tick_directory(now);
        Ok(worker)
    }

    fn new(host: H, gate: Gate) -> Worker<H> {
        let worker_id = worker_id(&host);
        let providers = gate
            .providers()
            .enumerate()
            .map(|(index, provider)| provider_keys(index, provider, worker_id))
            .collect::<Vec<_>>();
        // The cache's hash is keyed from the host's randomness (else the process's).
        let cache = match host.random_u64() {
            Some(seed) => TokenCache::seeded(&gate.config().cache, seed),
            None => TokenCache::new(&gate.config().cache),
        };
        let metrics = Metrics::define(&host, gate.config());
        let audit = AuditMetrics::define(&host, gate.config(), gate.audit_configured());
        let rs256 = Rs256::probe(&host);
        for (index, p) in providers.iter().enumerate() {
            metrics.keys_loaded(&host, index, p.loaded());
        }
        let directory = DirectoryState::of(&gate, &host, worker_id);
        Worker {
            host,
            gate,
            providers,
            cache,
            pending: Vec::new(),
            metrics,
            audit,
            rs256,
            directory,
            worker_id,
            after_install: None,
        }
    }

    /// The headers of request `context_id` arrived (it is the host's effective request). The
    /// headers are read once, as one block, and viewed in place from then on.
    pub fn on_request(&mut self, context_id: u32) -> Verdict {
        let block = self.host.request_headers();
        let pairs = block.pairs();
        let view = request_view(&pairs);
        reply::strip_identity_headers(&self.host, self.gate.config(), &pairs);
        let now = self.host.now_ms();
        let outcome = match self.decide_or_wait(&view, now) {
            Outcome::AwaitKeys { provider, .. } => {
                let wait_ms = self.gate.config().jwks_wait_ms;
                if wait_ms > 0 {
                    self.pending.push(Pending {
                        context_id,
                        provider,
                        deadline_ms: now.saturating_add(wait_ms),
                        headers: block,
                    });
                    return Verdict::Pause;
                }
                // No waiting allowed: decide now, with the keys there are.
                match self.decide(&view, now, false) {
                    Outcome::AwaitKeys { .. } => Outcome::Deny {
                        denial: Denial::KeysUnavailable,
                        at: Default::default(),
                    },
                    outcome => outcome,
                }
            }
            outcome => outcome,
        };
        self.apply(&outcome, &pairs)
    }

    /// Request `context_id` ended: if it was waiting for keys, it must not be answered later.
    pub fn on_request_done(&mut self, context_id: u32) {
        self.pending.retain(|p| p.context_id != context_id);
    }

    /// The root's periodic step: start due fetches, adopt other workers' key sets, decide again
    /// the requests whose keys changed, refuse those that waited too long, and hand the request
    /// counters to the host.
    pub fn on_tick(&mut self) {
        let now = self.host.now_ms();
        for provider in 0..self.providers.len() {
            if self.tick_provider(provider, now) {
                self.retry_pending(provider, now);
            }
        }
        self.tick_directory(now);
        self.expire_pending(now);
        self.flush_stats();
    }

    /// Hands the request counters counted since the last tick to the host.
    pub fn flush_stats(&self) {
        self.metrics.flush(&self.host);
        self.audit.flush(&self.host);
    }

    /// A key-set callout answered (the root dispatches every fetch, so the answer comes to the
    /// root). `num_headers == 0` is how Envoy reports a failed callout (no route, reset, timeout).
    pub fn on_callout_response(&mut self, token_id: u32, num_headers: usize, body_size: usize) {
        if self.directory_response(token_id, num_headers, body_size) {
            return;
        }
        let Some(provider) = self.provider_of_callout(token_id) else {
            return; // A callout this worker gave up on as lost.
        };
        let now = self.host.now_ms();
        let finished = if num_headers == 0 {
            self.fetched(provider, now, None)
        } else {
            let max_bytes = self
                .gate
                .config()
                .providers
                .get(provider)
                .map_or(0, |p| p.jwks.max_response_bytes);
            let headers = self.host.callout_response_headers();
            let header = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
            };
            let status = header(":status")
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0);
            // Never read more than the cap; the fetcher refuses the oversized body by its length.
            let body = self
                .host
                .callout_response_body(body_size.min(max_bytes.saturating_add(1)));
            self.fetched(
                provider,
                now,
                Some((status, header("cache-control"), &body)),
            )
        };
        // A good discovery document only starts the JWKS callout: the keys have not changed, so
        // the waiting requests wait on without being decided again.
        if finished.is_some() {
            self.retry_pending(provider, now);
        }
    }

    /// Decides a request against the current keys and the cache.
    /// A refusal that only a first directory could lift first catches up with what the other
    /// workers already adopted.
    fn decide(&mut self, req: &RequestView<'_>, now_ms: u64, allow_refetch: bool) -> Outcome {
        let mut outcome = self.decide_now(req, now_ms, allow_refetch);
        if self.awaits_directory(&outcome) && self.catch_up_directory(now_ms) {
            outcome = self.decide_now(req, now_ms, allow_refetch);
        }
        self.awaiting_directory(outcome)
    }

    fn decide_now(&mut self, req: &RequestView<'_>, now_ms: u64, allow_refetch: bool) -> Outcome {
        let rs256 = |key: &RsaKey, message: &[u8], signature: &[u8]| {
            self.rs256.verify(&self.host, key, message, signature)
        };
        let keys = WorkerKeys::new(&self.providers, allow_refetch, &rs256);
        self.gate
            .decide(req, &keys, Some(&mut self.cache), now_ms / 1000)
    }

    /// Decides `request`. A token whose `kid` is unknown asks the workers for a refetch; when
    /// none is granted (rate-limited), the kid is final and the request is decided with the keys
    /// there are. `AwaitKeys` left over means: the request waits for keys.
    fn decide_or_wait(&mut self, view: &RequestView<'_>, now_ms: u64) -> Outcome {
        match self.decide(view, now_ms, true) {
            Outcome::AwaitKeys {
                provider,
                unknown_kid: true,
            } if !self.request_refetch(provider, now_ms) => self.decide(view, now_ms, false),
            outcome => outcome,
        }
    }

    /// Applies an `Allow` or `Deny` to the effective request and counts it; whether the request
    /// goes on upstream (an allowed one, or a refusal audit mode does not enforce).
    fn apply(&self, outcome: &Outcome, headers: &[(&str, &str)]) -> Verdict {
        let config = self.gate.config();
        match outcome {
            Outcome::Allow { identity, at } => {
                self.metrics.allowed(at.tenant);
                if let Some(identity) = identity {
                    if let Some(operator) = &identity.acting_operator {
                        self.operator_acted(operator, &identity.tenant, *at);
                    }
                    reply::allow(&self.host, config, identity, headers);
                }
                Verdict::Continue
            }
            Outcome::Deny { denial, at }
                if self.gate.enforcement(*denial, at) == Enforcement::Audit =>
            {
                self.audit_pass(*denial, at, headers);
                Verdict::Continue
            }
            Outcome::Deny { denial, at } => {
                self.metrics.denied(*denial, at.tenant);
                log::debug!(
                    "tenantgate: refused: {} (rule {})",
                    denial.code(),
                    at.rule
                        .map_or_else(|| "default".to_string(), |r| r.to_string())
                );
                reply::deny(&self.host, config, *denial, ReplyForm::of(headers));
                Verdict::Pause
            }
            Outcome::AwaitKeys { .. } => Verdict::Pause,
        }
    }

    /// Break-glass is loud: every request an operator makes for a tenant is counted for that
    /// tenant and logged at warn.
    fn operator_acted(&self, operator: &str, tenant: &str, at: Place) {
        self.metrics.operator(at.tenant);
        let route = at.rule.map_or_else(
            || "default".to_string(),
            |r| {
                let name = self
                    .gate
                    .config()
                    .routes
                    .get(r)
                    .and_then(|r| r.name.as_deref());
                name.map_or_else(|| format!("routes[{r}]"), |n| format!("routes[{r}] ({n})"))
            },
        );
        log::warn!("tenantgate: operator {operator:?} acting on tenant {tenant:?} (route {route})");
    }

    /// Decides again every request that waited for `provider`'s keys, now that they changed. A kid
    /// still unknown asks the workers' shared state once more: the set that arrived may be another
    /// worker's routine refresh rather than a refetch for this kid, and then a refetch is still
    /// due. Once a refetch has been made (the shared rate limit says so), the kid is unknown for
    /// good. Requests whose keys are still missing keep waiting, until their deadline.
    fn retry_pending(&mut self, provider: usize, now: u64) {
        let waiting = std::mem::take(&mut self.pending);
        for pending in waiting {
            if pending.provider != provider {
                self.pending.push(pending);
                continue;
            }
            if self.host.set_effective_context(pending.context_id).is_err() {
                continue; // The request is gone (client reset); nothing to answer.
            }
            let pairs = pending.headers.pairs();
            let outcome = self.decide_or_wait(&request_view(&pairs), now);
            match outcome {
                Outcome::AwaitKeys { provider, .. } => {
                    drop(pairs);
                    self.pending.push(Pending {
                        provider,
                        ..pending
                    });
                }
                outcome => {
                    let verdict = self.apply(&outcome, &pairs);
                    if verdict == Verdict::Continue {
                        if let Err(status) = self.host.resume_request() {
                            log::warn!("tenantgate: cannot resume a request: {status}");
                        }
                    }
                }
            }
        }
    }

    /// Decides again every waiting request (the gate changed under them).
    fn retry_all_pending(&mut self, now: u64) {
        let mut providers: Vec<usize> = self.pending.iter().map(|p| p.provider).collect();
        providers.sort_unstable();
        providers.dedup();
        for provider in providers {
            self.retry_pending(provider, now);
        }
    }

    /// Requests that waited too long for keys are refused, never let through.
    fn expire_pending(&mut self, now: u64) {
        let waiting = std::mem::take(&mut self.pending);
        for pending in waiting {
            if pending.deadline_ms > now {
                self.pending.push(pending);
            } else if self.host.set_effective_context(pending.context_id).is_ok() {
                let denial = Denial::KeysUnavailable;
                self.metrics.denied(denial, None);
                log::debug!(
                    "tenantgate: refused: {} (keys did not load in time)",
                    denial.code()
                );
                let form = ReplyForm::of(&pending.headers.pairs());
                reply::deny(&self.host, self.gate.config(), denial, form);
            }
        }
    }
}

/// A random id for this worker's VM, so the workers can tell their leases apart.
fn worker_id(host: &impl Host) -> u64 {
    // Without host randomness, time is distinct enough between workers started apart.
    host.random_u64()
        .unwrap_or_else(|| host.now_ms().rotate_left(17))
}
