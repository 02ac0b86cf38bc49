//! Finding exactly one credential in the request.
//!
//! Sources are the provider's configured [`TokenSource`]s: `Authorization: Bearer` (scheme
//! case-insensitive, RFC 7235 section 2.1), a named header, or a named cookie. The query string is
//! never a source: URLs end up in access logs. More than one credential, from the same source or
//! from different ones, is refused (RFC 6750 section 2): which one would the client have meant?

use crate::config::TokenSource;
use crate::denial::Denial;

/// The one credential found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted<'a> {
    pub token: &'a str,
    pub source: TokenSource,
}

/// The one credential of a request, found but not yet checked: its characters may not be
/// token68, it may be empty or over the size cap. [`check`] tells; the gate first asks the
/// verified-token cache with it, which holds only [`Checked`] tokens, so that a hit (a string
/// byte-identical to one that passed every check) skips the character scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    /// The credential as sent, after the scheme, spaces and cookie quotes.
    pub raw: &'a str,
    pub source: TokenSource,
}

/// A credential that passed every check of [`check`]: non-empty token68 within the size cap.
/// Only [`check`] makes one, so that whatever is keyed on it (the cache) holds checked tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked<'a>(&'a str);

impl<'a> Checked<'a> {
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Find the credential among `headers` (lower-case names; a name may repeat).
///
/// `Ok(None)`: no credential at all. Refusals: [`Denial::TokenMultiple`] for two or more,
/// [`Denial::TokenTooLarge`] over `max_bytes`, [`Denial::TokenMalformed`] for a value that is
/// empty or not token68 (RFC 7235) where the source is unambiguous.
pub fn extract<'a>(
    sources: &[TokenSource],
    headers: &[(&'a str, &'a str)],
    max_bytes: usize,
) -> Result<Option<Extracted<'a>>, Denial> {
    let Some(found) = find(sources, headers)? else {
        return Ok(None);
    };
    let token = check(found.raw, max_bytes)?.as_str();
    Ok(Some(Extracted {
        token,
        source: found.source,
    }))
}

/// The first half of [`extract`]: the one credential, with `TokenMultiple` for two or more
/// (also when one of them is unusable, and for a comma: a folded header line), unchecked
/// otherwise. [`check`] on its `raw` gives every other refusal, in [`extract`]'s order.
pub fn find<'a>(
    sources: &[TokenSource],
    headers: &[(&'a str, &'a str)],
) -> Result<Option<Found<'a>>, Denial> {
    let mut found: Option<(&'a str, usize)> = None;
    for (index, source) in sources.iter().enumerate() {
        // The same source listed twice (several providers share it) must not count twice.
        if sources
            .get(..index)
            .is_some_and(|earlier| earlier.contains(source))
        {
            continue;
        }
        for_each_candidate(source, headers, |candidate| {
            if found.is_some() {
                return Err(Denial::TokenMultiple);
            }
            found = Some((candidate, index));
            Ok(())
        })?;
    }
    let Some((raw, index)) = found else {
        return Ok(None);
    };
    let source = sources.get(index).cloned().unwrap_or(TokenSource::Bearer);
    Ok(Some(Found { raw, source }))
}

/// The second half of [`extract`]: a found credential is token68 (a comma in it is
/// `TokenMultiple`, anything else not token68 or empty `TokenMalformed`), then within
/// `max_bytes` (`TokenTooLarge`).
pub fn check(raw: &str, max_bytes: usize) -> Result<Checked<'_>, Denial> {
    let token = token68(raw)?;
    if token.len() > max_bytes {
        return Err(Denial::TokenTooLarge);
    }
    Ok(Checked(token))
}

