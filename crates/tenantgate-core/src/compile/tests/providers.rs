use serde_json::{json, Value};

use super::{assert_one_error, errors_of};
use crate::config::tests::{base, set, with};
use crate::jwks::keyset::tests::jwk;

#[test]
fn provider_checks() {
    let cases = [
        (
            with("/providers", json!([])),
            "providers",
            "at least one provider",
        ),
        (
            with("/providers/0/name", json!("Corp")),
            "providers[0].name",
            "not a valid provider name",
        ),
        (
            with("/providers/0/issuer", json!("")),
            "providers[0].issuer",
            "must not be empty",
        ),
        (
            with("/providers/0/audiences", json!([])),
            "providers[0].audiences",
            "at least one audience",
        ),
        (
            with("/providers/0/audiences", json!(["api", ""])),
            "providers[0].audiences[1]",
            "must not be empty",
        ),
        (
            with("/providers/0/tenant", json!("nope")),
            "providers[0].tenant",
            "\"nope\" is not a configured tenant",
        ),
        (
            with("/providers/0/tenant_claim", json!("")),
            "providers[0].tenant_claim",
            "must not be empty",
        ),
        (
            with("/providers/0/roles_claim", json!("")),
            "providers[0].roles_claim",
            "must not be empty",
        ),
        (
            with("/providers/0/token_sources", json!([])),
            "providers[0].token_sources",
            "at least one token source",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "bearer"}, {"type": "bearer"}]),
            ),
            "providers[0].token_sources[1]",
            "duplicate token source (also providers[0].token_sources[0])",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "header", "name": "Authorization"}]),
            ),
            "providers[0].token_sources[0].name",
            "use {\"type\": \"bearer\"}",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "header", "name": "x token"}]),
            ),
            "providers[0].token_sources[0].name",
            "not a valid HTTP header name",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "header", "name": "X-User-Id"}]),
            ),
            "providers[0].token_sources[0].name",
            "identity header headers.user",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "header", "name": "content-length"}]),
            ),
            "providers[0].token_sources[0].name",
            "reserved header",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "cookie", "name": "a=b"}]),
            ),
            "providers[0].token_sources[0].name",
            "not a valid cookie name",
        ),
        (
            with("/providers/0/clock_skew_seconds", json!(601)),
            "providers[0].clock_skew_seconds",
            "must be between 0 and 600 (got 601)",
        ),
        (
            with("/providers/0/max_lifetime_seconds", json!(0)),
            "providers[0].max_lifetime_seconds",
            "must be between 1 and 31536000 (got 0)",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }

    let mut doc = base();
    set(&mut doc, "/providers/0/tenant", json!("acme"));
    set(&mut doc, "/providers/0/tenant_claim", json!("tid"));
    assert_one_error(
        doc,
        "providers[0].tenant_claim",
        "not allowed together with `tenant`",
    );

    let mut doc = base();
    let second = doc["providers"][0].clone();
    set(&mut doc, "/providers/1", second);
    assert_eq!(
        errors_of(&doc),
        vec![
            (
                "providers[1].name".to_owned(),
                "duplicate provider name \"corp\" (also providers[0].name)".to_owned()
            ),
            (
                "providers[1].issuer".to_owned(),
                "\"https://issuer.example.com\" is also the issuer of providers[0]: a token's \
                 `iss` must name one provider"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn jwks_checks() {
    let inline = json!({"keys": [jwk("k1", 2048)]});
    let cases = [
        (
            with("/providers/0/jwks", json!({})),
            "providers[0].jwks",
            "exactly one of `remote`, `inline` and `discovery`",
        ),
        (
            with("/providers/0/jwks/inline", inline.clone()),
            "providers[0].jwks",
            "mutually exclusive",
        ),
        (
            with("/providers/0/jwks/remote/cluster", json!("")),
            "providers[0].jwks.remote.cluster",
            "must not be empty",
        ),
        (
            with("/providers/0/jwks/remote/uri", json!("ftp://idp/jwks")),
            "providers[0].jwks.remote.uri",
            "http or https",
        ),
        (
            with(
                "/providers/0/jwks/remote/uri",
                json!("https://idp.example.com"),
            ),
            "providers[0].jwks.remote.uri",
            "must include the path",
        ),
        (
            with("/providers/0/jwks/remote/uri", json!("https:///jwks")),
            "providers[0].jwks.remote.uri",
            "has no host",
        ),
        (
            with("/providers/0/jwks/remote/timeout_ms", json!(0)),
            "providers[0].jwks.remote.timeout_ms",
            "must be between 1 and 60000 (got 0)",
        ),
        (
            with("/providers/0/jwks/refresh_min_seconds", json!(0)),
            "providers[0].jwks.refresh_min_seconds",
            "must be between 1 and 86400 (got 0)",
        ),
        (
            with("/providers/0/jwks/refresh_min_seconds", json!(900)),
            "providers[0].jwks.refresh_min_seconds",
            "must not exceed refresh_max_seconds (600) (got 900)",
        ),
        (
            with("/providers/0/jwks/refresh_default_seconds", json!(10)),
            "providers[0].jwks.refresh_default_seconds",
            "between refresh_min_seconds (30) and refresh_max_seconds (600) (got 10)",
        ),
        (
            with("/providers/0/jwks/refresh_max_seconds", json!(300)),
            "providers[0].jwks.refresh_default_seconds",
            "(got 600); that is its default, so set it too when lowering refresh_max_seconds",
        ),
        (
            with("/providers/0/jwks/backoff_initial_ms", json!(120_000)),
            "providers[0].jwks.backoff_initial_ms",
            "must not exceed backoff_max_ms (60000) (got 120000)",
        ),
        (
            with("/providers/0/jwks/max_response_bytes", json!(10)),
            "providers[0].jwks.max_response_bytes",
            "must be between 1024 and 1048576 (got 10)",
        ),
        (
            with("/providers/0/jwks/unknown_kid_refetch_seconds", json!(0)),
            "providers[0].jwks.unknown_kid_refetch_seconds",
            "must be between 1 and 3600",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    let inline_only = |value: Value| with("/providers/0/jwks", json!({"inline": value}));
    assert!(errors_of(&inline_only(inline)).is_empty());
    // Unusable keys are skipped as the filter skips them, as long as one key is usable.
    let ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"});
    let mixed = json!({"keys": [ec.clone(), jwk("small", 1024), jwk("k1", 2048)]});
    assert!(errors_of(&inline_only(mixed)).is_empty());
    // A set the filter would refuse at on_configure is a configuration error at its path.
    assert_one_error(
        inline_only(json!({"keys": []})),
        "providers[0].jwks.inline.keys",
        "at least one RSA public key usable for RS256",
    );
    assert_one_error(
        inline_only(json!({"keys": [jwk("small", 1024)]})),
        "providers[0].jwks.inline.keys",
        "none of the 1 keys of the JWKS is an RSA key usable for RS256 (first: the modulus has \
         1024 bits; at least 2048 are required)",
    );
    assert_one_error(
        inline_only(json!({"keys": [ec]})),
        "providers[0].jwks.inline.keys",
        "kty is not \"RSA\"",
    );
    let mut rs512 = jwk("a", 2048);
    rs512["alg"] = json!("RS512");
    assert_one_error(
        inline_only(json!({"keys": [rs512]})),
        "providers[0].jwks.inline.keys",
        "alg is not \"RS256\"",
    );
    assert_one_error(
        inline_only(json!([])),
        "providers[0].jwks.inline",
        "must be a JWKS object",
    );
    assert_one_error(
        inline_only(json!({"keys": {}})),
        "providers[0].jwks.inline.keys",
        "array",
    );
}

#[test]
fn an_inline_set_without_a_usable_key_is_refused() {
    let doc = with(
        "/providers/0/jwks",
        json!({"inline": {"keys": [{"kty": "RSA"}]}}),
    );
    assert_one_error(
        doc,
        "providers[0].jwks.inline.keys",
        "none of the 1 keys of the JWKS is an RSA key usable for RS256",
    );
}

#[test]
fn key_sources_compile_to_the_callout_or_the_loaded_keys() {
    use crate::gate::Gate;
    use crate::jwks::{Callout, JwksSource};

    let mut doc = base();
    set(
        &mut doc,
        "/providers/0/jwks/remote",
        json!({"cluster": "idp", "uri": "HTTPS://idp.example.com:8443/jwks?v=1", "timeout_ms": 750}),
    );
    let mut own = base()["providers"][0].clone();
    own["name"] = json!("own");
    own["issuer"] = json!("https://own.example.com");
    own["jwks"] = json!({"inline": {"keys": [jwk("k1", 2048)]}});
    set(&mut doc, "/providers/1", own);
    let gate = Gate::from_json(doc.to_string().as_bytes()).expect("valid");
    let providers: Vec<_> = gate.providers().collect();
    assert_eq!(providers.len(), 2);
    assert_eq!(providers[0].config.name, "corp");
    assert_eq!(
        providers[0].jwks.callout(),
        Some(&Callout {
            cluster: "idp".into(),
            authority: "idp.example.com:8443".into(),
            path: "/jwks?v=1".into(),
            timeout: std::time::Duration::from_millis(750),
        })
    );
    // Twice the callout timeout and a second: when a fetch with no news counts as lost.
    assert_eq!(providers[0].jwks.policy.lost_after_ms, 2_500);
    assert_eq!(providers[1].config.name, "own");
    assert_eq!(providers[1].jwks.callout(), None);
    assert!(matches!(
        &providers[1].jwks.source,
        JwksSource::Inline(keys) if keys.contains("k1")
    ));
}

#[test]
fn discovery_checks() {
    let discovery = |issuer: &str, d: Value| {
        let mut doc = with("/providers/0/jwks", json!({ "discovery": d }));
        set(&mut doc, "/providers/0/issuer", json!(issuer));
        doc
    };
    let good = json!({"cluster": "idp", "timeout_ms": 2000});
    assert!(errors_of(&discovery(
        "https://idp.example.com/realms/acme",
        good.clone()
    ))
    .is_empty());
    let cases = [
        (
            discovery("https://login.example.com/{tenant}/v2.0", good.clone()),
            "providers[0].jwks.discovery",
            "not a template",
        ),
        (
            discovery("urn:example:idp", good.clone()),
            "providers[0].jwks.discovery",
            "an issuer that is an http:// or https:// URL",
        ),
        (
            discovery("https://idp.example.com?tenant=a", good.clone()),
            "providers[0].jwks.discovery",
            "without query or fragment",
        ),
        (
            discovery("https://idp.example.com", json!({"cluster": ""})),
            "providers[0].jwks.discovery.cluster",
            "must not be empty",
        ),
        (
            discovery(
                "https://idp.example.com",
                json!({"cluster": "idp", "timeout_ms": 0}),
            ),
            "providers[0].jwks.discovery.timeout_ms",
            "must be between 1 and 60000 (got 0)",
        ),
        (
            with("/providers/0/jwks/discovery", good.clone()),
            "providers[0].jwks",
            "mutually exclusive",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    let compiled = crate::gate::Gate::from_json(
        discovery("https://idp.example.com/", good)
            .to_string()
            .as_bytes(),
    )
    .expect("valid");
    let provider = compiled.providers().next().expect("one provider");
    let d = provider.jwks.discovery().expect("discovery");
    assert_eq!(d.issuer(), "https://idp.example.com/");
    assert_eq!(
        provider.jwks.callout(),
        Some(d.document_callout()),
        "the first callout of a fetch is the document's"
    );
    assert_eq!(
        d.document_callout().path,
        "/.well-known/openid-configuration"
    );
}
