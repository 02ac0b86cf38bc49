//! Issuer templates and the per-key issuer of a shared JWKS.
//!
//! A provider's `issuer` holding `{tenant}` (Entra's
//! `https://login.microsoftonline.com/{tenant}/v2.0`) matches an `iss` that is the template
//! with one tenant value in place of `{tenant}`; that value names the token's tenant. A key of a
//! shared JWKS may carry its own `issuer` member (Entra's keys do, with `{tenantid}` in it): it
//! verifies only tokens whose `iss` it names.

use crate::config::syntax::TENANT_PLACEHOLDER;

/// The placeholder Entra puts in the `issuer` of its keys.
pub const KEY_TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Longest tenant value taken from an `iss`.
const MAX_TENANT_VALUE_LEN: usize = 128;

/// The tenant value of `iss` under `template`, or `None` when it does not match. The value is
/// 1 to 128 of `A-Z a-z 0-9 . _ -`: it cannot span path segments or carry anything a header
/// could not.
pub fn template_tenant<'i>(template: &str, iss: &'i str) -> Option<&'i str> {
    let (prefix, suffix) = template.split_once(TENANT_PLACEHOLDER)?;
    let value = iss.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    (!value.is_empty() && value.len() <= MAX_TENANT_VALUE_LEN && value.bytes().all(allowed))
        .then_some(value)
}

/// Whether a key's own `issuer` names `iss`: equal, with `{tenantid}` standing for the token's
/// tenant value (`None` when it has none, which no `{tenantid}` matches).
pub fn key_issuer_matches(key_issuer: &str, iss: &str, tenant: Option<&str>) -> bool {
    if !key_issuer.contains(KEY_TENANT_PLACEHOLDER) {
        return key_issuer == iss;
    }
    tenant.is_some_and(|tenant| key_issuer.replace(KEY_TENANT_PLACEHOLDER, tenant) == iss)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRA: &str = "https://login.microsoftonline.com/{tenant}/v2.0";
    const GUID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    #[test]
    fn templates_match_one_tenant_value() {
        let iss = format!("https://login.microsoftonline.com/{GUID}/v2.0");
        assert_eq!(template_tenant(ENTRA, &iss), Some(GUID));
        for bad in [
            "https://login.microsoftonline.com//v2.0",
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://login.microsoftonline.com/a%2fb/v2.0",
            "https://login.microsoftonline.com/a b/v2.0",
            "https://login.microsoftonline.com/x/v2.0/",
            "https://sts.windows.net/x/",
        ] {
            assert_eq!(template_tenant(ENTRA, bad), None, "{bad}");
        }
        assert_eq!(template_tenant("https://exact", "https://exact"), None);
        let long = format!("https://login.microsoftonline.com/{}/v2.0", "a".repeat(129));
        assert_eq!(template_tenant(ENTRA, &long), None);
    }

    #[test]
    fn key_issuers() {
        let key = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let iss = format!("https://login.microsoftonline.com/{GUID}/v2.0");
        assert!(key_issuer_matches(key, &iss, Some(GUID)));
        assert!(!key_issuer_matches(key, &iss, Some("other")));
        assert!(!key_issuer_matches(key, &iss, None));
        assert!(key_issuer_matches("https://a", "https://a", None));
        assert!(!key_issuer_matches("https://a", "https://b", Some(GUID)));
    }
}
