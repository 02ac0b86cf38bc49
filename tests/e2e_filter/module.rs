//! The module Envoy runs here is the one scripts/build ships: it exports only the callbacks Envoy
//! needs (every other stream callback would cost Envoy a call into the VM per request), and with
//! those alone it serves every other test of this suite.

use super::*;

#[test]
fn the_built_module_exports_only_what_envoy_needs() {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let module = std::fs::read(&artifacts.wasm).expect("the module reads");
    let exports = tenantgate_build::exports::retain(&module, |_| true)
        .unwrap_or_else(|e| panic!("{}: {e}", artifacts.wasm.display()))
        .kept;
    let mut expected: Vec<&str> = tenantgate_build::KEPT.to_vec();
    let mut exported: Vec<&str> = exports.iter().map(String::as_str).collect();
    expected.sort_unstable();
    exported.sort_unstable();
    assert_eq!(
        exported,
        expected,
        "{} is not the module scripts/build ships (cargo's own output keeps every export)",
        artifacts.wasm.display()
    );
}
