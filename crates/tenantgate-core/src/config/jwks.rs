//! A provider's key source as configured: a remote JWKS, OIDC discovery, or an inline set, and
//! the refresh and backoff bounds of fetching it.

use serde::Deserialize;

// The bounds and shared shapes appear only in the schema attributes.
#[cfg(feature = "schema")]
use super::{limits, schema};

/// A provider's key set: fetched from a cluster (at a given URI, or found through OIDC
/// discovery), or given inline. Exactly one of the three.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "jwks", extend("oneOf" = [{"required": ["remote"]}, {"required": ["inline"]}, {"required": ["discovery"]}])))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwks {
    /// Fetch the key set through an Envoy cluster.
    #[serde(default)]
    pub remote: Option<RemoteJwks>,
    /// A JWKS document (`{"keys": [...]}`) inline, checked as the filter loads it: keys that are
    /// not RSA with 2048 to 8192 bits and use/alg/key_ops compatible with RS256 are skipped, and
    /// at least one must remain. JWK members are open.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<schema::InlineJwks>"))]
    pub inline: Option<serde_json::Value>,
    /// Find the key set through OIDC discovery: fetch `<issuer>/.well-known/openid-configuration`
    /// through a cluster, check its `issuer`, then fetch its `jwks_uri` (same scheme and
    /// authority as the issuer) through the same cluster, on every refresh.
    #[serde(default)]
    pub discovery: Option<DiscoveryJwks>,
    /// Refresh interval when the response has no `Cache-Control: max-age` (seconds, default 600).
    #[serde(default = "default_refresh_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::REFRESH_SECONDS.0, max = limits::REFRESH_SECONDS.1)))]
    pub refresh_default_seconds: u64,
    /// Lower clamp on the max-age (seconds, default 30).
    #[serde(default = "default_refresh_min_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::REFRESH_SECONDS.0, max = limits::REFRESH_SECONDS.1)))]
    pub refresh_min_seconds: u64,
    /// Upper clamp on the max-age (seconds, default 600).
    #[serde(default = "default_refresh_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::REFRESH_SECONDS.0, max = limits::REFRESH_SECONDS.1)))]
    pub refresh_max_seconds: u64,
    /// Largest JWKS response accepted, and with `discovery` the largest discovery document too
    /// (bytes, default 64 KiB).
    #[serde(default = "default_max_jwks_bytes")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::JWKS_RESPONSE_BYTES.0, max = limits::JWKS_RESPONSE_BYTES.1)))]
    pub max_response_bytes: usize,
    /// At most one refetch for an unknown `kid` per this many seconds (default 30).
    #[serde(default = "default_unknown_kid_refetch_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::UNKNOWN_KID_REFETCH_SECONDS.0, max = limits::UNKNOWN_KID_REFETCH_SECONDS.1)))]
    pub unknown_kid_refetch_seconds: u64,
    /// First retry delay after a failed fetch (milliseconds, default 1000); doubles up to the max.
    #[serde(default = "default_backoff_initial_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::BACKOFF_MS.0, max = limits::BACKOFF_MS.1)))]
    pub backoff_initial_ms: u64,
    /// Longest retry delay (milliseconds, default 60000).
    #[serde(default = "default_backoff_max_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::BACKOFF_MS.0, max = limits::BACKOFF_MS.1)))]
    pub backoff_max_ms: u64,
}

/// A JWKS fetched with `dispatch_http_call` through a named Envoy cluster.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "remote_jwks"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    /// The Envoy cluster the callout goes through.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub cluster: String,
    /// `http://` or `https://` URL; its authority and path become `:authority` and `:path`.
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+/[^#\s]*$"))
    )]
    pub uri: String,
    /// Callout timeout (milliseconds, default 5000).
    #[serde(default = "default_fetch_timeout_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::FETCH_TIMEOUT_MS.0, max = limits::FETCH_TIMEOUT_MS.1)))]
    pub timeout_ms: u64,
}

/// A key set found through OIDC discovery from the provider's `issuer`, which must then be an
/// `http://` or `https://` URL without `{tenant}`, query or fragment.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "discovery_jwks"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryJwks {
    /// The Envoy cluster that reaches the issuer's host; both callouts go through it.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub cluster: String,
    /// Timeout of each of the two callouts (milliseconds, default 5000).
    #[serde(default = "default_fetch_timeout_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::FETCH_TIMEOUT_MS.0, max = limits::FETCH_TIMEOUT_MS.1)))]
    pub timeout_ms: u64,
}

pub(crate) fn default_refresh_seconds() -> u64 {
    600
}

fn default_refresh_min_seconds() -> u64 {
    30
}

fn default_max_jwks_bytes() -> usize {
    64 * 1024
}

fn default_unknown_kid_refetch_seconds() -> u64 {
    30
}

fn default_backoff_initial_ms() -> u64 {
    1000
}

fn default_backoff_max_ms() -> u64 {
    60_000
}

fn default_fetch_timeout_ms() -> u64 {
    5000
}
