//! `directory`: tenants, their hosts, tenant-id mappings and own IdPs fetched at run time from a
//! signed document (see `crate::directory`), on top of the static configuration. Checked by
//! `compile::directory`.

use serde::Deserialize;

#[cfg(feature = "schema")]
use super::limits;

/// Where the signed tenant directory comes from, who signs it, and how it is refreshed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "directory"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    /// The name of the provider that signs the directory: its key set verifies the signature and
    /// its `issuer` must be the document's `iss` (an exact issuer, not a template).
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$")))]
    pub provider: String,
    /// The callout that fetches the document.
    pub remote: DirectoryRemote,
    /// Seconds between two fetches (default 60). A failed fetch is retried sooner, with backoff
    /// from one second up to this interval.
    #[serde(default = "default_refresh_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::DIRECTORY_REFRESH_SECONDS.0, max = limits::DIRECTORY_REFRESH_SECONDS.1)))]
    pub refresh_seconds: u64,
    /// Largest document accepted, in bytes (default 4 MiB); a larger one is refused unread.
    #[serde(default = "default_max_bytes")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::DIRECTORY_BYTES.0, max = limits::DIRECTORY_BYTES.1)))]
    pub max_bytes: usize,
    /// A document whose `iat` is older than this many seconds is refused (default 86400).
    #[serde(default = "default_max_age_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::DIRECTORY_MAX_AGE_SECONDS.0, max = limits::DIRECTORY_MAX_AGE_SECONDS.1)))]
    pub max_age_seconds: u64,
    /// The Envoy clusters a directory tenant's own IdP may fetch its keys through. Empty
    /// (default): the directory cannot add IdPs.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true), inner(length(min = 1))))]
    pub idp_clusters: Vec<String>,
}

/// The directory's callout through a named Envoy cluster.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "directory_remote"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryRemote {
    /// The Envoy cluster the callout goes through.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub cluster: String,
    /// `http://` or `https://` URL of the document; its authority and path become `:authority`
    /// and `:path`.
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+/[^#\s]*$"))
    )]
    pub uri: String,
    /// Callout timeout (milliseconds, default 5000).
    #[serde(default = "default_timeout_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::FETCH_TIMEOUT_MS.0, max = limits::FETCH_TIMEOUT_MS.1)))]
    pub timeout_ms: u64,
}

fn default_refresh_seconds() -> u64 {
    60
}

fn default_max_bytes() -> usize {
    4 * 1024 * 1024
}

fn default_max_age_seconds() -> u64 {
    86_400
}

fn default_timeout_ms() -> u64 {
    5000
}
