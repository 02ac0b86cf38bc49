//! Configuration parsing and the decision on a parsed configuration: arbitrary bytes as the
//! filter configuration (up to the first NUL), the rest as `method host path` lines. Parsing
//! never panics; a configuration that parses compiles, and deciding any request with it never
//! panics and never allows an authenticated route without a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantgate_core::config::Requirement;
use tenantgate_core::gate::{Gate, Outcome, RequestView};
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::verify::KeySource;

struct NoKeys;

impl KeySource for NoKeys {
    fn key_set(&self, _provider: usize) -> Option<&KeySet> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let (config, requests) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(gate) = Gate::from_json(config) else {
        return;
    };
    let requests = String::from_utf8_lossy(requests);
    for line in requests.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(method), Some(host), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let view = RequestView { method, authority: host, path, headers: &[] };
        if let Outcome::Allow { identity, at } = gate.decide(&view, &NoKeys, None, 1_800_000_000) {
            // Without a token only a public route can let a request through.
            assert!(identity.is_none());
            let requirement = match at.rule {
                Some(rule) => &gate.config().routes[rule].require,
                None => &gate.config().default_requirement,
            };
            assert_eq!(requirement, &Requirement::Public);
        }
    }
});
