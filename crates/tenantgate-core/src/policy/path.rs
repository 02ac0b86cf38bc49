//! Request path normalization. Route rules only ever see the output of [`normalize`], so a rule
//! cannot be bypassed with an encoding Envoy (with or without its own `normalize_path`) or the
//! upstream would read differently.

use crate::config::PathParameters;
use crate::denial::Denial;

/// Normalizes the request path (`:path`) for route matching.
///
/// Drops the query and fragment; decodes percent-encoded unreserved characters (ALPHA DIGIT
/// `-` `.` `_` `~`) and upper-cases the hex of the escapes it keeps; merges duplicate slashes;
/// resolves `.` and `..` segments after decoding (so `%2e%2e` counts). Raw bytes outside ASCII
/// are percent-encoded, so equal requests have one spelling.
///
/// Refused with [`Denial::PathInvalid`]: a path not starting with `/`; an encoded `/` or `\`
/// (upstreams disagree on whether it separates segments); a raw `\`; NUL, space and control
/// characters, raw or encoded; a malformed escape; a `..` that climbs above the root; and a
/// `.` or `..` segment carrying `;` parameters (`/..;/admin` is `/admin` for some servlet
/// containers).
pub fn normalize(raw: &str) -> Result<String, Denial> {
    let end = raw.find(['?', '#']).unwrap_or(raw.len());
    let path = raw.get(..end).ok_or(Denial::PathInvalid)?;
    let rest = path.strip_prefix('/').ok_or(Denial::PathInvalid)?;

    let mut out = String::with_capacity(path.len());
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let mark = out.len();
        out.push('/');
        decode_segment(segment, &mut out)?;
        let decoded = out.get(mark + 1..).unwrap_or_default();
        // The part before `;` (raw or encoded) decides whether servlet containers see a dot segment.
        let bare = decoded
            .find(';')
            .into_iter()
            .chain(decoded.find("%3B"))
            .min()
            .and_then(|at| decoded.get(..at))
            .unwrap_or(decoded);
        match decoded {
            // A duplicate slash disappears; a trailing slash stays significant.
            "" if !last => out.truncate(mark),
            "" => {}
            "." => {
                out.truncate(mark);
                if last {
                    out.push('/');
                }
            }
            ".." => {
                out.truncate(mark);
                let parent = out.rfind('/').ok_or(Denial::PathInvalid)?;
                out.truncate(parent);
                if last {
                    out.push('/');
                }
            }
            _ if bare == "." || bare == ".." => return Err(Denial::PathInvalid),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Applies `path_parameters` to a path [`normalize`] returned: what route rules match.
///
/// `Refuse`: a `;` anywhere, raw or encoded, is [`Denial::PathInvalid`]: servlet containers
/// and Spring drop `;x=1` from a segment before routing, and some decode `%3B` first, so
/// `/admin;x=1` would be `/admin` upstream but not to a rule for `/admin`. `Strip`: each
/// segment's raw `;` parameters are dropped, as those servers do, and the path normalized again
/// (`/a/;x/b` is `/a/b`); an encoded `;` stays a literal character.
pub fn segment_parameters(path: String, mode: PathParameters) -> Result<String, Denial> {
    match mode {
        PathParameters::Refuse if path.contains(';') || path.contains("%3B") => {
            Err(Denial::PathInvalid)
        }
        PathParameters::Refuse => Ok(path),
        PathParameters::Strip if !path.contains(';') => Ok(path),
        PathParameters::Strip => {
            let stripped: Vec<&str> = path
                .split('/')
                .map(|segment| segment.split(';').next().unwrap_or_default())
                .collect();
            normalize(&stripped.join("/"))
        }
    }
}

/// Appends the normalized form of one raw segment (no `/` in it) to `out`.
fn decode_segment(segment: &str, out: &mut String) -> Result<(), Denial> {
    let mut bytes = segment.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = bytes
                    .next()
                    .and_then(hex_value)
                    .ok_or(Denial::PathInvalid)?;
                let lo = bytes
                    .next()
                    .and_then(hex_value)
                    .ok_or(Denial::PathInvalid)?;
                let value = (hi << 4) | lo;
                if value == b'/' || value == b'\\' || is_refused_byte(value) {
                    return Err(Denial::PathInvalid);
                }
                if is_unreserved(value) {
                    out.push(char::from(value));
                } else {
                    push_escape(out, value);
                }
            }
            b'\\' => return Err(Denial::PathInvalid),
            _ if is_refused_byte(b) => return Err(Denial::PathInvalid),
            _ if b.is_ascii() => out.push(char::from(b)),
            _ => push_escape(out, b),
        }
    }
    Ok(())
}

