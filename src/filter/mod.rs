//! The proxy-wasm glue (wasm32 only). It reads the request, asks [`crate::gate::Gate`] for a
//! decision and applies it; it owns no policy of its own.
//!
//! Each Envoy worker runs its own VM, so everything here is per worker: one root context holding
//! the compiled configuration, the key-set fetchers, the verified-token cache and the requests
//! paused while keys load; and one HTTP context per request.

mod abi;
mod http;
mod metrics;
mod reply;
mod root;
mod worker;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| Box::new(root::GateRoot::default()));
}}
