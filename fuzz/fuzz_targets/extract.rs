//! Credential extraction from arbitrary header lists: never panics; a found token is a
//! substring of some header value and within the size cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantgate_core::config::TokenSource;
use tenantgate_core::token::extract::extract;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines of `name:value`.
    let headers: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(':')).collect();
    let sources = [
        TokenSource::Bearer,
        TokenSource::Header {
            name: "x-token".into(),
        },
        TokenSource::Cookie { name: "at".into() },
    ];
    if let Ok(Some(found)) = extract(&sources, &headers, 64) {
        assert!(found.token.len() <= 64 && !found.token.is_empty());
        assert!(headers.iter().any(|(_, v)| v.contains(found.token)));
    }
});
