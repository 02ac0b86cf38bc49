//! JWKS responses of arbitrary bytes and Cache-Control values through the fetch state machine:
//! never panics, never loses a good key set, and always schedules the next fetch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantgate_core::gate::Gate;
use tenantgate_core::jwks::KeySetFetcher;

fuzz_target!(|data: &[u8]| {
    let config = serde_json::json!({
        "providers": [{
            "name": "idp", "issuer": "https://idp", "audiences": ["api"],
            "jwks": {
                "remote": {"cluster": "idp", "uri": "https://idp/jwks"},
                "refresh_min_seconds": 30, "refresh_max_seconds": 600
            }
        }],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}}
    });
    let gate = Gate::from_json(config.to_string().as_bytes()).expect("config");
    let provider = gate.providers().next().expect("one provider");
    let mut fetcher = KeySetFetcher::new(provider.jwks, data.len() as u64);
    // First line: Cache-Control; the rest: the body.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let cache_control = std::str::from_utf8(&data[..split]).ok();
    let body = data.get(split + 1..).unwrap_or_default();
    fetcher.fetch_started(1_000);
    let first = fetcher.on_response(1_000, 200, cache_control, body);
    let had = fetcher.key_set().cloned();
    assert_eq!(first.is_ok(), had.is_some());
    let next = fetcher.next_wakeup().expect("a fetch is scheduled");
    assert!(next > 1_000 && next <= 1_000 + 600_000);
    // The same bytes again, as a failure or not: a good set is never replaced by nothing.
    fetcher.fetch_started(next);
    let _ = fetcher.on_response(next, 500, cache_control, body);
    assert_eq!(fetcher.key_set().cloned(), had);
    let _ = tenantgate_core::jwks::callout_target(cache_control.unwrap_or_default());
});
