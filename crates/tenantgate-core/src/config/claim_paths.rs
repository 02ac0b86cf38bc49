//! Where a provider's tokens carry what the filter reads: one claim path, or several whose
//! values are merged (roles from a Keycloak realm and one of its clients). A path is a
//! top-level claim name taken literally (`https://example.com/roles`, `cognito:groups`), or,
//! when it starts with `/`, an RFC 6901 JSON Pointer (`/realm_access/roles`): the rule claim
//! conditions follow.

use serde::Deserialize;

/// One claim path or a list of them, as the configuration gives it (`"roles"` or
/// `["/realm_access/roles", "/resource_access/api/roles"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawClaimPaths")]
pub struct ClaimPaths(pub Vec<String>);

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a claim path (a string) or a list of claim paths"
)]
enum RawClaimPaths {
    One(String),
    Many(Vec<String>),
}

impl From<RawClaimPaths> for ClaimPaths {
    fn from(raw: RawClaimPaths) -> Self {
        match raw {
            RawClaimPaths::One(path) => ClaimPaths(vec![path]),
            RawClaimPaths::Many(paths) => ClaimPaths(paths),
        }
    }
}

impl ClaimPaths {
    pub fn one(path: &str) -> ClaimPaths {
        ClaimPaths(vec![path.to_owned()])
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

/// A single path compares equal to its text.
impl PartialEq<&str> for ClaimPaths {
    fn eq(&self, other: &&str) -> bool {
        matches!(self.0.as_slice(), [only] if only == other)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ClaimPaths {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "claim_paths".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A claim path, or a list of them whose values are merged. A name is a top-level claim taken literally (dots and colons included); one starting with '/' is an RFC 6901 JSON Pointer.",
            "oneOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "minItems": 1, "items": { "type": "string", "minLength": 1 } }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_or_a_list() {
        let one: ClaimPaths = serde_json::from_str(r#""cognito:groups""#).expect("one");
        assert_eq!(one, "cognito:groups");
        let many: ClaimPaths =
            serde_json::from_str(r#"["/realm_access/roles", "/resource_access/api/roles"]"#)
                .expect("list");
        assert_eq!(many.0.len(), 2);
        assert_ne!(many, "/realm_access/roles");
        let err = serde_json::from_str::<ClaimPaths>("7").expect_err("a number");
        assert!(err.to_string().contains("a claim path"), "{err}");
    }
}
