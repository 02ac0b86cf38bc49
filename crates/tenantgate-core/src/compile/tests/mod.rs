//! Every semantic check of a configuration, at its JSON path, through the whole pipeline
//! (`config::parse`, then `compile`).

mod claims;
mod context;
mod directory;
mod operators;
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

#[test]
fn claim_header_checks() {
    let claims = |map: Value| with("/headers", json!({"claims": map}));
    let cases = [
        (
            claims(json!({"x-tenant-id": "org"})),
            "headers.claims.x-tenant-id",
            "is headers.tenant: a claim header needs its own name",
        ),
        (
            claims(json!({"x_user_id": "email"})),
            "headers.claims.x_user_id",
            "is headers.user (\"x-user-id\") once frameworks fold",
        ),
        (
            claims(json!({"X-Plan": "plan"})),
            "headers.claims.X-Plan",
            "not a lower-case HTTP header name",
        ),
        (
            claims(json!({"authorization": "plan"})),
            "headers.claims.authorization",
            "reserved header",
        ),
        (
            claims(json!({":path": "plan"})),
            "headers.claims.:path",
            "pseudo-header",
        ),
        (
            claims(json!({"x-plan": ""})),
            "headers.claims.x-plan",
            "name the claim",
        ),
        (
            claims(json!({"x-plan": "plan", "x_plan": "tier"})),
            "headers.claims.x_plan",
            "also headers.claims.x-plan once frameworks fold",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }

    let mut doc = claims(json!({"x_api_token": "plan"}));
    set(
        &mut doc,
        "/providers/0/token_sources",
        json!([{"type": "bearer"}, {"type": "header", "name": "x-api-token"}]),
    );
    assert_one_error(
        doc,
        "headers.claims.x_api_token",
        "token header of providers[0].token_sources[1]",
    );

    let repeated = br#"{"providers": [], "headers": {"claims": {"x-plan": "a", "x-plan": "b"}}}"#;
    let errors = error_pairs(config::parse(repeated).map(|_| ()));
    assert_only_error(
        &errors,
        "headers.claims",
        "duplicate header name \"x-plan\"",
    );

    assert!(errors_of(&claims(json!({"x-plan": "plan", "x-features": "features"}))).is_empty());
}

#[test]
fn identity_headers_differ_after_folding() {
    assert_one_error(
        with("/headers", json!({"user": "x_tenant_id"})),
        "headers.user",
        "also headers.tenant",
    );
    let mut doc = with("/headers", json!({}));
    set(
        &mut doc,
        "/providers/0/token_sources",
        json!([{"type": "header", "name": "x_user_id"}]),
    );
    assert_one_error(
        doc,
        "providers[0].token_sources[0].name",
        "identity header headers.user",
    );
}
