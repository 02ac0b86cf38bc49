//! The headers the filter forwards upstream: which client-sent names could pass for them, and
//! how a claim's value is written into one.
//!
//! Frameworks fold header names before the application reads them: CGI and WSGI turn `-` into
//! `_` (so `x_tenant_id` and `x-tenant-id` both become `HTTP_X_TENANT_ID`), and names are
//! case-insensitive everywhere. A client copy under any folded spelling of a forwarded header
//! must go, or the application may read it beside, or instead of, the verified one.

use serde_json::Value;

use crate::denial::Denial;

/// The separator of a forwarded list claim's items (as in the roles header).
pub const LIST_SEPARATOR: char = ',';

/// Whether two header names are one name after folding case and `_` to `-`.
pub fn same_after_folding(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

fn fold(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// The header value for a claim forwarded by `headers.claims`: `None` sets no header (the
/// claim is absent, null, or an empty list).
///
/// Strings go as they are, numbers and booleans as their JSON text, arrays of strings joined
/// with `,`. Refused with [`Denial::ClaimNotForwardable`]: objects, arrays with anything but
/// non-empty strings, a `,` inside a list item (the upstream could not split the list back),
/// and control characters anywhere (CR/LF would split the header, NUL truncate it).
pub fn claim_value(value: Option<&Value>) -> Result<Option<String>, Denial> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() && !s.contains(LIST_SEPARATOR) => {
                        parts.push(s.as_str());
                    }
                    _ => return Err(Denial::ClaimNotForwardable),
                }
            }
            if parts.is_empty() {
                return Ok(None);
            }
            parts.join(",")
        }
        Some(Value::Object(_)) => return Err(Denial::ClaimNotForwardable),
    };
    if text.chars().any(char::is_control) {
        return Err(Denial::ClaimNotForwardable);
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_fold_case_and_underscores() {
        assert!(same_after_folding("x-tenant-id", "x-tenant-id"));
        assert!(same_after_folding("x_tenant_id", "x-tenant-id"));
        assert!(same_after_folding("X_Tenant-ID", "x-tenant-id"));
        assert!(same_after_folding("x-plan", "x_plan"));
        assert!(!same_after_folding("x-tenant-id", "x-tenant-ids"));
        assert!(!same_after_folding("x-tenant.id", "x-tenant-id"));
        assert!(!same_after_folding("xtenantid", "x-tenant-id"));
    }

    #[test]
    fn claim_values_as_documented() {
        let ok = [
            (json!("pro"), Some("pro")),
            (json!("a, b"), Some("a, b")),
            (json!("caf\u{e9}"), Some("caf\u{e9}")),
            (json!(""), Some("")),
            (json!(42), Some("42")),
            (json!(-1.5), Some("-1.5")),
            (json!(true), Some("true")),
            (json!(false), Some("false")),
            (json!(["sso", "audit"]), Some("sso,audit")),
            (json!(["one"]), Some("one")),
            (json!([]), None),
            (json!(null), None),
        ];
        for (value, want) in ok {
            assert_eq!(
                claim_value(Some(&value)),
                Ok(want.map(str::to_string)),
                "{value}"
            );
        }
        assert_eq!(claim_value(None), Ok(None));
    }

    #[test]
    fn hostile_claim_values_are_refused() {
        for value in [
            json!("pro\r\nx-tenant-id: globex"),
            json!("a\nb"),
            json!("nul\u{0}"),
            json!("c1\u{85}"),
            json!("tab\t"),
            json!(["a,b"]),
            json!(["ok", "x\ny"]),
            json!(["a", ""]),
            json!(["a", 1]),
            json!([["a"]]),
            json!({"a": "b"}),
            json!([{"a": "b"}]),
        ] {
            assert_eq!(
                claim_value(Some(&value)),
                Err(Denial::ClaimNotForwardable),
                "{value}"
            );
        }
    }
}
