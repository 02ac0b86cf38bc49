//! Syntax of the names the configuration carries: tenant ids, provider names, HTTP tokens,
//! DNS names and host templates. The compile step checks names with these and the policy matches
//! with what they return, so a name that compiles is a name the policy can match.

/// Longest tenant id: it must fit a DNS label, since host templates put it in one.
pub const MAX_TENANT_ID_LEN: usize = 63;
/// Longest provider name (it appears in metric names).
pub const MAX_PROVIDER_NAME_LEN: usize = 64;
/// The placeholder of a host template.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// `[a-z0-9][a-z0-9_-]*`, at most 63 characters: safe as a DNS label and in a header value.
pub fn is_tenant_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first_ok
        && id.len() <= MAX_TENANT_ID_LEN
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `[a-z0-9_-]+`, at most 64 characters.
pub fn is_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PROVIDER_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An RFC 9110 `token` (header field names, methods, cookie names).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Checks a host name from the configuration and returns it normalized (lower case, without
/// one trailing dot). Labels of letters, digits, `-` and `_`, 1 to 63 characters, not starting
/// or ending with `-`; at most 253 characters. Ports and wildcards are refused with a message
/// saying why.
pub fn dns_name(host: &str) -> Result<String, String> {
    if host.contains(':') {
        return Err(format!(
            "{host:?} is not a host name: hosts carry no port (the request's port is ignored)"
        ));
    }
    if host.contains('*') {
        return Err(format!(
            "{host:?} is not a host name: wildcards are not supported, use host_templates"
        ));
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(format!(
            "{host:?} is not a host name: it must have 1 to 253 characters"
        ));
    }
    for label in trimmed.split('.') {
        check_dns_label(label).map_err(|why| format!("{host:?} is not a host name: {why}"))?;
    }
    Ok(trimmed.to_ascii_lowercase())
}

fn check_dns_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err("each dot-separated label must have 1 to 63 characters".into());
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "label {label:?} may only contain letters, digits, '-' and '_'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} must not start or end with '-'"));
    }
    Ok(())
}

/// A parsed host template: the host is `prefix`, then the tenant id as one label, then `suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTemplate {
    /// Lower-cased labels before the placeholder, each followed by `.` (often empty).
    pub prefix: String,
    /// Lower-cased labels after the placeholder, each preceded by `.` (often `.app.example.com`).
    pub suffix: String,
}

impl HostTemplate {
    /// Parses `{tenant}.app.example.com`: exactly one `{tenant}`, as a whole label, and at least
    /// one other label, all valid DNS labels.
    pub fn parse(template: &str) -> Result<HostTemplate, String> {
        let count = template.matches(TENANT_PLACEHOLDER).count();
        if count != 1 {
            return Err(format!(
                "{template:?} must contain {TENANT_PLACEHOLDER} exactly once (found {count})"
            ));
        }
        let trimmed = template.strip_suffix('.').unwrap_or(template);
        let labels: Vec<&str> = trimmed.split('.').collect();
        if labels.len() < 2 {
            return Err(format!(
                "{template:?} needs at least one label besides {TENANT_PLACEHOLDER}, e.g. {{tenant}}.app.example.com"
            ));
        }
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut seen = false;
        for label in labels {
            if label == TENANT_PLACEHOLDER {
                seen = true;
                continue;
            }
            if label.contains(TENANT_PLACEHOLDER) {
                return Err(format!(
                    "{template:?}: {TENANT_PLACEHOLDER} must be a whole label, not part of {label:?}"
                ));
            }
            if label.contains(':') {
                return Err(format!(
                    "{template:?}: host templates carry no port (the request's port is ignored)"
                ));
            }
            check_dns_label(label).map_err(|why| format!("{template:?}: {why}"))?;
            if seen {
                suffix.push('.');
                suffix.push_str(&label.to_ascii_lowercase());
            } else {
                prefix.push_str(&label.to_ascii_lowercase());
                prefix.push('.');
            }
        }
        if prefix.len() + suffix.len() + MAX_TENANT_ID_LEN > 253 {
            return Err(format!("{template:?} is too long for a host name"));
        }
        Ok(HostTemplate { prefix, suffix })
    }

    /// The tenant label of a normalized host, when the host has this template's shape and the
    /// label is a valid tenant id.
    pub fn tenant_of<'h>(&self, host: &'h str) -> Option<&'h str> {
        let label = host
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        is_tenant_id(label).then_some(label)
    }

    /// The host this template gives a tenant.
    pub fn host_for(&self, tenant: &str) -> String {
        format!("{}{}{}", self.prefix, tenant, self.suffix)
    }

    /// Labels with `None` for the placeholder, for overlap checks.
    pub fn labels(&self) -> Vec<Option<&str>> {
        let before = self.prefix.split_terminator('.').map(Some);
        let after = self.suffix.split('.').skip(1).map(Some);
        before.chain(std::iter::once(None)).chain(after).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["acme", "a", "0", "acme-eu_1", &"a".repeat(63)] {
            assert!(is_tenant_id(ok), "{ok:?}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "_acme",
            "ac.me",
            "ac me",
            "acme/x",
            "{tenant}",
            "acmé",
            &"a".repeat(64),
        ] {
            assert!(!is_tenant_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn provider_names_and_tokens() {
        assert!(is_provider_name("corp-idp_2"));
        assert!(!is_provider_name("Corp"));
        assert!(!is_provider_name(""));
        assert!(is_token("x-api-token"));
        assert!(is_token("GET"));
        assert!(!is_token(""));
        assert!(!is_token(":authority"));
        assert!(!is_token("x token"));
        assert!(!is_token("x\u{e9}"));
    }

    #[test]
    fn dns_names() {
        assert_eq!(dns_name("API.Example.com."), Ok("api.example.com".into()));
        assert_eq!(dns_name("10.0.0.1"), Ok("10.0.0.1".into()));
        for bad in [
            "",
            ".",
            "a..b",
            "example.com:443",
            "*.example.com",
            "-a.example.com",
            "a-.example.com",
            "a b.com",
            "ex\u{e4}mple.com",
        ] {
            assert!(dns_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_templates() {
        let t = HostTemplate::parse("{tenant}.App.example.com").expect("valid");
        assert_eq!(t.prefix, "");
        assert_eq!(t.suffix, ".app.example.com");
        assert_eq!(t.tenant_of("acme.app.example.com"), Some("acme"));
        assert_eq!(t.tenant_of("app.example.com"), None);
        assert_eq!(t.tenant_of(".app.example.com"), None);
        assert_eq!(t.tenant_of("a.b.app.example.com"), None);
        assert_eq!(t.tenant_of("Acme.app.example.com"), None);
        assert_eq!(t.host_for("acme"), "acme.app.example.com");
        assert_eq!(
            t.labels(),
            vec![None, Some("app"), Some("example"), Some("com")]
        );

        let mid = HostTemplate::parse("api.{tenant}.example.com").expect("valid");
        assert_eq!(mid.prefix, "api.");
        assert_eq!(mid.tenant_of("api.acme.example.com"), Some("acme"));
        assert_eq!(
            mid.labels(),
            vec![Some("api"), None, Some("example"), Some("com")]
        );

        for bad in [
            "app.example.com",
            "{tenant}",
            "{tenant}.{tenant}.example.com",
            "x{tenant}.example.com",
            "{tenant}-eu.example.com",
            "{tenant}.example.com:8443",
            "{tenant}..example.com",
            "{tenant}.exa mple.com",
        ] {
            assert!(HostTemplate::parse(bad).is_err(), "{bad:?}");
        }
    }
}
