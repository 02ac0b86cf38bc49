//! Every semantic check of a configuration, at its JSON path, through the whole pipeline
//! (`config::parse`, then `compile`).

mod providers;
mod requirements;
mod routes;
mod tenancy;

use serde_json::{json, Value};

use super::compile;
use crate::config;
use crate::config::tests::{assert_only_error, error_pairs, set, with};

pub(super) fn errors_of(doc: &Value) -> Vec<(String, String)> {
    let text = serde_json::to_vec(doc).expect("serializes");
    error_pairs(config::parse(&text).and_then(|config| compile(&config)))
}

/// Exactly one error of the whole pipeline, at `path`, whose message contains `needle`.
#[track_caller]
pub(super) fn assert_one_error(doc: Value, path: &str, needle: &str) {
    assert_only_error(&errors_of(&doc), path, needle);
}

#[test]
fn header_and_global_checks() {
    let cases = [
        (
            with("/headers", json!({"tenant": "X-Tenant"})),
            "headers.tenant",
            "not a lower-case HTTP header name",
        ),
        (
            with("/headers", json!({"user": ":path"})),
            "headers.user",
            "pseudo-header",
        ),
        (
            with("/headers", json!({"roles": "authorization"})),
            "headers.roles",
            "reserved header",
        ),
        (
            with("/headers", json!({"roles": "x-user-id"})),
            "headers.roles",
            "also headers.user",
        ),
        (with("/realm", json!("a\"b")), "realm", "printable ASCII"),
        (with("/realm", json!("")), "realm", "printable ASCII"),
        (
            with("/max_token_bytes", json!(100)),
            "max_token_bytes",
            "between 1024 and 65536 (got 100)",
        ),
        (
            with("/jwks_wait_ms", json!(60_001)),
            "jwks_wait_ms",
            "between 0 and 60000",
        ),
        (
            with("/retry_after_seconds", json!(0)),
            "retry_after_seconds",
            "between 1 and 3600",
        ),
        (
            with("/cache", json!({"max_bytes": 1u64 << 40})),
            "cache.max_bytes",
            "between 0 and 268435456",
        ),
        (
            with("/cache", json!({"max_entries": 2_000_000})),
            "cache.max_entries",
            "between 0 and 1000000",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn every_error_is_reported_in_field_order() {
    let mut doc = with("/realm", json!(""));
    set(&mut doc, "/providers/0/issuer", json!(""));
    set(&mut doc, "/tenants/Bad", json!({}));
    set(&mut doc, "/routes/0/path", json!({"glob": "/x**"}));
    set(&mut doc, "/cache", json!({"max_entries": 2_000_000}));
    let paths: Vec<String> = errors_of(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "realm",
            "providers[0].issuer",
            "tenants.Bad",
            "routes[0].path.glob",
            "cache.max_entries"
        ]
    );
}
