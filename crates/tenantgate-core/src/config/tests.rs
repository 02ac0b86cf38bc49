//! The shape of a configuration, as `parse` sees it; the semantic checks are the compile step's
//! (`compile::tests`), which builds on the helpers here.

use serde_json::{json, Value};

use super::*;

/// A small valid configuration to break one field at a time.
pub(crate) fn base() -> Value {
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
pub(crate) fn with(pointer: &str, value: Value) -> Value {
    let mut doc = base();
    set(&mut doc, pointer, value);
    doc
}

pub(crate) fn set(doc: &mut Value, pointer: &str, value: Value) {
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

/// `doc` with the top-level members of `extra` added, or replacing its own.
pub(crate) fn merged(mut doc: Value, extra: Value) -> Value {
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    doc
}

pub(crate) trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}
impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

/// A parse or compile result as (path, message) pairs; empty when it succeeded.
pub(crate) fn error_pairs<T>(result: Result<T, ConfigErrors>) -> Vec<(String, String)> {
    match result {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| (e.path.clone(), e.message.clone()))
            .collect(),
    }
}

/// Exactly one error, at `path`, whose message contains `needle`.
#[track_caller]
pub(crate) fn assert_only_error(errors: &[(String, String)], path: &str, needle: &str) {
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

fn errors_of(doc: &Value) -> Vec<(String, String)> {
    error_pairs(parse(&serde_json::to_vec(doc).expect("serializes")))
}

/// Exactly one parse error, at `path`, whose message contains `needle`.
#[track_caller]
fn assert_one_error(doc: Value, path: &str, needle: &str) {
    assert_only_error(&errors_of(&doc), path, needle);
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
            "unknown field `x`, expected one of `roles`, `permissions`, `scopes`, `claims`",
        ),
        (
            with("/routes/0/require", json!({"deny": 1})),
            "routes[0].require",
            "unknown field `deny`, expected one of `roles`, `permissions`, `scopes`, `claims`",
        ),
        (
            with("/routes/0/require", json!({})),
            "routes[0].require",
            "give `roles`, `permissions`, `scopes` or `claims`",
        ),
        (
            with("/routes/0/require", json!("scopes")),
            "routes[0].require",
            "`scopes` takes a value",
        ),
        (
            with(
                "/routes/0/require",
                json!({"permissions": {"any_of": ["a"], "none_of": ["b"]}}),
            ),
            "routes[0].require.permissions.none_of",
            "unknown field `none_of`",
        ),
        (
            with(
                "/routes/0/require",
                json!({"claims": [{"claim": "plan", "one_of": ["pro"], "contains": "x"}]}),
            ),
            "routes[0].require.claims[0]",
            "give exactly one of `one_of` or `contains`",
        ),
        (
            with("/routes/0/require", json!({"claims": [{"claim": "plan"}]})),
            "routes[0].require.claims[0]",
            "give exactly one of `one_of` or `contains`",
        ),
        (
            with(
                "/routes/0/require",
                json!({"claims": [{"one_of": ["pro"]}]}),
            ),
            "routes[0].require.claims[0]",
            "missing field `claim`",
        ),
        (
            with("/role_permissions", json!({"admin": "write:*"})),
            "role_permissions.admin",
            "invalid type: string",
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
