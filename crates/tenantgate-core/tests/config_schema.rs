//! docs/tenantgate.schema.json against the real parser: the two agree on every field name, at
//! every depth, on every default and on every range, and a maximal configuration uses every
//! field the schema has.

mod common;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tenantgate_core::config;

use common::{parse, schema, schema_errors, validator};

const RSA_N: &str = "3aNrmcZnZrTDGJAHP7VaAAPTTDzjrwKo2fmTZbsTCuEuwzLSzcZD5gkp4z7H3yG1v7JXLMlpw9hg3gB7DF-kycTpm4s3HgM1KsW3j6lAvtUvGUlgKUycnpkkYKxSWqOeBBnHK9VOrXQcbBpXrWjEd4c3FpDCT_je4FiaJn9-Nn3jk4c4w9Yi25LuVq3HtxPNYuB8HRlutJTO2P6_hil8DA9cfu-ACWEtfzwiJx_jO3EQsUDMj2Bb-o39LQ-nTU8hwnnezWbGOwhGf2PM_GwbotqG1uToTsDKgPpkUQKoTBR0i2JuytSEnopb2Od4fN1nifZ8mpkpXZb_8KPhA1YLzw";

/// A configuration with every field of the schema set to a non-default value.
fn maximal() -> Value {
    json!({
        "realm": "max",
        "max_token_bytes": 16384,
        "providers": [
            {
                "name": "shared",
                "issuer": "https://issuer.example.com",
                "audiences": ["api", "admin"],
                "tenant_claim": "tid",
                "roles_claim": ["groups", "/realm_access/roles"],
                "permissions_claim": "/authz/perms",
                "subject_claim": "oid",
                "scopes_claim": ["scope"],
                "audience_claim": "azp",
                "tenant_map": {"Org_A": "acme"},
                "token_sources": [
                    {"type": "bearer"},
                    {"type": "header", "name": "x-token"},
                    {"type": "cookie", "name": "session"}
                ],
                "clock_skew_seconds": 30,
                "max_lifetime_seconds": 900,
                "jwks": {
                    "remote": {"cluster": "issuer", "uri": "https://issuer.example.com/jwks", "timeout_ms": 2000},
                    "refresh_default_seconds": 300,
                    "refresh_min_seconds": 60,
                    "refresh_max_seconds": 900,
                    "max_response_bytes": 32768,
                    "unknown_kid_refetch_seconds": 10,
                    "backoff_initial_ms": 500,
                    "backoff_max_ms": 30000
                }
            },
            {
                "name": "own",
                "issuer": "https://login.acme.example",
                "audiences": ["api"],
                "tenant": "acme",
                "jwks": {"inline": {"keys": [{"kty": "RSA", "kid": "acme-1", "e": "AQAB", "n": RSA_N}]}}
            },
            {
                "name": "discovered",
                "issuer": "https://kc.example.com/realms/acme",
                "audiences": ["api"],
                "tenant": "acme",
                "jwks": {"discovery": {"cluster": "keycloak", "timeout_ms": 3000}}
            }
        ],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}},
        "host_templates": ["{tenant}.app.example.com"],
        "allow_unlisted_tenants": true,
        "shared_hosts": ["api.example.com"],
        "tenant_context": {"paths": ["/tenants/{tenant}/**"], "header": "x-tenant", "required": ["host"]},
        "role_permissions": {"admin": ["write:*", "read:users"]},
        "routes": [
            {
                "name": "admin",
                "path": {"prefix": "/admin"},
                "methods": ["GET", "POST"],
                "hosts": ["acme.example.com"],
                "require": {
                    "roles": {"any_of": ["admin"], "all_of": ["mfa"]},
                    "permissions": {"any_of": ["write:users"], "all_of": ["read:users"]},
                    "scopes": {"any_of": ["admin"], "all_of": ["openid"]},
                    "claims": [
                        {"claim": "/org/plan", "one_of": ["pro", 2, true]},
                        {"claim": "amr", "contains": "mfa"}
                    ]
                },
                "tenant_context": {"header": "x-org", "required": ["header"]},
                "audit": false,
                "operators": true
            },
            {"path": {"exact": "/healthz"}, "require": "public"},
            {"path": {"glob": "/api/**"}, "require": "authenticated"},
            {"path": {"prefix": "/internal"}, "require": "deny"}
        ],
        "default_requirement": "authenticated",
        "headers": {"tenant": "x-t", "user": "x-u", "roles": "x-r", "forward_token": true,
                    "claims": {"x-plan": "plan"}, "would_deny": "x-dry-run",
                    "acting_operator": "x-operator"},
        "jwks_wait_ms": 1000,
        "retry_after_seconds": 2,
        "cache": {"max_entries": 5, "max_bytes": 4096, "negative_max_entries": 7},
        "path_parameters": "strip",
        "audit": true,
        "operators": {"providers": ["shared"], "tenants": ["platform"], "role": "operator",
                      "max_lifetime_seconds": 300, "target_claim": "act_for"},
        "directory": {
            "provider": "shared",
            "remote": {"cluster": "issuer", "uri": "http://issuer.internal/v1/directory", "timeout_ms": 2000},
            "refresh_seconds": 30,
            "max_bytes": 1048576,
            "max_age_seconds": 3600,
            "idp_clusters": ["egress"]
        }
    })
}

