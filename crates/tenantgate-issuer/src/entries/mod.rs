//! What the signed tenant directory says about each tenant: the hosts it owns (custom domains
//! included), the values that map to it in the filter's static `tenant_map`s, and its own IdP.
//!
//! The rules ([`check`]) are the filter's: a filter refuses a whole directory for one bad entry,
//! so every entry is checked on write, including what must be unique across tenants (a host, a
//! tenant value, an IdP issuer); the database enforces the uniqueness too ([`store`]). The
//! document itself is built and signed in [`document`]; the audited operations are in [`ops`].

pub mod check;
pub mod document;
pub mod ops;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One tenant's entry of the directory, as the document carries it (empty members left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Lower-cased, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Filter provider name → values of its `tenant_map` that name this tenant (sorted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenant_values: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<Idp>,
}

/// One claim path or several, kept in the form given (`"roles"` or `["/a/roles", "b"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

/// A tenant's own IdP: the members a filter provider bound to that tenant takes from the
/// directory. The filter fixes the rest (name, tenant binding, token sources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Idp {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<Paths>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_claim: Option<Paths>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u64>,
    pub jwks: IdpJwks,
}

/// Where the IdP's keys come from: exactly one of `remote` and `discovery` (never inline keys:
/// a directory entry names a source, it does not carry key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpJwks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteJwks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryJwks>,
}

impl IdpJwks {
    /// The Envoy cluster the filter fetches the keys through.
    pub fn cluster(&self) -> Option<&str> {
        match (&self.remote, &self.discovery) {
            (Some(r), None) => Some(&r.cluster),
            (None, Some(d)) => Some(&d.cluster),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    pub cluster: String,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryJwks {
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}