/// Call `f` with every credential `source` finds in `headers`, unchecked (an unusable one
/// counts too, so that a second credential still yields `TokenMultiple`).
fn for_each_candidate<'a>(
    source: &TokenSource,
    headers: &[(&'a str, &'a str)],
    mut f: impl FnMut(&'a str) -> Result<(), Denial>,
) -> Result<(), Denial> {
    match source {
        TokenSource::Bearer => {
            for &(name, value) in headers {
                if name != "authorization" {
                    continue;
                }
                if let Some(rest) = strip_bearer_scheme(value) {
                    f(rest)?;
                }
            }
        }
        TokenSource::Header { name: wanted } => {
            for &(name, value) in headers {
                if name.eq_ignore_ascii_case(wanted) {
                    f(value.trim_matches(is_ows))?;
                }
            }
        }
        TokenSource::Cookie { name: wanted } => {
            for &(name, value) in headers {
                if name != "cookie" {
                    continue;
                }
                // RFC 6265 section 4.2.1: `name=value` pairs separated by `; `. Cookie names are
                // case-sensitive.
                for pair in value.split(';') {
                    let pair = pair.trim_matches(is_ows);
                    let Some((cookie_name, cookie_value)) = pair.split_once('=') else {
                        continue;
                    };
                    if cookie_name.trim_matches(is_ows) != wanted {
                        continue;
                    }
                    let cookie_value = cookie_value.trim_matches(is_ows);
                    let unquoted = cookie_value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(cookie_value);
                    f(unquoted)?;
                }
            }
        }
    }
    Ok(())
}

