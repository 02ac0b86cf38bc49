//! The JSON Schema of the configuration (`docs/tenantgate.schema.json`), generated from the
//! types of this module's parent: their doc comments are the descriptions, their serde
//! attributes the names, defaults and required fields, and `schemars` attributes on them the
//! ranges and patterns. Where `de.rs` deserializes by hand, the schema is written here by hand
//! to mirror the JSON shapes it accepts; so are the string shapes several fields share.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::{Config, PathMatch, Requirement, TokenSource};

/// The schema of the whole configuration, as `tenantgate schema` prints it.
pub fn schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Config>().to_value();
    tidy(&mut schema);
    schema
}

/// Doc comments are wrapped at 100 columns: unwrap them into one-line descriptions. Integer
/// `format`s (`uint64`) are no JSON Schema vocabulary; the ranges say what matters. A `null`
/// default only says that an optional field is absent by default.
fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            if map
                .get("type")
                .is_some_and(|t| *t == "integer" || is_integer_or_null(t))
            {
                map.remove("format");
            }
            if let Some(Value::String(text)) = map.get_mut("description") {
                *text = text
                    .split('\n')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            map.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn is_integer_or_null(types: &Value) -> bool {
    types
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "integer"))
}

/// A string schema shared by several fields, under its own name in `$defs`.
macro_rules! shared_string {
    ($(#[$doc:meta])* $name:ident, $id:literal, $schema:tt) => {
        $(#[$doc])*
        pub(super) struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                $id.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

shared_string!(
    /// `syntax::is_tenant_id`.
    TenantId,
    "tenant_id",
    {
        "description": "A tenant id: lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters (it must fit a DNS label).",
        "type": "string",
        "maxLength": 63,
        "pattern": "^[a-z0-9][a-z0-9_-]*$"
    }
);

shared_string!(
    /// `syntax::dns_name`.
    Host,
    "host",
    {
        "description": "A host name or IPv4 address without port; compared case-insensitively, one trailing dot ignored.",
        "type": "string",
        "maxLength": 254,
        "pattern": "^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\\.?$"
    }
);

shared_string!(
    /// `syntax::is_token`.
    HttpToken,
    "http_token",
    {
        "description": "An HTTP token (RFC 9110): header and cookie names.",
        "type": "string",
        "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
    }
);

shared_string!(
    /// The identity headers' names, as the compile step checks them.
    IdentityHeader,
    "identity_header",
    {
        "description": "A lower-case header name; not a pseudo-header, nor one that carries credentials, routing or framing.",
        "type": "string",
        "pattern": "^[!#$%&'*+.^_`|~0-9a-z-]+$",
        "not": {
            "enum": [
                "authorization", "proxy-authorization", "cookie", "set-cookie", "host", "connection",
                "content-length", "content-type", "expect", "keep-alive", "te", "trailer",
                "transfer-encoding", "upgrade"
            ]
        }
    }
);

/// `jwks.inline`: a foreign document, described where it is used rather than in `$defs`.
pub(super) struct InlineJwks;

impl JsonSchema for InlineJwks {
    fn schema_name() -> Cow<'static, str> {
        "inline_jwks".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The field's doc comment describes it.
        json_schema!({
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": { "type": "array", "minItems": 1, "items": { "type": "object" } }
            }
        })
    }
}

/// Mirrors `de::RawTokenSource` and its `TryFrom`: `name` exactly for header and cookie.
impl JsonSchema for TokenSource {
    fn schema_name() -> Cow<'static, str> {
        "token_source".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let token = generator.subschema_for::<HttpToken>();
        // `Authorization` and `Cookie` have source types of their own; `Host` carries no token.
        let mut header_name = token.clone();
        header_name.insert(
            "not".into(),
            serde_json::json!({
                "enum": ["authorization", "Authorization", "cookie", "Cookie", "host", "Host"]
            }),
        );
        json_schema!({
            "description": "A place a token may be presented in.",
            "oneOf": [
                {
                    "description": "Authorization: Bearer <token> (scheme case-insensitive).",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["type"],
                    "properties": { "type": { "const": "bearer" } }
                },
                {
                    "description": "A named request header whose whole value is the token.",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["type", "name"],
                    "properties": {
                        "type": { "const": "header" },
                        "name": header_name
                    }
                },
                {
                    "description": "A named cookie.",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["type", "name"],
                    "properties": {
                        "type": { "const": "cookie" },
                        "name": token
                    }
                }
            ]
        })
    }
}

/// Mirrors `de::RawPathMatch` and its `TryFrom`: exactly one key.
impl JsonSchema for PathMatch {
    fn schema_name() -> Cow<'static, str> {
        "path_match".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let kind = |key: &str, description: &str| {
            json_schema!({
                "type": "object",
                "additionalProperties": false,
                "required": [key],
                "properties": {
                    key: { "description": description, "type": "string", "pattern": "^/" }
                }
            })
        };
        json_schema!({
            "description": "How a rule matches the normalized path: exactly one of exact, prefix or glob. Patterns must be in normalized form.",
            "oneOf": [
                kind("exact", "The whole path equals this."),
                kind("prefix", "The path equals this or continues with '/' after it; a trailing '/' is not significant."),
                kind("glob", "'*' matches zero or more characters within one segment; '**' as a whole segment matches zero or more segments.")
            ]
        })
    }
}

