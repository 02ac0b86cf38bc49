//! The signed tenant directory: tenants, their hosts, their tenant-id mappings and their own
//! IdPs, fetched at run time on top of the static configuration (`directory` section).
//!
//! [`adopt`] takes the fetched bytes, the signing provider's key set, the static configuration
//! and the directory in force, and either adopts the document (the gate of static + directory,
//! and the entries dropped for colliding with static configuration) or refuses it whole, with a
//! [`DirectoryError`] naming the reason and the entry. The checks run in the contract's order:
//! size, JWS syntax and header, signature, payload shape, `iss` and `iat`, each entry, the
//! document's consistency; then the merge, compiled by the one compile step, so every check of a
//! configuration applies to the directory's part too. [`shared`] makes it one fetch per Envoy.

mod document;
mod entries;
mod merge;
pub mod shared;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::config::{Config, ConfigErrors};
use crate::denial::Denial;
use crate::gate::Gate;
use crate::jwks::keyset::{KeySet, RsaKey};

pub use document::{Entry, Idp, Payload, MAX_FUTURE_IAT_SECONDS, TYP};
pub use merge::{idp_name, Conflict, Dropped};

/// An RS256 check: key, signed bytes, signature (ring, or the host's crypto in the filter).
pub type Verifier<'a> = dyn Fn(&RsaKey, &[u8], &[u8]) -> bool + 'a;

/// Why a fetched directory was refused; the directory in force stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryError {
    /// Larger than `directory.max_bytes`; not parsed.
    TooLarge { size: usize, max: usize },
    /// Not a well-formed compact JWS.
    Malformed(String),
    /// The header's `alg` is not RS256.
    Algorithm,
    /// The header's `typ` is not `tenantgate-directory+jwt`.
    Type { typ: Option<String> },
    /// The signing provider has no key set loaded yet.
    KeysUnavailable,
    /// The signing provider's key set has no key for this `kid`.
    UnknownKey { kid: Option<String> },
    /// The signature does not verify under the key of this `kid`.
    BadSignature { kid: Option<String> },
    /// The payload's shape is wrong at `path` (a missing, unknown or mistyped member).
    Shape { path: String, message: String },
    /// `iss` is not the signing provider's issuer.
    Issuer { expected: String, got: String },
    /// `iat` is older than the directory in force's: a replay of an older document.
    Replayed { iat: u64, in_force: u64 },
    /// `iat` is older than `directory.max_age_seconds`.
    TooOld {
        iat: u64,
        max_age_seconds: u64,
        now: u64,
    },
    /// `iat` is in the future, beyond the clock skew allowed.
    IssuedInFuture { iat: u64, now: u64 },
    /// An entry is wrong on its own, at `path`.
    Entry { path: String, message: String },
    /// Two entries claim one host, tenant value or IdP issuer.
    Inconsistent { path: String, message: String },
    /// Static configuration and directory together do not compile.
    Compile(ConfigErrors),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DirectoryError as E;
        match self {
            E::TooLarge { size, max } => {
                write!(f, "{size} bytes, more than directory.max_bytes ({max})")
            }
            E::Malformed(why) => write!(f, "malformed: {why}"),
            E::Algorithm => f.write_str("the header's alg is not RS256"),
            E::Type { typ } => write!(f, "the header's typ is {typ:?}, not {TYP:?}"),
            E::KeysUnavailable => f.write_str("the signing provider's key set is not loaded yet"),
            E::UnknownKey { kid } => {
                write!(
                    f,
                    "signed by an unknown key: kid {kid:?} is not in the provider's key set"
                )
            }
            E::BadSignature { kid } => write!(f, "the signature (kid {kid:?}) does not verify"),
            E::Shape { path, message } => write!(f, "{path}: {message}"),
            E::Issuer { expected, got } => write!(f, "iss: {got:?} is not the issuer {expected:?}"),
            E::Replayed { iat, in_force } => write!(
                f,
                "iat: {iat} is older than the directory in force ({in_force}): a replayed document"
            ),
            E::TooOld {
                iat,
                max_age_seconds,
                now,
            } => write!(
                f,
                "iat: {iat} is more than directory.max_age_seconds ({max_age_seconds}) before now \
                 ({now})"
            ),
            E::IssuedInFuture { iat, now } => write!(
                f,
                "iat: {iat} is more than {MAX_FUTURE_IAT_SECONDS} seconds after now ({now})"
            ),
            E::Entry { path, message } | E::Inconsistent { path, message } => {
                write!(f, "{path}: {message}")
            }
            E::Compile(errors) => {
                write!(
                    f,
                    "static configuration and directory do not compile together: "
                )?;
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&all.join("; "))
            }
        }
    }
}

