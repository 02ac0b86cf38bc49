//! tenantgate's decision core: bytes, headers and the current time in, a decision out.
//!
//! Nothing here talks to a host: the proxy-wasm glue (the `tenantgate` package at the workspace
//! root) reads the request and applies what [`gate::Gate`] decides, and the `tenantgate` CLI
//! runs the same code natively. That is what lets every check be unit-tested and fuzzed.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod compile;
pub mod config;
pub mod denial;
pub mod directory;
pub mod gate;
pub mod jwks;
pub mod policy;
pub mod token;
pub mod verify;
pub mod wire;
