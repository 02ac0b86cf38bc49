//! The signed tenant directory in one worker: the fetch (one per Envoy, through the shared
//! election of `tenantgate_core::directory::shared`), the adoption of a document (checked and
//! merged by the core), and swapping the gate while keeping every key set already held.

use tenantgate_core::compile::CompiledDirectory;
use tenantgate_core::config::Config;
use tenantgate_core::denial::Denial;
use tenantgate_core::directory::shared::{DirectorySchedule, SharedDirectory};
use tenantgate_core::directory::{self, Directory, DirectoryError, Input};
use tenantgate_core::gate::{Gate, Outcome};
use tenantgate_core::jwks::keyset::RsaKey;
use tenantgate_core::jwks::shared::Namespace;

use super::keys::{provider_keys, ProviderKeys};
use super::Worker;
use crate::host::{CalloutRequest, Host};
use crate::metrics::DirectoryMetrics;

/// The directory's state in this worker.
pub(super) struct DirectoryState {
    /// The configuration without any directory: what every document is merged into.
    static_config: Config,
    section: CompiledDirectory,
    schedule: DirectorySchedule,
    shared: SharedDirectory,
    in_force: Option<Directory>,
    /// Token of this worker's directory callout under way.
    in_flight: Option<u32>,
    metrics: DirectoryMetrics,
}

impl DirectoryState {
    /// The directory of a static gate, if it has a `directory` section.
    pub(super) fn of(gate: &Gate, host: &impl Host, worker_id: u64) -> Option<DirectoryState> {
        let section = gate.directory()?.clone();
        let signer = gate.config().providers.get(section.provider)?;
        Some(DirectoryState {
            shared: SharedDirectory::for_signer(&section, signer, worker_id),
            static_config: gate.config().clone(),
            schedule: DirectorySchedule::new(&section),
            section,
            in_force: None,
            in_flight: None,
            metrics: DirectoryMetrics::define(host),
        })
    }
}

impl<H: Host> Worker<H> {
    /// Whether `outcome` is a refusal that a first directory, not yet in force here, could lift.
    pub(super) fn awaits_directory(&self, outcome: &Outcome) -> bool {
        matches!(outcome, Outcome::Deny { denial, .. } if directory::could_allow(*denial))
            && self
                .directory
                .as_ref()
                .is_some_and(|d| d.in_force.is_none())
    }

