//! Claim values forwarded as headers (`headers.claims`): any JSON value (or text that is not
//! JSON, as a string) is written as documented or refused; never a control character, and a
//! list splits back into its items. The same property runs on every build in the core's tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "props/requirements.rs"]
mod props;

fuzz_target!(|data: &[u8]| props::forwarded(data));