/// Resolves `{"$ref": "#/$defs/x"}` (and a `$ref` beside other keywords) to the referenced schema.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local reference");
            resolve(root, root.pointer(pointer).expect("reference resolves"))
        }
        None => schema,
    }
}

/// Property names a schema object allows, through `oneOf` branches.
fn schema_properties(root: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(root, schema);
    let mut names: BTreeSet<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for branch in schema
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        names.extend(schema_properties(root, branch));
    }
    names
}

/// The field names serde lists when it refuses an unknown field.
fn parser_fields(message: &str) -> BTreeSet<String> {
    let expected = message
        .split_once("expected ")
        .unwrap_or_else(|| panic!("no field list in {message:?}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every object of a configuration: (JSON pointer, pointer of its schema).
const OBJECTS: &[(&str, &str)] = &[
    ("", ""),
    ("/providers/0", "/$defs/provider"),
    ("/providers/0/token_sources/1", "/$defs/token_source"),
    ("/providers/0/jwks", "/$defs/jwks"),
    ("/providers/0/jwks/remote", "/$defs/remote_jwks"),
    ("/tenants/acme", "/$defs/tenant"),
    ("/routes/0", "/$defs/route"),
    ("/tenant_context", "/$defs/tenant_context"),
    ("/operators", "/$defs/operators"),
    ("/routes/0/tenant_context", "/$defs/tenant_context"),
    ("/routes/0/path", "/$defs/path_match"),
    ("/routes/0/require", "/$defs/requirement"),
    ("/routes/0/require/roles", "/$defs/roles"),
    (
        "/routes/0/require/permissions",
        "/$defs/requirement/oneOf/1/properties/permissions",
    ),
    (
        "/routes/0/require/scopes",
        "/$defs/requirement/oneOf/1/properties/scopes",
    ),
    ("/routes/0/require/claims/0", "/$defs/claim_condition"),
    ("/headers", "/$defs/headers"),
    ("/cache", "/$defs/cache"),
    ("/directory", "/$defs/directory"),
    ("/directory/remote", "/$defs/directory_remote"),
];

#[test]
fn a_maximal_configuration_passes_both_and_uses_every_schema_field() {
    let validator = validator();
    let doc = maximal();
    assert_eq!(schema_errors(&validator, &doc), Vec::<String>::new());
    let config = parse(doc.to_string().as_bytes()).expect("the parser accepts it");
    assert!(config.headers.forward_token);

    // Every schema object's fields, summed over the places that use it, are all used.
    let root = schema();
    let coverage: &[(&str, &[&str])] = &[
        ("", &[""]),
        (
            "/$defs/provider",
            &["/providers/0", "/providers/1", "/providers/2"],
        ),
        (
            "/$defs/token_source",
            &[
                "/providers/0/token_sources/0",
                "/providers/0/token_sources/1",
                "/providers/0/token_sources/2",
            ],
        ),
        (
            "/$defs/jwks",
            &[
                "/providers/0/jwks",
                "/providers/1/jwks",
                "/providers/2/jwks",
            ],
        ),
        ("/$defs/remote_jwks", &["/providers/0/jwks/remote"]),
        ("/$defs/discovery_jwks", &["/providers/2/jwks/discovery"]),
        ("/$defs/tenant", &["/tenants/acme"]),
        ("/$defs/route", &["/routes/0"]),
        (
            "/$defs/tenant_context",
            &["/tenant_context", "/routes/0/tenant_context"],
        ),
        (
            "/$defs/path_match",
            &["/routes/0/path", "/routes/1/path", "/routes/2/path"],
        ),
        ("/$defs/requirement", &["/routes/0/require"]),
        ("/$defs/roles", &["/routes/0/require/roles"]),
        (
            "/$defs/requirement/oneOf/1/properties/permissions",
            &["/routes/0/require/permissions"],
        ),
        (
            "/$defs/requirement/oneOf/1/properties/scopes",
            &["/routes/0/require/scopes"],
        ),
        (
            "/$defs/claim_condition",
            &["/routes/0/require/claims/0", "/routes/0/require/claims/1"],
        ),
        ("/$defs/headers", &["/headers"]),
        ("/$defs/cache", &["/cache"]),
        ("/$defs/directory", &["/directory"]),
        ("/$defs/directory_remote", &["/directory/remote"]),
    ];
    for (schema_at, instances) in coverage {
        let mut used = BTreeSet::new();
        for instance in *instances {
            let object = doc.pointer(instance).and_then(Value::as_object);
            used.extend(
                object
                    .expect("object in the maximal config")
                    .keys()
                    .cloned(),
            );
        }
        let allowed = schema_properties(&root, root.pointer(schema_at).expect("schema pointer"));
        assert_eq!(
            used, allowed,
            "fields of {instances:?} vs schema {schema_at}"
        );
    }
}

#[test]
fn unknown_fields_fail_both_and_field_names_agree_at_every_depth() {
    let validator = validator();
    let root = schema();
    for (instance, schema_at) in OBJECTS {
        let mut doc = maximal();
        doc.pointer_mut(instance)
            .and_then(Value::as_object_mut)
            .expect("object")
            .insert("zz_unknown".into(), json!(1));
        assert!(
            !schema_errors(&validator, &doc).is_empty(),
            "the schema accepts an unknown field at {instance:?}"
        );
        let errors = parse(doc.to_string().as_bytes()).expect_err("parser refuses");
        let error = &errors.errors[0];
        assert!(
            error.message.contains("`zz_unknown`"),
            "{instance:?}: {error}"
        );
        let from_parser = parser_fields(&error.message);
        let from_schema = schema_properties(&root, root.pointer(schema_at).expect("schema"));
        assert_eq!(
            from_parser, from_schema,
            "field names at {instance:?}: parser vs schema {schema_at}"
        );
    }
}

#[test]
fn every_schema_object_refuses_additional_properties() {
    fn walk(value: &Value, at: String, missing: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                // The inline JWKS is a foreign document whose JWK members are open.
                let foreign = at.ends_with("/properties/inline");
                if map.contains_key("properties")
                    && !foreign
                    && map.get("additionalProperties") != Some(&Value::Bool(false))
                {
                    missing.push(at.clone());
                }
                for (key, child) in map {
                    if key != "properties" || !foreign {
                        walk(child, format!("{at}/{key}"), missing);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&schema(), String::new(), &mut missing);
    // Branches that only add constraints (anyOf minItems) carry no properties of their own.
    missing.retain(|at| !at.contains("/anyOf/"));
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn schema_defaults_are_the_parser_defaults() {
    let minimal = minimal();
    // Serde's view only: defaults are a matter of shape, and some omissions would not validate.
    let shape = |doc: &Value| {
        let config: config::Config =
            serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{doc}: {e}"));
        format!("{config:?}")
    };
    let root = schema();
    let mut checked = 0;
    for (schema_at, instance, name, property) in properties_at(&root, PLACES) {
        let Some(default) = property
            .get("default")
            .or_else(|| resolve(&root, property).get("default"))
        else {
            continue;
        };
        let mut omitted = minimal.clone();
        if omitted.pointer(instance).is_none() {
            let (parent, key) = instance.rsplit_once('/').expect("nested");
            omitted
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("parent object")
                .insert(key.to_owned(), json!({}));
        }
        let object = omitted
            .pointer_mut(instance)
            .and_then(Value::as_object_mut)
            .expect("object");
        object.remove(name);
        let mut explicit = omitted.clone();
        explicit
            .pointer_mut(instance)
            .and_then(Value::as_object_mut)
            .expect("object")
            .insert(name.clone(), default.clone());
        assert_eq!(
            shape(&explicit),
            shape(&omitted),
            "schema default of {schema_at}/properties/{name} differs from the parser's"
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} defaults checked");
}

/// A configuration with one of each object the default and range checks fill in.
fn minimal() -> Value {
    json!({
        "providers": [{
            "name": "p",
            "issuer": "https://issuer.example.com",
            "audiences": ["api"],
            "jwks": {"remote": {"cluster": "c", "uri": "https://issuer.example.com/jwks"}}
        }],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}},
        "routes": [{"path": {"exact": "/"}, "require": {"roles": {"any_of": ["x"]}}}]
    })
}

/// The schema's objects with defaults or ranges: (schema object, where its fields live in a
/// configuration). The first [`WITH_RANGES`] are those with numeric ranges.
const PLACES: &[(&str, &str)] = &[
    ("", ""),
    ("/$defs/provider", "/providers/0"),
    ("/$defs/jwks", "/providers/0/jwks"),
    ("/$defs/remote_jwks", "/providers/0/jwks/remote"),
    ("/$defs/cache", "/cache"),
    ("/$defs/tenant", "/tenants/acme"),
    ("/$defs/roles", "/routes/0/require/roles"),
    ("/$defs/headers", "/headers"),
];
const WITH_RANGES: usize = 5;

/// Every property of the schema objects at `places` (a schema pointer, and where the object's
/// fields live in a configuration): (schema pointer, configuration pointer, name, its schema).
fn properties_at<'a>(
    root: &'a Value,
    places: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str, &'a String, &'a Value)> {
    places
        .iter()
        .flat_map(|&(schema_at, instance)| {
            root.pointer(&format!("{schema_at}/properties"))
                .and_then(Value::as_object)
                .expect("properties")
                .iter()
                .map(move |(name, property)| (schema_at, instance, name, property))
        })
        .collect()
}

/// `providers[0].jwks` for the pointer `/providers/0/jwks`.
fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

#[test]
fn schema_ranges_are_the_parser_ranges() {
    let minimal = minimal();
    let root = schema();
    let mut checked = 0;
    for (_, instance, name, property) in properties_at(&root, &PLACES[..WITH_RANGES]) {
        let (Some(min), Some(max)) = (
            property.get("minimum").and_then(Value::as_u64),
            property.get("maximum").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let path = field_path(&format!("{instance}/{name}"));
        let mut outside = vec![max + 1];
        if min > 0 {
            outside.push(min - 1);
        }
        for value in outside {
            let mut doc = minimal.clone();
            if doc.pointer(instance).is_none() {
                doc.as_object_mut()
                    .expect("root")
                    .insert(instance.trim_start_matches('/').to_owned(), json!({}));
            }
            doc.pointer_mut(instance)
                .and_then(Value::as_object_mut)
                .expect("object")
                .insert(name.clone(), json!(value));
            let errors = parse(doc.to_string().as_bytes())
                .expect_err(&format!("{path} = {value} is outside the schema's range"));
            let error = errors
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error at {path} for {value}: {errors}"));
            // The default refresh interval is bounded by the two clamps instead.
            if name != "refresh_default_seconds" {
                assert!(
                    error.message.contains(&format!("between {min} and {max}")),
                    "{error}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} bounds checked");
}
