//! Build steps of tenantgate's artifacts that cargo cannot do. `trim-exports` writes tenantgate's
//! module with only the exports Envoy needs.
//!
//! The proxy-wasm SDK exports every callback of the ABI, and Envoy enters the VM for each exported
//! stream callback on every request, whether the module implements it or not. Callbacks the
//! module does not export are skipped by Envoy: dropping those tenantgate does not implement (and
//! `proxy_on_done`) saves about 10,000 instructions of Envoy's per request (docs/performance.md).

pub mod exports;

use std::path::Path;

/// What Envoy calls in tenantgate's module. Keep in step with the callbacks `src/proxy`
/// implements: a callback left out here is never called. (`proxy_on_delete` drops the request's
/// context, which is where tenantgate learns that a request ended; `proxy_on_done` is not needed.)
pub const KEPT: &[&str] = &[
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_http_call_response",
    "proxy_on_context_create",
    "proxy_on_request_headers",
    "proxy_on_delete",
];

/// Writes `input` without the exports not in [`KEPT`] to `output` (through a temporary file, so
/// `output` is whole or untouched; it may be `input`); the names dropped.
pub fn trim(input: &Path, output: &Path) -> Result<Vec<String>, String> {
    let module =
        std::fs::read(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let trimmed = exports::retain(&module, |name| KEPT.contains(&name)).map_err(|e| {
        format!(
            "{}: not a wasm module this tool can read: {e}",
            input.display()
        )
    })?;
    let missing: Vec<&str> = KEPT
        .iter()
        .copied()
        .filter(|name| !trimmed.kept.iter().any(|k| k == name))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} lacks exports Envoy needs: {} (not tenantgate's module?)",
            input.display(),
            missing.join(", ")
        ));
    }
    let temporary = output.with_extension("wasm.trimming");
    std::fs::write(&temporary, &trimmed.module)
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, output)
        .map_err(|e| format!("cannot replace {}: {e}", output.display()))?;
    Ok(trimmed.dropped)
}
