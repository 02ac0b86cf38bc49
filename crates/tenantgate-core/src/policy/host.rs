//! Request host normalization: the `:authority` as the tenant table and route rules see it.

use std::borrow::Cow;

/// Longest host name accepted (RFC 1035: 253 characters without the trailing dot).
const MAX_HOST_LEN: usize = 253;

/// Normalizes `:authority`: lower-cased, port dropped (`[v6]:port` too), one trailing dot
/// dropped. `None` for anything that is not a plain host name, IPv4 or bracketed IPv6 literal
/// (empty, user info, empty labels, stray characters, a port that is not digits); the caller
/// refuses it with `host_unknown`. Borrowed from `authority` unless it had upper case (most
/// requests: no allocation).
pub fn normalize(authority: &str) -> Option<Cow<'_, str>> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        let valid = !addr.is_empty()
            && addr.len() <= 45
            && addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid || !is_port_suffix(after) {
            return None;
        }
        // `[addr]`, the port dropped.
        return authority.get(..addr.len() + 2).map(lower);
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if is_port_suffix_digits(port) => host,
        Some(_) => return None,
        None => authority,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return None;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !labels_ok {
        return None;
    }
    Some(lower(host))
}

/// `s` in lower case, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Empty, or `:` followed by the port digits.
fn is_port_suffix(after: &str) -> bool {
    after.is_empty() || after.strip_prefix(':').is_some_and(is_port_suffix_digits)
}

/// A port as Envoy passes it: 1 to 5 digits.
fn is_port_suffix_digits(port: &str) -> bool {
    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalize() {
        let cases = [
            ("acme.example.com", "acme.example.com"),
            ("ACME.Example.COM", "acme.example.com"),
            ("acme.example.com:8443", "acme.example.com"),
            ("acme.example.com.", "acme.example.com"),
            ("acme.example.com.:443", "acme.example.com"),
            ("localhost", "localhost"),
            ("10.0.0.1:80", "10.0.0.1"),
            ("[::1]", "[::1]"),
            ("[::1]:8080", "[::1]"),
            ("[FE80::1]:80", "[fe80::1]"),
            ("my_svc.ns", "my_svc.ns"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn invalid_hosts_are_refused() {
        for raw in [
            "",
            ".",
            ":80",
            "acme.example.com:",
            "acme.example.com:http",
            "acme.example.com:123456",
            "acme.example.com..",
            "acme..example.com",
            ".acme.example.com",
            "user@acme.example.com",
            "acme.example.com/path",
            "acme example.com",
            "acme.example.com\0",
            "ac\u{e9}me.example.com",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:",
            "[::g]",
            "a:b:c",
            "*.example.com",
        ] {
            assert_eq!(normalize(raw), None, "{raw:?}");
        }
        assert_eq!(normalize(&"a".repeat(254)), None);
        assert!(normalize(&"a".repeat(253)).is_some());
    }
}
