//! The end-to-end harness: the real filter (`tenantgate.wasm`) in a real Envoy on loopback, in
//! front of an echo upstream, with a JWKS server the test controls and tokens signed by test keys.
//!
//! Artifacts: `TENANTGATE_WASM` and `TENANTGATE_ENVOY`, else `target/tenantgate.wasm` and
//! `.venv/bin/envoy` (`scripts/setup` and `scripts/build` make them). When
//! they are missing the tests fail under `CI=true` and are skipped with a notice otherwise.
//!
//! Everything a test starts is stopped when its handle is dropped, also on panic: Envoy is
//! killed, the servers close their listeners.

pub mod browser;
pub mod custody;
pub mod envoy;
pub mod grpc;
pub mod http;
pub mod issuer;
pub mod issuer_http;
pub mod keys;
pub mod moto;
pub mod oidc_provider;
pub mod podman;
pub mod process;
pub mod resp;
pub mod server;

use std::path::PathBuf;

pub use envoy::{Envoy, EnvoyBuilder, StartFailure};
pub use http::{Req, Resp};
pub use keys::TestKey;
pub use server::{
    wait_until, wait_until_steady, EchoUpstream, JwksMode, JwksServer, ServerRequest,
};

/// The built filter and the Envoy binary to run it in.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub wasm: PathBuf,
    pub envoy: PathBuf,
}

/// The workspace root (this crate lives in `crates/tenantgate-testkit`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A path from `var`, else `default`. A path named in the environment must exist.
fn locate(var: &str, default: PathBuf) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{var}={} does not exist", path.display());
            Some(path)
        }
        _ => default.is_file().then_some(default),
    }
}

/// The Envoy binary, or `None` to skip (never under CI).
pub fn envoy_binary() -> Option<PathBuf> {
    let found = locate("TENANTGATE_ENVOY", repo_root().join(".venv/bin/envoy"));
    if found.is_none() {
        missing("Envoy (TENANTGATE_ENVOY, or .venv/bin/envoy from scripts/setup)");
    }
    found
}

/// The filter and Envoy, or `None` to skip (never under CI).
pub fn artifacts() -> Option<Artifacts> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        repo_root().join(target)
    };
    let wasm = locate("TENANTGATE_WASM", target.join("tenantgate.wasm"));
    if wasm.is_none() {
        missing("the filter (TENANTGATE_WASM, or tenantgate.wasm from scripts/build)");
    }
    let envoy = envoy_binary();
    Some(Artifacts {
        wasm: wasm?,
        envoy: envoy?,
    })
}

pub(crate) fn missing(what: &str) {
    if in_ci() {
        panic!("{what} is missing; under CI the end-to-end tests must run (scripts/setup, scripts/build)");
    }
    eprintln!("notice: {what} is missing; skipping this end-to-end test");
}

/// A fresh `x-request-id` to find a request at the upstream.
pub fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
