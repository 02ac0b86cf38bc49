//! Claim paths, one syntax across the configuration: a name is a top-level claim taken
//! literally (`https://example.com/roles`, `cognito:groups`), a name starting with `/` is an
//! RFC 6901 JSON Pointer (`/realm_access/roles`), as claim conditions read it
//! ([`crate::policy::requirement::lookup`]). Lists are never guessed out of objects: a list
//! held in an object is named by a pointer to it (`/st-role/v`).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::denial::Denial;
pub use crate::policy::requirement::{lookup, pointer_error};

/// The top-level claim a path reads: what verification must keep for it.
pub fn top_level(path: &str) -> Cow<'_, str> {
    match path.strip_prefix('/') {
        Some(pointer) => {
            let first = pointer.split('/').next().unwrap_or_default();
            if first.contains('~') {
                Cow::Owned(first.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(first)
            }
        }
        None => Cow::Borrowed(path),
    }
}

/// The strings of an array claim at `path`; `None` when absent. Any other shape, or an item
/// that is not a string, is a malformed claim.
pub fn string_array<'a>(
    claims: &'a Map<String, Value>,
    path: &str,
) -> Result<Option<Vec<&'a str>>, Denial> {
    match lookup(claims, path) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(Denial::ClaimInvalid))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

/// Why a configured claim path cannot be used: empty, or a malformed pointer.
pub fn path_error(path: &str) -> Option<String> {
    if path.is_empty() {
        Some("must not be empty".into())
    } else if path == "/" {
        Some("\"/\" is a JSON Pointer to the claim named \"\": name a claim".into())
    } else {
        pointer_error(path)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims() -> Map<String, Value> {
        let value = json!({
            "https://example.com/roles": ["admin"],
            "cognito:groups": ["ops"],
            "realm_access": {"roles": ["viewer"]},
            "resource_access": {"api": {"roles": ["editor"]}},
            "st-role": {"v": ["admin"], "t": 1_700_000_000},
            "a/b": {"c~d": ["x"]},
            "firebase": {"tenant": "acme-x1"},
            "scope": "read write",
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn literal_names_and_pointers() {
        let c = claims();
        let read = |path| string_array(&c, path);
        assert_eq!(read("https://example.com/roles"), Ok(Some(vec!["admin"])));
        assert_eq!(read("cognito:groups"), Ok(Some(vec!["ops"])));
        assert_eq!(read("/realm_access/roles"), Ok(Some(vec!["viewer"])));
        assert_eq!(read("/resource_access/api/roles"), Ok(Some(vec!["editor"])));
        assert_eq!(read("/st-role/v"), Ok(Some(vec!["admin"])));
        assert_eq!(read("/a~1b/c~0d"), Ok(Some(vec!["x"])));
        assert_eq!(read("/realm_access/missing"), Ok(None));
        // The object itself is not a list: the pointer must name it.
        assert_eq!(read("st-role"), Err(Denial::ClaimInvalid));
        assert_eq!(read("scope"), Err(Denial::ClaimInvalid));
        assert_eq!(lookup(&c, "/firebase/tenant"), Some(&json!("acme-x1")));
    }

    #[test]
    fn top_level_members() {
        assert_eq!(top_level("perms"), "perms");
        assert_eq!(
            top_level("https://example.com/roles"),
            "https://example.com/roles"
        );
        assert_eq!(top_level("/realm_access/roles"), "realm_access");
        assert_eq!(top_level("/a~1b/c"), "a/b");
        assert_eq!(top_level("/st-role/v"), "st-role");
    }

    #[test]
    fn path_errors() {
        assert!(path_error("").is_some());
        assert!(path_error("/").is_some());
        assert!(path_error("/a~2").is_some());
        assert!(path_error("/a~1b").is_none());
        assert!(path_error("cognito:groups").is_none());
    }
}
