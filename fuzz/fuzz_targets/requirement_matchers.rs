//! Route requirement matchers: permission grants (trailing `*`, role catalog, permissions
//! claim), scopes (`scope` string, `scp` array or string) and claim conditions with JSON
//! Pointers, each against an independent reference (serde_json's own pointer resolution for the
//! pointers). Input: lines of claims JSON, a claim name or pointer, a wanted name, then granted
//! permissions. The same properties run on every build in the core's tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "props/requirements.rs"]
mod props;

fuzz_target!(|data: &[u8]| props::requirements(data));
