//! The proxy-wasm glue. It reads the request, asks [`tenantgate_core::gate::Gate`] for a decision
//! and applies it; it owns no policy of its own.
//!
//! Each Envoy worker runs its own VM, so everything here is per worker: one [`worker::Worker`]
//! holding the compiled configuration, the key-set fetchers, the verified-token cache and the
//! requests paused while keys load, driven by one root context and one HTTP context per request.
//!
//! The worker talks to Envoy only through the [`host::Host`] trait, so it compiles natively and is
//! unit-tested against a fake host; only `proxy` (the `Host` over proxy-wasm host calls and the
//! contexts that forward to the worker) is wasm32-only. `host` and `worker` are public so that
//! they count as used on every target.

// A panic kills the worker's VM and every request on it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(test)]
mod fake_host;
pub mod host;
mod metrics;
#[cfg(target_arch = "wasm32")]
mod proxy;
mod reply;
mod rs256;
pub mod worker;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|_| Box::new(proxy::GateRoot::default()));
}}