    /// Until a first directory is in force, a refusal a directory could lift is no final
    /// answer: 503 `directory_unavailable` instead.
    pub(super) fn awaiting_directory(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Deny { at, .. } if self.awaits_directory(&outcome) => Outcome::Deny {
                denial: Denial::DirectoryUnavailable,
                at,
            },
            outcome => outcome,
        }
    }

    /// A request is about to be refused for want of a first directory: adopt the signer's keys
    /// and the directory that another worker already published, rather than answer 503 until
    /// this worker's next tick. Nothing is fetched or resumed from a request's context; the
    /// root's next step does that. Whether a directory is in force now.
    pub(super) fn catch_up_directory(&mut self, now_ms: u64) -> bool {
        let Some(mut state) = self.directory.take() else {
            return false;
        };
        let signer = state.section.provider;
        if !self.key_set_loaded(signer) {
            self.catch_up_keys(signer);
        }
        if self.key_set_loaded(signer) {
            if let Some(bytes) = state.shared.catch_up(&self.host, &mut state.schedule) {
                let _ = self.adopt_directory(&mut state, &bytes, now_ms);
            }
        }
        let in_force = state.in_force.is_some();
        self.directory = Some(state);
        in_force
    }

    fn key_set_loaded(&self, provider: usize) -> bool {
        self.providers
            .get(provider)
            .is_some_and(|p| p.key_set().is_some())
    }

    /// The directory's periodic step: adopt what another worker published, or fetch if elected.
    /// Nothing before the signer's keys are loaded: a document could not be checked.
    pub(super) fn tick_directory(&mut self, now_ms: u64) {
        let Some(mut state) = self.directory.take() else {
            return;
        };
        if self.key_set_loaded(state.section.provider) {
            let tick = state.shared.tick(&self.host, &mut state.schedule, now_ms);
            if let Some(bytes) = tick.published {
                // Adopted by the worker that fetched it: checked here against the same inputs.
                let _ = self.adopt_directory(&mut state, &bytes, now_ms);
            }
            if tick.fetch {
                self.dispatch_directory(&mut state, now_ms);
            }
        }
        self.directory = Some(state);
        self.follow_up_install(now_ms);
    }

    fn dispatch_directory(&mut self, state: &mut DirectoryState, now_ms: u64) {
        let callout = &state.section.callout;
        let headers = [
            (":method", "GET"),
            (":path", callout.path.as_str()),
            (":authority", callout.authority.as_str()),
            ("accept", "application/jwt"),
        ];
        let request = CalloutRequest {
            cluster: &callout.cluster,
            headers: &headers,
            timeout: callout.timeout,
        };
        match self.host.dispatch_callout(&request) {
            Ok(token) => {
                state.in_flight = Some(token);
                state.schedule.fetch_started(now_ms);
            }
            Err(status) => {
                log::warn!(
                    "tenantgate: cannot fetch the directory through cluster {}: {status}",
                    callout.cluster
                );
                state.metrics.fetch_failed(&self.host);
                state
                    .shared
                    .finished(&self.host, &mut state.schedule, now_ms, None);
            }
        }
    }

    /// Whether callout `token_id` was the directory's; if so, its answer is handled.
    pub(super) fn directory_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) -> bool {
        let Some(mut state) = self.directory.take() else {
            return false;
        };
        if state.in_flight != Some(token_id) {
            self.directory = Some(state);
            return false;
        }
        state.in_flight = None;
        let now = self.host.now_ms();
        let status = if num_headers > 0 {
            self.callout_status()
        } else {
            0
        };
        let max = state.section.max_bytes;
        let adopted = if status != 200 {
            let why = if num_headers == 0 {
                "no response".to_owned()
            } else {
                format!("HTTP status {status}")
            };
            log::warn!("tenantgate: directory fetch failed, the last good one stays: {why}");
            state.metrics.fetch_failed(&self.host);
            None
        } else if body_size > max {
            let error = DirectoryError::TooLarge {
                size: body_size,
                max,
            };
            self.directory_refused(&state, &error);
            None
        } else {
            let body = self.host.callout_response_body(body_size);
            self.adopt_directory(&mut state, &body, now).then_some(body)
        };
        state
            .shared
            .finished(&self.host, &mut state.schedule, now, adopted.as_deref());
        self.directory = Some(state);
        self.follow_up_install(now);
        true
    }

    fn callout_status(&self) -> u32 {
        self.host
            .callout_response_headers()
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    fn directory_refused(&self, state: &DirectoryState, error: &DirectoryError) {
        log::warn!("tenantgate: directory refused, the last good one stays: {error}");
        state.metrics.rejected(&self.host);
    }

    /// Checks a document and, when it holds, puts it in force. Whether it was adopted.
    fn adopt_directory(&mut self, state: &mut DirectoryState, bytes: &[u8], now_ms: u64) -> bool {
        let started = self.host.now_ms();
        let result = {
            let rs256 = |key: &RsaKey, message: &[u8], signature: &[u8]| {
                self.rs256.verify(&self.host, key, message, signature)
            };
            let keys = self
                .providers
                .get(state.section.provider)
                .and_then(|p| p.key_set());
            let input = Input {
                config: &state.static_config,
                keys,
                verify: &rs256,
                in_force: state.in_force.as_ref(),
                now: now_ms / 1000,
            };
            directory::adopt(bytes, &input)
        };
        let adoption = match result {
            Ok(adoption) => adoption,
            Err(error) => {
                self.directory_refused(state, &error);
                if matches!(error, DirectoryError::UnknownKey { .. }) {
                    // As for a token: the signer may have rotated its key. The refetch is
                    // rate-limited across workers; the retried fetch finds the new key.
                    self.request_refetch(state.section.provider, now_ms);
                }
                return false;
            }
        };
        for dropped in &adoption.dropped {
            log::warn!(
                "tenantgate: directory entry {} dropped (static configuration wins): {}",
                dropped.tenant,
                dropped.conflict
            );
        }
        let changed = adoption.gate.is_some();
        if let Some(gate) = adoption.gate {
            self.install(gate, &state.static_config);
        }
        let directory = adoption.directory;
        let took = self.host.now_ms().saturating_sub(started);
        if changed {
            log::info!(
                "tenantgate: directory adopted (iat {}): {} of its {} tenants in force, {} \
                 dropped, in {took} ms",
                directory.iat,
                directory.adopted,
                directory.tenants,
                adoption.dropped.len()
            );
        }
        let dropped = adoption.dropped.len();
        state
            .metrics
            .adopted(&self.host, dropped, directory.adopted, took);
        state.in_force = Some(directory);
        true
    }

    /// Runs on `gate` from now on. Every provider whose key source is unchanged keeps its keys,
    /// schedule and callout under way; new ones get fetchers. The token cache is emptied: a
    /// cached token's provider index and tenant belong to the old gate.
    fn install(&mut self, gate: Gate, static_config: &Config) {
        let mut old: Vec<(String, Option<ProviderKeys>)> = self
            .gate
            .config()
            .providers
            .iter()
            .map(|p| p.name.clone())
            .zip(std::mem::take(&mut self.providers).into_iter().map(Some))
            .collect();
        let mut fresh = Vec::new();
        for (index, provider) in gate.providers().enumerate() {
            let namespace = Namespace::of_provider(provider.config);
            let kept = old.iter_mut().find_map(|(name, keys)| {
                let same = *name == provider.config.name
                    && keys
                        .as_ref()
                        .is_some_and(|k| k.namespace() == namespace.as_ref());
                same.then(|| keys.take()).flatten()
            });
            if kept.is_none() {
                fresh.push(index);
            }
            self.providers
                .push(kept.unwrap_or_else(|| provider_keys(index, provider, self.worker_id)));
        }
        // Waiting requests follow their provider to its new index, or are decided again.
        let new_index = |old_index: usize| {
            let name = old.get(old_index).map(|(n, _)| n.as_str());
            gate.config()
                .providers
                .iter()
                .position(|p| Some(p.name.as_str()) == name)
        };
        for pending in &mut self.pending {
            pending.provider = new_index(pending.provider).unwrap_or(usize::MAX);
        }
        self.cache.clear();
        self.metrics
            .follow(&self.host, static_config, gate.config());
        self.gate = gate;
        for (index, p) in self.providers.iter().enumerate() {
            self.metrics.keys_loaded(&self.host, index, p.loaded());
        }
        // Fetching and resuming belong to the root: its next step does them.
        self.after_install
            .get_or_insert_with(Vec::new)
            .extend(fresh);
    }

    /// The root's part of the last installs: start the new providers' fetches and decide the
    /// waiting requests again.
    pub(super) fn follow_up_install(&mut self, now_ms: u64) {
        let Some(fresh) = self.after_install.take() else {
            return;
        };
        for index in fresh {
            self.tick_provider(index, now_ms);
        }
        self.retry_all_pending(now_ms);
    }
}
