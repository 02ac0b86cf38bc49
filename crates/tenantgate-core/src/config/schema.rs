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

/// Mirrors the `Deserialize` impl of `de.rs`: a word, or an object with the one key `roles`.
impl JsonSchema for Requirement {
    fn schema_name() -> Cow<'static, str> {
        "requirement".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let roles = generator.subschema_for::<super::RoleRequirement>();
        json_schema!({
            "description": "What a matched route requires.",
            "oneOf": [
                {
                    "description": "public: no token needed; authenticated: a valid token whose tenant owns the host; deny: refused whatever the token.",
                    "enum": ["public", "authenticated", "deny"]
                },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["roles"],
                    "properties": { "roles": roles }
                }
            ]
        })
    }
}

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
