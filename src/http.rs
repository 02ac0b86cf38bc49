//! The HTTP context: one per request.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use tenantgate_core::denial::Denial;
use tenantgate_core::gate::Outcome;

use super::reply;
use super::root::SharedWorker;
use super::worker::{now_ms, OwnedRequest, Pending, Worker};

pub struct GateHttp {
    context_id: u32,
    worker: SharedWorker,
}

impl GateHttp {
    pub fn new(context_id: u32, worker: SharedWorker) -> Self {
        GateHttp { context_id, worker }
    }
}

/// Applies an `Allow` or `Deny` to the effective request and counts it.
pub fn apply(worker: &Worker, outcome: &Outcome, headers: &[(String, String)]) {
    let config = worker.gate.config();
    match outcome {
        Outcome::Allow { identity, at } => {
            worker.metrics.allowed(at.tenant);
            if let Some(identity) = identity {
                reply::allow(config, identity, headers);
            }
        }
        Outcome::Deny { denial, at } => {
            worker.metrics.denied(*denial, at.tenant);
            log::debug!(
                "tenantgate: refused: {} (rule {})",
                denial.code(),
                at.rule
                    .map_or_else(|| "default".to_string(), |r| r.to_string())
            );
            reply::deny(config, *denial);
        }
        Outcome::AwaitKeys { .. } => {}
    }
}

impl Context for GateHttp {
    fn on_done(&mut self) -> bool {
        // A request that ends while waiting for keys must not be answered later.
        if let Ok(mut guard) = self.worker.try_borrow_mut() {
            if let Some(worker) = guard.as_mut() {
                worker.pending.retain(|p| p.context_id != self.context_id);
            }
        }
        true
    }
}

impl HttpContext for GateHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let mut guard = self.worker.borrow_mut();
        let Some(worker) = guard.as_mut() else {
            // No accepted configuration: Envoy should never get here, but fail closed if it does.
            let _ = hostcalls::send_http_response(503, vec![], None);
            return Action::Pause;
        };
        let request = OwnedRequest {
            headers: super::abi::header_map(MapType::HttpRequestHeaders),
        };
        reply::strip_identity_headers(worker.gate.config(), &request.headers);
        let now = now_ms();
        let outcome = match worker.decide_or_wait(&request, now) {
            Outcome::AwaitKeys { provider, .. } => {
                let wait_ms = worker.gate.config().jwks_wait_ms;
                if wait_ms > 0 {
                    worker.pending.push(Pending {
                        context_id: self.context_id,
                        provider,
                        deadline_ms: now.saturating_add(wait_ms),
                        request,
                    });
                    return Action::Pause;
                }
                // No waiting allowed: decide now, with the keys there are.
                match request.with_view(|view| worker.decide(view, now, false)) {
                    Outcome::AwaitKeys { .. } => Outcome::Deny {
                        denial: Denial::KeysUnavailable,
                        at: Default::default(),
                    },
                    outcome => outcome,
                }
            }
            outcome => outcome,
        };
        apply(worker, &outcome, &request.headers);
        if matches!(outcome, Outcome::Allow { .. }) {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}
