use serde_json::{json, Value};

use super::*;
use crate::jwks::keyset::tests::jwk;

/// A small valid configuration to break one field at a time.
fn base() -> Value {
    json!({
        "providers": [{
            "name": "corp",
            "issuer": "https://issuer.example.com",
            "audiences": ["api"],
            "jwks": {"remote": {"cluster": "issuer", "uri": "https://issuer.example.com/.well-known/jwks.json"}}
        }],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}, "beta": {}},
        "host_templates": ["{tenant}.app.example.com"],
        "routes": [{"path": {"prefix": "/api"}, "require": "authenticated"}]
    })
}

/// `base()` with the value at a JSON pointer replaced (or added to its parent object).
fn with(pointer: &str, value: Value) -> Value {
    let mut doc = base();
    set(&mut doc, pointer, value);
    doc
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = doc.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(list) => {
            let index: usize = key.parse().expect("array index");
            if index == list.len() {
                list.push(value);
            } else {
                list[index] = value;
            }
        }
        _ => panic!("{parent} is not a container"),
    }
}

fn errors_of(doc: &Value) -> Vec<(String, String)> {
    let text = serde_json::to_vec(doc).expect("serializes");
    match parse(&text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect(),
    }
}

/// Exactly one error, at `path`, whose message contains `needle`.
#[track_caller]
fn assert_one_error(doc: Value, path: &str, needle: &str) {
    let errors = errors_of(&doc);
    assert_eq!(
        errors.len(),
        1,
        "expected one error at {path}, got {errors:?}"
    );
    assert_eq!(errors[0].0, path, "{errors:?}");
    assert!(
        errors[0].1.contains(needle),
        "{:?} lacks {needle:?}",
        errors[0].1
    );
}

#[test]
fn base_is_valid_and_defaults_apply() {
    let config = parse(&serde_json::to_vec(&base()).expect("json")).expect("valid");
    assert_eq!(config.realm, "tenantgate");
    assert_eq!(config.max_token_bytes, 8192);
    assert_eq!(config.default_requirement, Requirement::Deny);
    assert_eq!(config.providers[0].token_sources, vec![TokenSource::Bearer]);
    assert_eq!(config.providers[0].tenant_claim_name(), "tenantId");
    assert_eq!(config.providers[0].roles_claim, "roles");
    assert_eq!(config.headers.tenant, "x-tenant-id");
    assert_eq!(config.cache.max_entries, 10_000);
    assert_eq!(config.providers[0].jwks.refresh_min_seconds, 30);
}

