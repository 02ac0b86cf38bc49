//! tenantgate: multi-tenant JWT authentication and per-route role policy for Envoy.
//!
//! The crate has a pure, host-free core (everything but [`filter`]) that takes bytes, headers and
//! the current time and returns a decision. The core is tested natively, fuzzed, and shared by the
//! `tenantgate` CLI; the proxy-wasm glue in [`filter`] only applies its decisions. The issuer
//! (native only) signs tokens with the same claim schema the filter checks.

pub mod config;
pub mod denial;
pub mod gate;
pub mod jwks;
pub mod policy;
pub mod token;
pub mod verify;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod filter;

#[cfg(not(target_arch = "wasm32"))]
pub mod issuer;