/// Mirrors the `Deserialize` impl of `de.rs`: a word, or an object of at least one of `roles`,
/// `permissions`, `scopes` and `claims`.
impl JsonSchema for Requirement {
    fn schema_name() -> Cow<'static, str> {
        "requirement".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let roles = generator.subschema_for::<super::RoleRequirement>();
        let permissions = list_of(
            "Permission strings the token must hold, from its provider's permissions_claim and the role_permissions of its roles. No '*': a route names the permission it needs.",
            "^[!-)+-~]+$",
        );
        let scopes = list_of(
            "OAuth scopes the token must hold, from its `scope` and `scp` claims (a space-delimited string or an array of strings).",
            "^[!#-\\[\\]-~]+$",
        );
        let condition = generator.subschema_for::<super::ClaimCondition>();
        let claims = serde_json::json!({
            "description": "Conditions on claims (entitlements), each of which must hold.",
            "type": "array",
            "minItems": 1,
            "items": condition
        });
        json_schema!({
            "description": "What a matched route requires.",
            "oneOf": [
                {
                    "description": "public: no token needed; authenticated: a valid token whose tenant owns the host; deny: refused whatever the token.",
                    "enum": ["public", "authenticated", "deny"]
                },
                {
                    "description": "Every part given must hold (AND): roles, then permissions, then scopes, then each claim condition.",
                    "type": "object",
                    "additionalProperties": false,
                    "minProperties": 1,
                    "properties": {
                        "roles": roles,
                        "permissions": permissions,
                        "scopes": scopes,
                        "claims": claims
                    }
                }
            ]
        })
    }
}

/// An `any_of`/`all_of` rule (`requirement::AnyAllOf`) whose names follow `pattern`.
fn list_of(description: &str, pattern: &str) -> Schema {
    let names = |description: &str| {
        serde_json::json!({
            "description": description,
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": pattern}
        })
    };
    json_schema!({
        "description": description,
        "type": "object",
        "additionalProperties": false,
        "anyOf": [{"required": ["any_of"]}, {"required": ["all_of"]}],
        "properties": {
            "any_of": names("At least one of these."),
            "all_of": names("Every one of these.")
        }
    })
}

/// Mirrors `requirement::RawClaimCondition` and its `TryFrom`: `claim` and exactly one test.
impl JsonSchema for super::ClaimCondition {
    fn schema_name() -> Cow<'static, str> {
        "claim_condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<ClaimValue>();
        let test = |key: &str, schema: Value| {
            json_schema!({
                "type": "object",
                "additionalProperties": false,
                "required": ["claim", key],
                "properties": {
                    "claim": {
                        "description": "A top-level claim name, taken literally (dots included), or, when it starts with '/', a JSON Pointer (RFC 6901) into the claims, e.g. /org/plan.",
                        "type": "string",
                        "minLength": 1
                    },
                    key: schema
                }
            })
        };
        json_schema!({
            "description": "A condition on a claim: a scalar equal to one of `one_of`, or an array that `contains` a value. A missing claim, or one of another type, fails with claim_condition_invalid.",
            "oneOf": [
                test("one_of", serde_json::json!({"type": "array", "minItems": 1, "items": value.clone().to_value()})),
                test("contains", value.to_value())
            ]
        })
    }
}

shared_string!(
    /// A value a claim is compared with.
    ClaimValue,
    "claim_value",
    {
        "description": "A string, an integer or a boolean; compared with its type (\"1\" is not 1).",
        "type": ["string", "integer", "boolean"]
    }
);

shared_string!(
    /// A permission of `role_permissions`, as the compile step checks it.
    GrantedPermission,
    "granted_permission",
    {
        "description": "A permission string without spaces or control characters; a '*' may only end it, and then grants every permission starting with what precedes it ('*' alone grants all).",
        "type": "string",
        "pattern": "^[!-)+-~]*\\*?$",
        "minLength": 1
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_unwrapped_and_integer_formats_dropped() {
        let mut value = serde_json::json!({
            "description": "one\n  two",
            "properties": {"n": {"type": ["integer", "null"], "format": "uint64", "default": null}},
            "$defs": {"s": {"type": "string", "format": "email"}}
        });
        tidy(&mut value);
        assert_eq!(value["description"], "one two");
        assert_eq!(value["properties"]["n"].get("format"), None);
        assert_eq!(value["properties"]["n"].get("default"), None);
        assert_eq!(value["$defs"]["s"]["format"], "email");
    }
}