#[test]
fn shape_errors_name_the_path() {
    let cases = [
        (with("/bogus", json!(1)), "bogus", "unknown field `bogus`"),
        (
            with("/providers/0/jwks/remote/url", json!("x")),
            "providers[0].jwks.remote.url",
            "unknown field `url`",
        ),
        (
            with("/tenants/acme/host", json!([])),
            "tenants.acme.host",
            "unknown field `host`",
        ),
        (
            with("/routes/0/path", json!({"exact": "/a", "prefix": "/b"})),
            "routes[0].path",
            "exactly one of `exact`, `prefix` or `glob`",
        ),
        (
            with("/routes/0/require", json!("admin")),
            "routes[0].require",
            "unknown variant `admin`",
        ),
        (
            with("/routes/0/require", json!({"roles": {"anyof": ["x"]}})),
            "routes[0].require.roles.anyof",
            "unknown field `anyof`",
        ),
        (
            with(
                "/routes/0/require",
                json!({"roles": {"any_of": ["x"]}, "x": 1}),
            ),
            "routes[0].require",
            "unknown field `x`, expected `roles`",
        ),
        (
            with("/routes/0/require", json!({"deny": 1})),
            "routes[0].require",
            "unknown field `deny`, expected `roles`",
        ),
        (
            with(
                "/providers/0/token_sources",
                json!([{"type": "bearer", "name": "x"}]),
            ),
            "providers[0].token_sources[0]",
            "takes no `name`",
        ),
        (
            with("/providers/0/token_sources", json!([{"type": "cookie"}])),
            "providers[0].token_sources[0]",
            "missing field `name`",
        ),
        (
            with("/max_token_bytes", json!("8k")),
            "max_token_bytes",
            "invalid type: string",
        ),
        (
            with("/providers/0/audiences", json!("api")),
            "providers[0].audiences",
            "invalid type: string",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn syntax_errors_and_root_errors() {
    let err = parse(b"{\"providers\": [").expect_err("truncated");
    assert!(err.to_string().contains("EOF"), "{err}");
    let err = parse(b"{} {}").expect_err("trailing");
    assert_eq!(err.errors[0].path, "(root)");
    let err = parse(b"{}").expect_err("no providers");
    assert_eq!(
        err.to_string(),
        "(root): missing field `providers` at line 1 column 2"
    );
    let err = parse(b"[]").expect_err("not an object");
    assert_eq!(err.errors[0].path, "(root)");
    let err = parse(br#"{"providers": [], "tenants": {"a": {}, "a": {}}}"#).expect_err("dup");
    assert!(
        err.to_string().contains("duplicate tenant id \"a\""),
        "{err}"
    );
}

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
            "exactly one of `remote` and `inline`",
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
fn tenancy_checks() {
    let cases = [
        (
            with("/tenants/Acme", json!({})),
            "tenants.Acme",
            "not a valid tenant id",
        ),
        (
            with("/tenants/acme/hosts", json!(["acme.example.com:443"])),
            "tenants.acme.hosts[0]",
            "carry no port",
        ),
        (
            with("/tenants/acme/hosts", json!(["*.example.com"])),
            "tenants.acme.hosts[0]",
            "wildcards",
        ),
        (
            with("/tenants/acme/hosts", json!(["a..example.com"])),
            "tenants.acme.hosts[0]",
            "1 to 63",
        ),
        (
            with(
                "/tenants/acme/hosts",
                json!(["acme.example.com", "ACME.example.com."]),
            ),
            "tenants.acme.hosts[1]",
            "duplicate host \"acme.example.com\" (also tenants.acme.hosts[0])",
        ),
        (
            with("/tenants/beta/hosts", json!(["Acme.Example.com"])),
            "tenants.beta.hosts[0]",
            "already owned by tenant \"acme\" (tenants.acme.hosts[0])",
        ),
        (
            with("/tenants/beta/hosts", json!(["acme.app.example.com"])),
            "tenants.beta.hosts[0]",
            "also the host of tenant \"acme\" through host_templates[0]",
        ),
        (
            with("/host_templates/0", json!("app.example.com")),
            "host_templates[0]",
            "exactly once",
        ),
        (
            with("/host_templates/0", json!("t{tenant}.example.com")),
            "host_templates[0]",
            "whole label",
        ),
        (
            with("/host_templates/0", json!("{tenant}")),
            "host_templates[0]",
            "at least one label",
        ),
        (
            with("/host_templates/1", json!("{tenant}.APP.example.com")),
            "host_templates[1]",
            "duplicate of host_templates[0]",
        ),
        (
            with("/allow_unlisted_tenants", json!(true))
                .tap(|d| set(d, "/host_templates", json!([]))),
            "allow_unlisted_tenants",
            "has no effect without host_templates",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    // The template does not reach an unlisted tenant unless allowed, so this host is fine...
    let doc = with("/tenants/beta/hosts", json!(["gamma.app.example.com"]));
    assert!(errors_of(&doc).is_empty(), "{:?}", errors_of(&doc));
    // ...but with unlisted tenants allowed, gamma.app.example.com is tenant gamma's.
    let mut doc = doc;
    set(&mut doc, "/allow_unlisted_tenants", json!(true));
    assert_one_error(
        doc,
        "tenants.beta.hosts[0]",
        "tenant \"gamma\" through host_templates[0]",
    );

    // Two templates producing one host for two listed tenants.
    let mut doc = with("/host_templates/1", json!("acme.{tenant}.com"));
    set(&mut doc, "/host_templates/0", json!("{tenant}.beta.com"));
    assert_one_error(
        doc,
        "host_templates[1]",
        "gives host \"acme.beta.com\" to tenant \"beta\"",
    );

    // Overlapping templates are refused when any tenant id may fill them.
    let mut doc = with("/host_templates/1", json!("api.{tenant}.example.com"));
    set(
        &mut doc,
        "/host_templates/0",
        json!("{tenant}.app.example.com"),
    );
    set(&mut doc, "/allow_unlisted_tenants", json!(true));
    assert_one_error(
        doc,
        "host_templates[1]",
        "\"api.app.example.com\" would belong to two tenants",
    );

    // Nobody owns any host.
    let mut doc = with("/host_templates", json!([]));
    set(&mut doc, "/tenants", json!({"acme": {}}));
    assert_one_error(doc, "tenants", "no tenant owns a host");
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}
impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[test]
fn route_checks() {
    let route = |value: Value| with("/routes/1", value);
    let cases = [
        (
            route(json!({"path": {"glob": "/a/b**"}, "require": "public"})),
            "routes[1].path.glob",
            "`**` must be a whole segment",
        ),
        (
            route(json!({"path": {"prefix": "api"}, "require": "public"})),
            "routes[1].path.prefix",
            "must start with '/'",
        ),
        (
            route(json!({"path": {"exact": "/a/./b"}, "require": "public"})),
            "routes[1].path.exact",
            "write \"/a/b\"",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": ["get"], "require": "public"})),
            "routes[1].methods[0]",
            "not an upper-case HTTP method",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": [], "require": "public"})),
            "routes[1].methods",
            "omit `methods`",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": ["GET", "GET"], "require": "public"})),
            "routes[1].methods[1]",
            "duplicate method",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "hosts": ["a b"], "require": "public"})),
            "routes[1].hosts[0]",
            "not a host name",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "require": {"roles": {}}})),
            "routes[1].require.roles",
            "at least one role",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "require": {"roles": {"all_of": ["x", ""]}}})),
            "routes[1].require.roles.all_of[1]",
            "must not be empty",
        ),
        (
            route(json!({"name": "", "path": {"exact": "/a"}, "require": "public"})),
            "routes[1].name",
            "must not be empty",
        ),
        (
            with("/default_requirement", json!({"roles": {"any_of": []}})),
            "default_requirement.roles",
            "at least one role",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    let mut doc = route(json!({"name": "x", "path": {"exact": "/a"}, "require": "public"}));
    set(&mut doc, "/routes/0/name", json!("x"));
    assert_one_error(
        doc,
        "routes[1].name",
        "duplicate route name \"x\" (also routes[0].name)",
    );
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
fn roles_are_satisfied() {
    let roles = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let rule = |any: &[&str], all: &[&str]| RoleRequirement {
        any_of: roles(any),
        all_of: roles(all),
    };
    let any = rule(&["admin", "ops"], &[]);
    assert!(any.satisfied_by(&roles(&["ops"])));
    assert!(!any.satisfied_by(&roles(&["dev"])));
    assert!(!any.satisfied_by(&[]));
    let all = rule(&[], &["read", "write"]);
    assert!(all.satisfied_by(&roles(&["write", "x", "read"])));
    assert!(!all.satisfied_by(&roles(&["read"])));
    let both = rule(&["admin", "ops"], &["mfa"]);
    assert!(both.satisfied_by(&roles(&["ops", "mfa"])));
    assert!(!both.satisfied_by(&roles(&["ops"])));
    assert!(!both.satisfied_by(&roles(&["mfa"])));
    // Case matters: role names are compared exactly.
    assert!(!any.satisfied_by(&roles(&["Admin"])));
    assert!(!rule(&[], &[]).satisfied_by(&roles(&["admin"])));
}