/// NUL, the other control characters, space and DEL.
fn is_refused_byte(b: u8) -> bool {
    b.is_ascii_control() || b == b' '
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_paths_normalize_to_one_spelling() {
        let cases = [
            ("/", "/"),
            ("/api", "/api"),
            ("/api/", "/api/"),
            ("/api?x=1", "/api"),
            ("/api#frag", "/api"),
            ("/api?next=/../../etc", "/api"),
            ("/a//b///c", "/a/b/c"),
            ("//", "/"),
            ("//admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/../c", "/a/c"),
            ("/./", "/"),
            ("/.", "/"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2e/admin", "/admin"),
            ("/public/.%2E/admin", "/admin"),
            ("/public/%2e/admin", "/public/admin"),
            ("/a//../b", "/b"),
            ("/%61dmin", "/admin"),
            ("/%41%42%7e%5F%2D", "/AB~_-"),
            ("/a%3bb", "/a%3Bb"),
            ("/a%3Bb", "/a%3Bb"),
            ("/%25", "/%25"),
            ("/%252e%252e/admin", "/%252e%252e/admin"),
            ("/%252F", "/%252F"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a;b/c", "/a;b/c"),
            ("/...", "/..."),
            ("/..a/b", "/..a/b"),
            ("/a/*/b", "/a/*/b"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn tricks_are_refused() {
        let cases = [
            "",
            "api",
            "*",
            "http://host/api",
            "?/api",
            "/..",
            "/../admin",
            "/a/../..",
            "/a/../../",
            "/%2e%2e/admin",
            "/a/%2E%2E/%2e%2e/admin",
            "/admin%2fsecret",
            "/admin%2Fsecret",
            "/admin%5csecret",
            "/admin%5Csecret",
            "/admin\\secret",
            "/..\\admin",
            "/a\0b",
            "/a%00b",
            "/a%0ab",
            "/a%0Db",
            "/a\nb",
            "/a\rb",
            "/a\tb",
            "/a b",
            "/a%20b",
            "/a\x7fb",
            "/a%7Fb",
            "/a%",
            "/a%2",
            "/a%zz",
            "/a%g0",
            "/a%%30",
            "/public/..;/admin",
            "/public/..;x=1/admin",
            "/public/.;/admin",
            "/public/%2e%2e;/admin",
            "/public/%2e%2e%3b/admin",
        ];
        for raw in cases {
            assert_eq!(normalize(raw), Err(Denial::PathInvalid), "{raw:?}");
        }
    }

    #[test]
    fn normalization_is_idempotent() {
        for raw in [
            "/a//b/../c/%7euser/%3f?q",
            "/caf\u{e9}/%2e/x/",
            "/%41/%2a/..//z",
        ] {
            let once = normalize(raw).expect("valid");
            assert_eq!(normalize(&once).as_deref(), Ok(once.as_str()), "{raw:?}");
        }
    }
}

#[cfg(test)]
mod parameters {
    use super::*;

    fn with(mode: PathParameters, raw: &str) -> Result<String, Denial> {
        normalize(raw).and_then(|path| segment_parameters(path, mode))
    }

    #[test]
    fn refused_by_default() {
        assert_eq!(PathParameters::default(), PathParameters::Refuse);
        for raw in [
            "/admin;x=1",
            "/api/admin;jsessionid=abc/users",
            "/a;b/c",
            "/a%3bb",
            "/a%3Bb",
            "/;",
            "/public/..;/admin",
        ] {
            assert_eq!(
                with(PathParameters::Refuse, raw),
                Err(Denial::PathInvalid),
                "{raw:?}"
            );
        }
        for raw in ["/admin", "/a/b?x=1;2", "/a/b#c;d", "/%253B"] {
            assert!(with(PathParameters::Refuse, raw).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn stripped_as_servlet_containers_do() {
        let cases = [
            ("/admin;x=1", "/admin"),
            ("/api/admin;jsessionid=abc/users", "/api/admin/users"),
            ("/a;b;c/d;e", "/a/d"),
            ("/a/;x/b", "/a/b"),
            ("/a/b/;x", "/a/b/"),
            ("/;x", "/"),
            ("/a%3Bb;c", "/a%3Bb"),
            ("/admin", "/admin"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                with(PathParameters::Strip, raw).as_deref(),
                Ok(want),
                "{raw:?}"
            );
        }
        // Dot segments with parameters stay refused, whatever the mode.
        for raw in [
            "/public/..;/admin",
            "/public/.;x/admin",
            "/public/%2e%2e;/admin",
        ] {
            assert_eq!(
                with(PathParameters::Strip, raw),
                Err(Denial::PathInvalid),
                "{raw:?}"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;

    /// On arbitrary input built from the pieces attacks use: never a panic, and any accepted
    /// path is canonical: starts with `/`, no empty or dot segments inside, no decodable escape,
    /// and normalizing it again changes nothing.
    #[test]
    fn accepted_output_is_canonical() {
        let pieces = [
            "/", "//", ".", "..", "%2e", "%2E", "%2f", "%5c", "%00", "%41", "%7e", "%3b", "%25",
            ";", "a", "B", "~", "?", "#", "\\", "%", "%4", "\u{e9}", " ", "*",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..50_000 {
            let mut raw = String::from(if next(8) == 0 { "" } else { "/" });
            for _ in 0..next(10) {
                raw.push_str(pieces[next(pieces.len())]);
            }
            let Ok(out) = normalize(&raw) else { continue };
            assert!(out.starts_with('/'), "{raw:?} -> {out:?}");
            assert!(!out.contains("//"), "{raw:?} -> {out:?}");
            assert!(
                !out.contains(['?', '#', '\\', ' ', '\0']),
                "{raw:?} -> {out:?}"
            );
            let inner = out.trim_end_matches('/');
            assert!(
                inner.split('/').skip(1).all(|s| s != "." && s != ".."),
                "{raw:?} -> {out:?}"
            );
            assert!(!out.contains("%2E") && !out.contains("%41") && !out.contains("%7E"));
            assert_eq!(normalize(&out).as_deref(), Ok(out.as_str()), "{raw:?}");
        }
    }
}
