//! Compact-JWS parsing of arbitrary bytes: never panics, and whatever parses is RS256 with a
//! signing input that is a prefix of the token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantgate_core::token::jws;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = jws::parse(token) {
        assert_eq!(parsed.alg, jws::Algorithm::Rs256);
        assert!(token.starts_with(parsed.signing_input));
        assert_eq!(token.matches('.').count(), 2);
    }
});
