//! The proxy-wasm glue (wasm32 only). It reads the request, asks [`tenantgate_core::gate::Gate`] for a
//! decision and applies it; it owns no policy of its own.
//!
//! Each Envoy worker runs its own VM, so everything here is per worker: one root context holding
//! the compiled configuration, the key-set fetchers, the verified-token cache and the requests
//! paused while keys load; and one HTTP context per request.

#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod reply;
#[cfg(target_arch = "wasm32")]
mod root;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|_| Box::new(root::GateRoot::default()));
}}