/// The credentials after a case-insensitive `Bearer` scheme and at least one space, or `None`
/// for another scheme (`Basic ...` is not a bearer credential).
fn strip_bearer_scheme(value: &str) -> Option<&str> {
    let value = value.trim_matches(is_ows);
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = value.get(6..)?;
    if rest.is_empty() {
        // `Authorization: Bearer` with nothing after it: the client tried, and sent nothing.
        return Some(rest);
    }
    let trimmed = rest.trim_start_matches(is_ows);
    if trimmed.len() == rest.len() {
        // `Bearerx...`: another scheme whose name starts with "bearer".
        return None;
    }
    Some(trimmed)
}

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// A comma means a proxy folded two header lines into one: two credentials.
fn token68(value: &str) -> Result<&str, Denial> {
    if value.is_empty() {
        return Err(Denial::TokenMalformed);
    }
    let body = value.trim_end_matches('=');
    if body.is_empty() {
        return Err(Denial::TokenMalformed);
    }
    for b in body.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'+' | b'/' => {}
            b',' => return Err(Denial::TokenMultiple),
            _ => return Err(Denial::TokenMalformed),
        }
    }
    Ok(value)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 8 * 1024;

    fn bearer() -> Vec<TokenSource> {
        vec![TokenSource::Bearer]
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let value = format!("{scheme} abc.def.ghi");
            let headers = [("authorization", value.as_str())];
            let got = extract(&bearer(), &headers, MAX)
                .expect("accepted")
                .expect("found");
            assert_eq!(got.token, "abc.def.ghi");
            assert_eq!(got.source, TokenSource::Bearer);
        }
    }

    #[test]
    fn extra_spaces_are_tolerated() {
        let headers = [("authorization", "  Bearer   abc.def.ghi  ")];
        let got = extract(&bearer(), &headers, MAX)
            .expect("accepted")
            .expect("found");
        assert_eq!(got.token, "abc.def.ghi");
    }

    #[test]
    fn other_schemes_are_not_credentials() {
        for value in ["Basic dXNlcjpwYXNz", "Bearerabc.def.ghi", "Bear", ""] {
            let headers = [("authorization", value)];
            assert_eq!(extract(&bearer(), &headers, MAX), Ok(None), "{value}");
        }
        let headers = [("x-other", "Bearer abc")];
        assert_eq!(extract(&bearer(), &headers, MAX), Ok(None));
    }

    #[test]
    fn no_headers_means_no_credential() {
        assert_eq!(extract(&bearer(), &[], MAX), Ok(None));
        assert_eq!(
            extract(&[], &[("authorization", "Bearer a.b.c")], MAX),
            Ok(None)
        );
    }

    #[test]
    fn empty_or_invalid_bearer_is_malformed() {
        for value in [
            "Bearer",
            "Bearer   ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ===",
            "Bearer a=b",
        ] {
            let headers = [("authorization", value)];
            assert_eq!(
                extract(&bearer(), &headers, MAX),
                Err(Denial::TokenMalformed),
                "{value}"
            );
        }
    }

    #[test]
    fn padding_is_allowed_by_token68() {
        let headers = [("authorization", "Bearer abc==")];
        assert_eq!(
            extract(&bearer(), &headers, MAX)
                .expect("ok")
                .expect("found")
                .token,
            "abc=="
        );
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let headers = [
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer d.e.f"),
        ];
        assert_eq!(
            extract(&bearer(), &headers, MAX),
            Err(Denial::TokenMultiple)
        );
        // Even when the second is unusable: the client still sent two.
        let headers = [
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer "),
        ];
        assert_eq!(
            extract(&bearer(), &headers, MAX),
            Err(Denial::TokenMultiple)
        );
        let headers = [
            ("authorization", "Bearer "),
            ("authorization", "Bearer a.b.c"),
        ];
        assert_eq!(
            extract(&bearer(), &headers, MAX),
            Err(Denial::TokenMultiple)
        );
    }

    #[test]
    fn folded_authorization_header_is_multiple() {
        let headers = [("authorization", "Bearer a.b.c, Bearer d.e.f")];
        assert_eq!(
            extract(&bearer(), &headers, MAX),
            Err(Denial::TokenMultiple)
        );
    }

    #[test]
    fn size_cap_is_enforced() {
        let token = "a".repeat(100);
        let value = format!("Bearer {token}");
        let headers = [("authorization", value.as_str())];
        assert_eq!(
            extract(&bearer(), &headers, 100)
                .expect("ok")
                .expect("found")
                .token
                .len(),
            100
        );
        assert_eq!(extract(&bearer(), &headers, 99), Err(Denial::TokenTooLarge));
    }

    #[test]
    fn named_header_source() {
        let sources = vec![TokenSource::Header {
            name: "X-Token".into(),
        }];
        let headers = [("x-token", " a.b.c ")];
        let got = extract(&sources, &headers, MAX)
            .expect("ok")
            .expect("found");
        assert_eq!(got.token, "a.b.c");
        assert_eq!(got.source, sources[0]);
        // The bearer header is not a source unless configured.
        assert_eq!(
            extract(&sources, &[("authorization", "Bearer a.b.c")], MAX),
            Ok(None)
        );
    }

    #[test]
    fn cookie_source() {
        let sources = vec![TokenSource::Cookie {
            name: "session".into(),
        }];
        let headers = [("cookie", "theme=dark; session=a.b.c; lang=en")];
        assert_eq!(
            extract(&sources, &headers, MAX)
                .expect("ok")
                .expect("found")
                .token,
            "a.b.c"
        );
        let headers = [("cookie", "session=\"a.b.c\"")];
        assert_eq!(
            extract(&sources, &headers, MAX)
                .expect("ok")
                .expect("found")
                .token,
            "a.b.c"
        );
        // Cookie names are case-sensitive.
        let headers = [("cookie", "Session=a.b.c")];
        assert_eq!(extract(&sources, &headers, MAX), Ok(None));
        // Two cookies of that name, in one header line or two.
        let headers = [("cookie", "session=a.b.c; session=d.e.f")];
        assert_eq!(extract(&sources, &headers, MAX), Err(Denial::TokenMultiple));
        let headers = [("cookie", "session=a.b.c"), ("cookie", "session=d.e.f")];
        assert_eq!(extract(&sources, &headers, MAX), Err(Denial::TokenMultiple));
    }

    #[test]
    fn credentials_from_two_sources_are_multiple() {
        let sources = vec![
            TokenSource::Bearer,
            TokenSource::Cookie { name: "at".into() },
        ];
        let headers = [("authorization", "Bearer a.b.c"), ("cookie", "at=a.b.c")];
        assert_eq!(extract(&sources, &headers, MAX), Err(Denial::TokenMultiple));
        let headers = [("cookie", "at=a.b.c")];
        let got = extract(&sources, &headers, MAX)
            .expect("ok")
            .expect("found");
        assert_eq!(got.source, TokenSource::Cookie { name: "at".into() });
    }

    #[test]
    fn a_source_listed_twice_counts_once() {
        let sources = vec![TokenSource::Bearer, TokenSource::Bearer];
        let headers = [("authorization", "Bearer a.b.c")];
        assert_eq!(
            extract(&sources, &headers, MAX)
                .expect("ok")
                .expect("found")
                .token,
            "a.b.c"
        );
    }

    #[test]
    fn query_string_is_never_a_source() {
        let headers = [(":path", "/api?access_token=a.b.c")];
        assert_eq!(extract(&bearer(), &headers, MAX), Ok(None));
    }

    #[test]
    fn non_ascii_never_panics() {
        for value in ["Bé", "Beareré", "é", "Bearer é", "Bearer\u{00a0}x"] {
            let headers = [("authorization", value)];
            let _ = extract(&bearer(), &headers, MAX);
        }
    }
}
