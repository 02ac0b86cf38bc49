//! The root context: configuration, the key-set lifecycle (callouts and timers), and requests
//! that wait for keys.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};

use tenantgate_core::denial::Denial;
use tenantgate_core::gate::{Gate, Outcome};

use super::http::GateHttp;
use super::reply;
use super::worker::{now_ms, Worker};

/// How often the root wakes to start due fetches and expire waiting requests.
const TICK: Duration = Duration::from_millis(100);

/// `None` until a configuration is accepted.
pub type SharedWorker = Rc<RefCell<Option<Worker>>>;

#[derive(Default)]
pub struct GateRoot {
    worker: SharedWorker,
}

impl Context for GateRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(worker) = self.worker.borrow_mut().as_mut() {
            on_key_set_response(worker, token_id, num_headers, body_size);
        }
    }
}

/// A key-set callout answered (the root dispatches every fetch, so the answer comes here).
fn on_key_set_response(worker: &mut Worker, token_id: u32, num_headers: usize, body_size: usize) {
    let Some(provider) = worker
        .providers
        .iter()
        .position(|p| p.in_flight == Some(token_id))
    else {
        return; // A callout this worker gave up on as lost.
    };
    let now = now_ms();
    let max_bytes = worker
        .gate
        .config()
        .providers
        .get(provider)
        .map_or(0, |p| p.jwks.max_response_bytes);
    if num_headers == 0 {
        // Envoy reports a failed callout (no route, reset, timeout) with no headers.
        worker.fetched(provider, now, None);
    } else {
        let headers = super::abi::header_map(MapType::HttpCallResponseHeaders);
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
        let body = hostcalls::get_buffer(
            BufferType::HttpCallResponseBody,
            0,
            body_size.min(max_bytes.saturating_add(1)),
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        worker.fetched(
            provider,
            now,
            Some((status, header("cache-control"), &body)),
        );
    }
    retry_pending(worker, provider, now);
}

/// Decides again every request that waited for `provider`'s keys, now that they changed. A kid
/// still unknown asks the workers' shared state once more: the set that arrived may be another
/// worker's routine refresh rather than a refetch for this kid, and then a refetch is still due.
/// Once a refetch has been made (the shared rate limit says so), the kid is unknown for good.
/// Requests whose keys are still missing keep waiting, until their deadline.
fn retry_pending(worker: &mut Worker, provider: usize, now: u64) {
    let waiting = std::mem::take(&mut worker.pending);
    for pending in waiting {
        if pending.provider != provider {
            worker.pending.push(pending);
            continue;
        }
        if hostcalls::set_effective_context(pending.context_id).is_err() {
            continue; // The request is gone (client reset); nothing to answer.
        }
        match worker.decide_or_wait(&pending.request, now) {
            Outcome::AwaitKeys { .. } => worker.pending.push(pending),
            outcome => {
                super::http::apply(worker, &outcome, &pending.request.headers);
                if matches!(outcome, Outcome::Allow { .. }) {
                    if let Err(status) = hostcalls::resume_http_request() {
                        log::warn!("tenantgate: cannot resume a request: {status:?}");
                    }
                }
            }
        }
    }
}

impl RootContext for GateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let gate = match Gate::from_json(&bytes) {
            Ok(gate) => gate,
            Err(errors) => {
                // Envoy refuses the configuration when on_configure returns false; say why.
                log::error!("tenantgate: invalid configuration:\n{errors}");
                return false;
            }
        };
        let mut worker = Worker::new(gate);
        let now = now_ms();
        for provider in 0..worker.providers.len() {
            worker.tick_provider(provider, now);
        }
        *self.worker.borrow_mut() = Some(worker);
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::error!("tenantgate: cannot start the timer: {status:?}");
            return false;
        }
        true
    }

    fn on_tick(&mut self) {
        let mut guard = self.worker.borrow_mut();
        let Some(worker) = guard.as_mut() else { return };
        let now = now_ms();
        for provider in 0..worker.providers.len() {
            if worker.tick_provider(provider, now) {
                retry_pending(worker, provider, now);
            }
        }
        // Requests that waited too long for keys are refused, never let through.
        let waiting = std::mem::take(&mut worker.pending);
        for pending in waiting {
            if pending.deadline_ms > now {
                worker.pending.push(pending);
            } else if hostcalls::set_effective_context(pending.context_id).is_ok() {
                let denial = Denial::KeysUnavailable;
                worker.metrics.denied(denial, None);
                log::debug!(
                    "tenantgate: refused: {} (keys did not load in time)",
                    denial.code()
                );
                reply::deny(worker.gate.config(), denial);
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(GateHttp::new(context_id, Rc::clone(&self.worker))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
