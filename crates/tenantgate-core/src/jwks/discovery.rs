//! OIDC discovery (OpenID Connect Discovery 1.0, section 4): the provider's configuration
//! document at `<issuer>/.well-known/openid-configuration`, checked, and the JWKS callout it
//! leads to.
//!
//! A discovery fetch is two callouts through the provider's cluster: the document, then its
//! `jwks_uri`. The document is trusted only as far as the cluster is: its `issuer` must equal
//! the configured one exactly (section 4.3), and `jwks_uri` must be on the issuer's own scheme
//! and authority, so that a document can never point the filter at another host (the cluster
//! reaches only the issuer's host anyway; a foreign authority would be sent to it as `:authority`).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::source::{callout_target, Callout};
use super::JwksError;
use crate::config::syntax::TENANT_PLACEHOLDER;

/// The path OIDC discovery appends to the issuer.
pub const WELL_KNOWN_PATH: &str = "/.well-known/openid-configuration";

/// A provider's discovery: its issuer, and the callout of its configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    issuer: String,
    /// The issuer's scheme and authority, normalized (see [`origin`]).
    origin: (String, String),
    document: Callout,
}

impl Discovery {
    /// The discovery of `issuer` through `cluster`. Refuses an issuer that is not an `http://`
    /// or `https://` URL, or that carries `{tenant}`, a query or a fragment; the message says why.
    pub fn new(issuer: &str, cluster: &str, timeout: Duration) -> Result<Discovery, JwksError> {
        let bad = |why: &str| JwksError::BadUri(format!("{why} (got issuer {issuer:?})"));
        if issuer.contains(TENANT_PLACEHOLDER) {
            return Err(bad(
                "discovery needs one issuer, not a template: an issuer holding {tenant} has no \
                 single discovery document; use jwks.remote with the shared JWKS URI",
            ));
        }
        if issuer.contains(['?', '#']) {
            return Err(bad(
                "discovery needs an issuer without query or fragment (OpenID Connect Discovery 1.0)",
            ));
        }
        let origin = origin(issuer).map_err(|e| {
            bad(&format!(
                "discovery needs an issuer that is an http:// or https:// URL: {e}"
            ))
        })?;
        let url = format!("{}{WELL_KNOWN_PATH}", issuer.trim_end_matches('/'));
        let (authority, path) = callout_target(&url)?;
        Ok(Discovery {
            issuer: issuer.to_owned(),
            origin,
            document: Callout {
                cluster: cluster.to_owned(),
                authority,
                path,
                timeout,
            },
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The callout that fetches the discovery document.
    pub fn document_callout(&self) -> &Callout {
        &self.document
    }

    /// The JWKS callout that the discovery response names, through the same cluster and with the
    /// same timeout; or why the response is refused. `max_bytes` caps the document.
    pub fn jwks_callout(
        &self,
        status: u32,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<Callout, DiscoveryError> {
        if status != 200 {
            return Err(DiscoveryError::HttpStatus(status));
        }
        if body.len() > max_bytes {
            return Err(DiscoveryError::TooLarge {
                size: body.len(),
                max: max_bytes,
            });
        }
        let doc = crate::token::jws::parse_object(body).ok_or(DiscoveryError::NotJson)?;
        match doc.get("issuer") {
            Some(Value::String(found)) if *found == self.issuer => {}
            found => {
                return Err(DiscoveryError::IssuerMismatch {
                    found: Some(found.map_or_else(|| "none".to_owned(), Value::to_string)),
                })
            }
        }
        let uri = match doc.get("jwks_uri") {
            Some(Value::String(uri)) => uri.as_str(),
            _ => return Err(DiscoveryError::NoJwksUri),
        };
        let bad_uri = |why: String| DiscoveryError::BadJwksUri { why: Some(why) };
        let (authority, path) = callout_target(uri).map_err(|e| bad_uri(e.to_string()))?;
        let jwks_origin = origin(uri).map_err(|e| bad_uri(format!("{e} (got {uri:?})")))?;
        if jwks_origin != self.origin {
            return Err(DiscoveryError::ForeignJwksUri {
                uri: Some(uri.to_owned()),
            });
        }
        Ok(Callout {
            cluster: self.document.cluster.clone(),
            authority,
            path,
            timeout: self.document.timeout,
        })
    }
}

/// The scheme and authority of an `http(s)` URL, lower-cased, the scheme's default port dropped:
/// what "the same host" means for `jwks_uri`.
fn origin(url: &str) -> Result<(String, String), String> {
    let (authority, _) = callout_target(url).map_err(|e| e.to_string())?;
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .unwrap_or_default();
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = match authority.strip_suffix(default_port) {
        Some(host) => host.to_owned(),
        None => authority,
    };
    Ok((scheme, authority))
}

/// Why a discovery response was refused. The last good key set is kept on every one.
///
/// The details in `Option`s are for the log of the worker that fetched; another worker that
/// adopts the failure through shared data learns the kind only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryError {
    /// The document endpoint answered with another status than 200.
    HttpStatus(u32),
    /// The document is larger than `jwks.max_response_bytes`.
    TooLarge { size: usize, max: usize },
    /// The document is not a JSON object (or repeats a member name).
    NotJson,
    /// The document's `issuer` is not the configured issuer, exactly.
    IssuerMismatch { found: Option<String> },
    /// The document has no `jwks_uri` string.
    NoJwksUri,
    /// `jwks_uri` is not an `http(s)` URL the filter can fetch.
    BadJwksUri { why: Option<String> },
    /// `jwks_uri` is on another scheme or authority than the issuer.
    ForeignJwksUri { uri: Option<String> },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = |d: &Option<String>, prefix: &str| {
            d.as_ref()
                .map_or_else(String::new, |d| format!(" ({prefix}{d})"))
        };
        match self {
            DiscoveryError::HttpStatus(status) => write!(
                f,
                "the discovery endpoint answered HTTP {status}; expected 200"
            ),
            DiscoveryError::TooLarge { size, max } => write!(
                f,
                "the discovery document has {size} bytes, more than jwks.max_response_bytes ({max})"
            ),
            DiscoveryError::NotJson => f.write_str(
                "the discovery document is not a JSON object without duplicate member names",
            ),
            DiscoveryError::IssuerMismatch { found } => write!(
                f,
                "the discovery document names another issuer than the provider's{}",
                detail(found, "issuer: ")
            ),
            DiscoveryError::NoJwksUri => {
                f.write_str("the discovery document has no \"jwks_uri\" string")
            }
            DiscoveryError::BadJwksUri { why } => write!(
                f,
                "the discovery document's jwks_uri cannot be fetched{}",
                detail(why, "")
            ),
            DiscoveryError::ForeignJwksUri { uri } => write!(
                f,
                "the discovery document's jwks_uri is on another scheme or host than the \
                 issuer, which the filter does not fetch{}",
                detail(uri, "jwks_uri: ")
            ),
        }
    }
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