impl std::error::Error for DirectoryError {}

/// The directory in force: what the next document is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub iat: u64,
    /// Tenants of the document, and of those adopted (not dropped).
    pub tenants: usize,
    pub adopted: usize,
    /// SHA-256 of the `tenants` member as signed (canonical JSON): same digest, same merge.
    digest: [u8; 32],
}

/// A document adopted.
#[derive(Debug)]
pub struct Adoption {
    pub directory: Directory,
    /// The gate of static configuration + directory; `None` when the tenants are those in force
    /// (only `iat` moved): nothing to rebuild.
    pub gate: Option<Gate>,
    /// The entries left out, each with its reason (empty when `gate` is `None`).
    pub dropped: Vec<Dropped>,
}

/// Everything a document is checked against.
pub struct Input<'a> {
    /// The static configuration, with its `directory` section.
    pub config: &'a Config,
    /// The signing provider's key set, if loaded.
    pub keys: Option<&'a KeySet>,
    pub verify: &'a Verifier<'a>,
    pub in_force: Option<&'a Directory>,
    /// Unix seconds.
    pub now: u64,
}

/// Checks a fetched document and merges it with the static configuration.
pub fn adopt(bytes: &[u8], input: &Input<'_>) -> Result<Adoption, DirectoryError> {
    let config = input.config;
    let Some(section) = config.directory.as_ref() else {
        return Err(DirectoryError::Malformed(
            "no directory is configured".into(),
        ));
    };
    let issuer = config
        .providers
        .iter()
        .find(|p| p.name == section.provider)
        .map_or("", |p| p.issuer.as_str());
    let check = document::Check {
        max_bytes: section.max_bytes,
        keys: input.keys,
        verify: input.verify,
        issuer,
        max_age_seconds: section.max_age_seconds,
        in_force_iat: input.in_force.map(|d| d.iat),
        now: input.now,
    };
    let (payload, digest) = document::open(bytes, &check)?;
    // The tenants in force, checked and merged against this same configuration already.
    if let Some(in_force) = input.in_force.filter(|d| d.digest == digest) {
        let directory = Directory {
            iat: payload.iat,
            ..in_force.clone()
        };
        return Ok(Adoption {
            directory,
            gate: None,
            dropped: Vec::new(),
        });
    }
    let checked = entries::check(&payload.tenants, config, &section.idp_clusters)?;
    let (gate, dropped, adopted) = merge::merge(config, &checked)?;
    Ok(Adoption {
        directory: Directory {
            iat: payload.iat,
            tenants: checked.len(),
            adopted,
            digest,
        },
        gate: Some(gate),
        dropped,
    })
}

/// Whether a refusal of the static configuration is one a directory could turn into an
/// allowance (an unknown host, an untrusted issuer, an unmapped tenant value): until the first
/// directory is adopted, such a refusal would be misleading, and the filter answers
/// [`Denial::DirectoryUnavailable`] instead.
pub fn could_allow(denial: Denial) -> bool {
    matches!(
        denial,
        Denial::HostUnknown | Denial::IssuerNotTrusted | Denial::TenantUnmapped
    )
}
