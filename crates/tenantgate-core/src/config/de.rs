//! Hand-written deserialization where serde's derive would accept too much or explain too
//! little: a token source with a stray field, a path with two kinds, a requirement object with
//! an unknown or repeated key, a repeated tenant id or role.
//! The JSON shapes are exactly those of the derived types in the parent module.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{PathMatch, Requirement, TokenRequirement, TokenSource};

/// `{"type": "bearer"}`, `{"type": "header", "name": ...}`, `{"type": "cookie", "name": ...}`.
/// Serde's internally tagged derive would let `{"type": "bearer", "name": "x"}` through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTokenSource {
    #[serde(rename = "type")]
    kind: SourceKind,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    Bearer,
    Header,
    Cookie,
}

impl TryFrom<RawTokenSource> for TokenSource {
    type Error = String;

    fn try_from(raw: RawTokenSource) -> Result<TokenSource, String> {
        match (raw.kind, raw.name) {
            (SourceKind::Bearer, None) => Ok(TokenSource::Bearer),
            (SourceKind::Bearer, Some(_)) => {
                Err("a bearer source takes no `name` (it reads Authorization)".into())
            }
            (SourceKind::Header, Some(name)) => Ok(TokenSource::Header { name }),
            (SourceKind::Cookie, Some(name)) => Ok(TokenSource::Cookie { name }),
            (SourceKind::Header | SourceKind::Cookie, None) => Err("missing field `name`".into()),
        }
    }
}

/// `{"exact": ...}`, `{"prefix": ...}` or `{"glob": ...}`: exactly one key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPathMatch {
    #[serde(default)]
    exact: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    glob: Option<String>,
}

impl TryFrom<RawPathMatch> for PathMatch {
    type Error = String;

    fn try_from(raw: RawPathMatch) -> Result<PathMatch, String> {
        match (raw.exact, raw.prefix, raw.glob) {
            (Some(p), None, None) => Ok(PathMatch::Exact(p)),
            (None, Some(p), None) => Ok(PathMatch::Prefix(p)),
            (None, None, Some(p)) => Ok(PathMatch::Glob(p)),
            _ => Err("give exactly one of `exact`, `prefix` or `glob`".into()),
        }
    }
}

const REQUIREMENTS: &[&str] = &["public", "authenticated", "deny"];
/// The keys of a requirement object.
const REQUIREMENT_KEYS: &[&str] = &["roles", "permissions", "scopes", "claims"];

/// `"public"`, `"authenticated"`, `"deny"`, or an object of at least one of `roles`,
/// `permissions`, `scopes` and `claims`. `roles` alone stays [`Requirement::Roles`].
impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Requirement, D::Error> {
        struct RequirementVisitor;
        impl<'de> Visitor<'de> for RequirementVisitor {
            type Value = Requirement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"public\", \"authenticated\", \"deny\" or an object of `roles`, \
                     `permissions`, `scopes` and `claims`",
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Requirement, E> {
                match value {
                    "public" => Ok(Requirement::Public),
                    "authenticated" => Ok(Requirement::Authenticated),
                    "deny" => Ok(Requirement::Deny),
                    "roles" | "permissions" | "scopes" | "claims" => Err(E::custom(format!(
                        "`{value}` takes a value: {{\"{value}\": ...}}"
                    ))),
                    other => Err(E::unknown_variant(other, REQUIREMENTS)),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Requirement, A::Error> {
                let mut out = TokenRequirement::default();
                let mut any = false;
                while let Some(key) = map.next_key::<String>()? {
                    let duplicate = match key.as_str() {
                        "roles" => out.roles.replace(map.next_value()?).is_some(),
                        "permissions" => out.permissions.replace(map.next_value()?).is_some(),
                        "scopes" => out.scopes.replace(map.next_value()?).is_some(),
                        "claims" => out.claims.replace(map.next_value()?).is_some(),
                        _ => return Err(de::Error::unknown_field(&key, REQUIREMENT_KEYS)),
                    };
                    if duplicate {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    any = true;
                }
                if !any {
                    return Err(de::Error::custom(
                        "an empty object is not a requirement; give `roles`, `permissions`, \
                         `scopes` or `claims`",
                    ));
                }
                Ok(match out {
                    TokenRequirement {
                        roles: Some(roles),
                        permissions: None,
                        scopes: None,
                        claims: None,
                    } => Requirement::Roles(roles),
                    out => Requirement::Token(Box::new(out)),
                })
            }
        }
        deserializer.deserialize_any(RequirementVisitor)
    }
}

/// A map whose keys must be unique: serde_json would otherwise let a repeated tenant id silently
/// replace the first.
pub(super) fn unique_keys<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueKeys("tenants by id", "tenant id", PhantomData))
}

/// `role_permissions`: a repeated role is refused, not merged.
pub(super) fn unique_roles<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueKeys("permissions by role", "role", PhantomData))
}

/// `headers.claims`: a repeated header name is refused, not merged.
pub(super) fn unique_header_names<'de, D, V>(
    deserializer: D,
) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueKeys(
        "claims by header name",
        "header name",
        PhantomData,
    ))
}

/// A map visitor refusing repeated keys: what the map holds, and what one key is.
struct UniqueKeys<V>(&'static str, &'static str, PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueKeys<V> {
    type Value = BTreeMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object of {}", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate {} {key:?}", self.1)));
            }
            let value = map.next_value()?;
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// `providers[].tenant_map`: a repeated token value is refused, not merged.
pub(super) fn unique_keys_opt<'de, D, V>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer
        .deserialize_map(UniqueKeys(
            "tenant ids by token value",
            "token value",
            PhantomData,
        ))
        .map(Some)
}
