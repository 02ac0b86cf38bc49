//! A provider's key source as the compile step leaves it: the inline key set, loaded, or the
//! callout that fetches the remote one, with the fetch policy. Built by [`crate::compile`] from a
//! checked configuration, so whatever consumes it has nothing left to check.

use std::time::Duration;

use super::discovery::Discovery;
use super::keyset::KeySet;
use super::policy::FetchPolicy;
use super::JwksError;

/// One provider's compiled key source.
#[derive(Debug, Clone)]
pub struct CompiledJwks {
    pub policy: FetchPolicy,
    pub source: JwksSource,
}

impl CompiledJwks {
    /// The first callout of a fetch: the key set's, or with discovery the discovery document's;
    /// `None` for an inline key set.
    pub fn callout(&self) -> Option<&Callout> {
        match &self.source {
            JwksSource::Remote(callout) => Some(callout),
            JwksSource::Discovery(discovery) => Some(discovery.document_callout()),
            JwksSource::Inline(_) => None,
        }
    }

    /// The discovery whose document names the key set's URI (`jwks.discovery`).
    pub fn discovery(&self) -> Option<&Discovery> {
        match &self.source {
            JwksSource::Discovery(discovery) => Some(discovery),
            JwksSource::Remote(_) | JwksSource::Inline(_) => None,
        }
    }
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// `jwks.inline`, loaded: configuration, never fetched nor replaced.
    Inline(KeySet),
    /// `jwks.remote`: fetched through an Envoy cluster.
    Remote(Callout),
    /// `jwks.discovery`: the discovery document, then the key set it names, both fetched
    /// through the provider's cluster on every refresh.
    Discovery(Discovery),
}

/// The HTTP callout that fetches a remote key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callout {
    /// The Envoy cluster the callout goes through.
    pub cluster: String,
    /// `:authority` of the request (the URI's host and port).
    pub authority: String,
    /// `:path` of the request, with the query if any.
    pub path: String,
    /// The host aborts the callout after this long.
    pub timeout: Duration,
}

/// Split `jwks.remote.uri` into the callout's `:authority` and `:path` (with the query, if any).
/// Accepts `http://` and `https://` only (TLS is the cluster's business); refuses user info,
/// fragments, whitespace and control characters.
pub fn callout_target(uri: &str) -> Result<(String, String), JwksError> {
    let bad = |why: &str| JwksError::BadUri(format!("{why} (got {uri:?})"));
    if !uri.is_ascii() || uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad("must be ASCII without spaces or control characters"));
    }
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("the scheme must be http or https"));
    }
    if rest.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (
            rest.get(..at).unwrap_or_default(),
            rest.get(at..).unwrap_or_default(),
        ),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("must not carry user info"));
    }
    let host = match authority.strip_prefix('[') {
        // IPv6 literal: `[addr]` or `[addr]:port`.
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 literal"))?;
            if addr.is_empty()
                || !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(bad("invalid IPv6 literal"));
            }
            check_port(after, &bad)?;
            addr
        }
        None => {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            if let Some(port) = port {
                check_port(&format!(":{port}"), &bad)?;
            }
            if !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            {
                return Err(bad("invalid host name"));
            }
            host
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Ok((authority.to_owned(), path))
}

/// `after` is empty or `:port` with a port in 1..=65535.
fn check_port(after: &str, bad: &dyn Fn(&str) -> JwksError) -> Result<(), JwksError> {
    if after.is_empty() {
        return Ok(());
    }
    let port = after
        .strip_prefix(':')
        .ok_or_else(|| bad("unexpected characters after the host"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(bad("the port must be a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callout_targets() {
        let ok = |uri: &str| callout_target(uri).expect(uri);
        assert_eq!(
            ok("https://idp.example.com/.well-known/jwks.json"),
            ("idp.example.com".into(), "/.well-known/jwks.json".into())
        );
        assert_eq!(
            ok("http://idp:8080/jwks?tenant=a"),
            ("idp:8080".into(), "/jwks?tenant=a".into())
        );
        assert_eq!(
            ok("HTTPS://idp.example.com"),
            ("idp.example.com".into(), "/".into())
        );
        assert_eq!(ok("https://idp?x=1"), ("idp".into(), "/?x=1".into()));
        assert_eq!(
            ok("http://[::1]:9000/k"),
            ("[::1]:9000".into(), "/k".into())
        );
        for bad in [
            "ftp://idp/jwks",
            "idp/jwks",
            "https:///jwks",
            "https://user:pw@idp/jwks",
            "https://idp/jwks#frag",
            "https://idp:0/jwks",
            "https://idp:99999/jwks",
            "https://idp:/jwks",
            "https://idp:+80/jwks",
            "https://id p/jwks",
            "https://idp/jw\nks",
            "https://[::1/jwks",
            "https://[]/jwks",
            "https://[::1]x/jwks",
            "https://idé/jwks",
            "",
        ] {
            let err = callout_target(bad).expect_err(bad);
            assert!(
                matches!(&err, JwksError::BadUri(msg) if msg.contains("got")),
                "{err}"
            );
        }
    }
}
