//! Input rules shared by the HTTP API and the CLI, so both refuse the same things with the same
//! messages. Every function returns the normalized value or a message naming the field.

/// Passwords shorter than this are refused (NIST SP 800-63B minimum).
pub const PASSWORD_MIN: usize = 8;
/// Upper bound so that hashing cost stays bounded whatever a client sends.
pub const PASSWORD_MAX: usize = 256;

/// Tenant ids appear in URLs, tokens and metrics labels: lower-case letters, digits and `-`,
/// 1 to 63 characters, starting with a letter or digit (a DNS label).
pub fn tenant_id(field: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-');
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{field}: {value:?} is not a valid tenant id (1-63 lower-case letters, digits or '-', not starting with '-')"
        ))
    }
}

/// A deliberately plain email check: one `@`, something on each side, no spaces or controls,
/// at most 254 bytes. Case is folded so that sign-in does not depend on it.
pub fn email(field: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    let ok = v.len() <= 254
        && v.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && matches!(v.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@')
               && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(v.to_lowercase())
    } else {
        Err(format!("{field}: {value:?} is not a valid email address"))
    }
}

/// Password length in characters, checked before hashing.
pub fn password(field: &str, value: &str) -> Result<(), String> {
    let n = value.chars().count();
    if n < PASSWORD_MIN {
        Err(format!(
            "{field}: must be at least {PASSWORD_MIN} characters"
        ))
    } else if n > PASSWORD_MAX {
        Err(format!(
            "{field}: must be at most {PASSWORD_MAX} characters"
        ))
    } else {
        Ok(())
    }
}

/// Role names travel in tokens and in the filter's policy: 1 to 64 of letters, digits and
/// `: . _ -`, starting with a letter or digit.
pub fn role_name(field: &str, value: &str) -> Result<String, String> {
    if name_like(value, 64) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{field}: {value:?} is not a valid role name (1-64 letters, digits or ':._-', starting with a letter or digit)"
        ))
    }
}

/// Permission strings (the role catalog): like role names, plus `/` and `*`, up to 128.
pub fn permission(field: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-/*".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{field}: {value:?} is not a valid permission (1-128 letters, digits or ':._-/*')"
        ))
    }
}

/// Free text such as display names and descriptions: at most `max` characters, no controls.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, String> {
    if value.chars().count() > max {
        Err(format!("{field}: must be at most {max} characters"))
    } else if value.chars().any(char::is_control) {
        Err(format!("{field}: must not contain control characters"))
    } else {
        Ok(value.to_string())
    }
}

/// A subject for `mint`: any non-empty printable string up to 255 characters.
pub fn subject(field: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    text(field, value, 255)
}

fn name_like(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-".contains(&b))
}

/// Whether a URL's authority (`host`, `host:port`, `[v6]:port`) names this machine: `localhost`
/// or a loopback address. The one exception to "https only" for everything the issuer calls or
/// trusts (an IdP, a KMS endpoint) is plain http to such a host: a test server.
pub fn loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or("", |(host, _)| host),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(tenant_id("t", "acme").is_ok());
        assert!(tenant_id("t", "acme-2").is_ok());
        for bad in ["", "Acme", "-acme", "a b", "a/b", "ä", &"a".repeat(64)] {
            assert!(tenant_id("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_fold_case_and_refuse_junk() {
        assert_eq!(
            email("e", " Alice@Example.COM ").as_deref(),
            Ok("alice@example.com")
        );
        for bad in [
            "", "alice", "@x", "a@", "a@b@c", "a b@c", "a@.c", "a@c.", "a\n@c",
        ] {
            assert!(email("e", bad).is_err(), "{bad:?}");
        }
        assert!(email("e", &format!("{}@x.io", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_bounded() {
        assert!(password("p", "short").is_err());
        assert!(password("p", "long enough").is_ok());
        assert!(password("p", &"x".repeat(PASSWORD_MAX + 1)).is_err());
    }

    #[test]
    fn roles_and_permissions() {
        assert!(role_name("r", "billing:admin").is_ok());
        assert!(role_name("r", ":x").is_err());
        assert!(role_name("r", "a,b").is_err());
        assert!(permission("p", "invoices/*:read").is_ok());
        assert!(permission("p", "has space").is_err());
    }

    #[test]
    fn texts() {
        assert!(text("n", "Acme Corp", 10).is_ok());
        assert!(text("n", "Acme\u{0}", 10).is_err());
        assert!(text("n", "x".repeat(11).as_str(), 10).is_err());
        assert!(subject("s", "").is_err());
    }

    #[test]
    fn loopback_authorities() {
        for yes in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.2:9",
            "[::1]",
            "[::1]:443",
        ] {
            assert!(loopback_authority(yes), "{yes}");
        }
        for no in [
            "",
            "example.com",
            "10.0.0.1:80",
            "localhost.example",
            "[::2]:80",
            "[::1",
            "::1",
        ] {
            assert!(!loopback_authority(no), "{no}");
        }
    }
}
