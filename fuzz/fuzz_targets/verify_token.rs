//! Full verification of arbitrary bytes as a token: never panics, never accepts (nothing here
//! holds the signing key's private half).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tenantgate_core::verify::{self, VerifyFailure};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    static SETUP: OnceLock<(Vec<tenantgate_core::config::Provider>, common::Keys)> = OnceLock::new();
    let (providers, keys) = SETUP.get_or_init(|| {
        let (providers, keys, _) = common::setup();
        (providers, keys)
    });
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    match verify::verify(token, providers, keys, common::NOW) {
        Ok(v) => panic!("an unsigned token verified: {v:?}"),
        Err(VerifyFailure::Denied(_)) | Err(VerifyFailure::AwaitKeys { .. }) => {}
    }
});
