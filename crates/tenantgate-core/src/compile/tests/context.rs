use serde_json::json;

use super::{assert_one_error, errors_of};
use crate::config::tests::{set, with, Tap};

#[test]
fn tenant_context_checks() {
    let cases = [
        (
            with("/tenant_context", json!({"paths": ["/tenants/*/**"]})),
            "tenant_context.paths[0]",
            "must contain {tenant} exactly once (found 0)",
        ),
        (
            with(
                "/tenant_context",
                json!({"paths": ["/t/{tenant}/{tenant}"]}),
            ),
            "tenant_context.paths[0]",
            "exactly once (found 2)",
        ),
        (
            with(
                "/tenant_context",
                json!({"paths": ["/t/{tenant}/**", "/t/{tenant}/**"]}),
            ),
            "tenant_context.paths[1]",
            "duplicate of tenant_context.paths[0]",
        ),
        (
            with("/tenant_context", json!({"paths": ["/a/./{tenant}"]})),
            "tenant_context.paths[0]",
            "not in normalized form",
        ),
        (
            with("/tenant_context", json!({"header": "x-tenant-id"})),
            "tenant_context.header",
            "is headers.tenant, an identity header",
        ),
        (
            with("/tenant_context", json!({"header": "x-user-roles"})),
            "tenant_context.header",
            "is headers.roles",
        ),
        (
            with("/tenant_context", json!({"header": "authorization"})),
            "tenant_context.header",
            "reserved header",
        ),
        (
            with("/tenant_context", json!({"header": "host"})),
            "tenant_context.header",
            "reserved header",
        ),
        (
            with("/tenant_context", json!({"header": "X-Tenant"})),
            "tenant_context.header",
            "not a lower-case HTTP header name",
        ),
        (
            with("/tenant_context", json!({"header": ":authority"})),
            "tenant_context.header",
            "pseudo-header",
        ),
        (
            with("/tenant_context", json!({"header": "x-api-token"})).tap(|d| {
                set(
                    d,
                    "/providers/0/token_sources",
                    json!([{"type": "header", "name": "x-api-token"}]),
                )
            }),
            "tenant_context.header",
            "carries tokens (providers[0].token_sources[0])",
        ),
        (
            with("/tenant_context", json!({"required": ["path"]})),
            "tenant_context.required[0]",
            "\"path\" is required but tenant_context.paths is not set",
        ),
        (
            with(
                "/tenant_context",
                json!({"header": "x-t", "required": ["header", "header"]}),
            ),
            "tenant_context.required[1]",
            "duplicate source \"header\"",
        ),
        (
            with(
                "/routes/0/tenant_context",
                json!({"paths": ["/x/{tenant}x"]}),
            ),
            "routes[0].tenant_context.paths[0]",
            "whole segment",
        ),
        (
            with("/routes/0/tenant_context", json!({"required": ["header"]})),
            "routes[0].tenant_context.required[0]",
            "routes[0].tenant_context.header is not set",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    let valid = with(
        "/tenant_context",
        json!({"paths": ["/tenants/{tenant}/**", "/t/{tenant}"], "header": "x-tenant",
               "required": ["host", "path"]}),
    )
    .tap(|d| set(d, "/routes/0/tenant_context", json!({})));
    assert!(errors_of(&valid).is_empty(), "{:?}", errors_of(&valid));
}

#[test]
fn shared_host_checks() {
    let cases = [
        (
            with("/shared_hosts", json!(["ACME.example.com"])),
            "shared_hosts[0]",
            "is tenant \"acme\"'s",
        ),
        (
            with("/shared_hosts", json!(["beta.app.example.com"])),
            "shared_hosts[0]",
            "is tenant \"beta\"'s",
        ),
        (
            with("/shared_hosts", json!(["gamma.app.example.com"])),
            "shared_hosts[0]",
            "has the shape of host_templates[0]",
        ),
        (
            with(
                "/shared_hosts",
                json!(["api.example.com", "API.example.com."]),
            ),
            "shared_hosts[1]",
            "duplicate shared host \"api.example.com\"",
        ),
        (
            with("/shared_hosts", json!(["api.example.com:443"])),
            "shared_hosts[0]",
            "carry no port",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    // A shared host alone is enough hosts; it also gives unlisted tenants a way in.
    let mut doc = with("/host_templates", json!([]));
    set(&mut doc, "/tenants", json!({"acme": {}}));
    set(&mut doc, "/shared_hosts", json!(["api.example.com"]));
    set(&mut doc, "/allow_unlisted_tenants", json!(true));
    assert!(errors_of(&doc).is_empty(), "{:?}", errors_of(&doc));
}
