//! The proxy-wasm side (wasm32 only): [`ProxyHost`] and the root and HTTP contexts, which only
//! forward Envoy's callbacks to the worker.

mod abi;
mod host;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType};

use crate::worker::{Verdict, Worker};
use host::ProxyHost;

/// How often the root wakes to start due fetches and expire waiting requests.
const TICK: Duration = Duration::from_millis(100);

/// `None` until a configuration is accepted.
type SharedWorker = Rc<RefCell<Option<Worker<ProxyHost>>>>;

/// The root context: configuration, timers, callout answers.
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
            worker.on_callout_response(token_id, num_headers, body_size);
        }
    }
}

impl RootContext for GateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let worker = match Worker::configure(ProxyHost, &bytes) {
            Ok(worker) => worker,
            Err(errors) => {
                // Envoy refuses the configuration when on_configure returns false; say why.
                log::error!("tenantgate: invalid configuration:\n{errors}");
                return false;
            }
        };
        *self.worker.borrow_mut() = Some(worker);
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::error!("tenantgate: cannot start the timer: {status:?}");
            return false;
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(worker) = self.worker.borrow_mut().as_mut() {
            worker.on_tick();
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(GateHttp {
            context_id,
            worker: Rc::clone(&self.worker),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// The HTTP context: one per request. Envoy calls only the callbacks the shipped module exports
/// (`tenantgate_build::KEPT`, applied by scripts/build): one implemented here must be listed there.
struct GateHttp {
    context_id: u32,
    worker: SharedWorker,
}

impl Context for GateHttp {}

/// The request ended: the SDK drops its context when Envoy deletes it. Done here rather than in
/// `on_done`, so that the module need not export `proxy_on_done`, one call into the VM less per
/// request.
impl Drop for GateHttp {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.worker.try_borrow_mut() {
            if let Some(worker) = guard.as_mut() {
                worker.on_request_done(self.context_id);
            }
        }
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
        match worker.on_request(self.context_id) {
            Verdict::Continue => Action::Continue,
            Verdict::Pause => Action::Pause,
        }
    }
}
