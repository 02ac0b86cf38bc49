//! Provider key sets: JWKS parsing and key selection ([`keyset`]), a provider's compiled key
//! source ([`source`]: inline keys or the callout), the fetch limits ([`policy`]), the fetch
//! lifecycle as a pure state machine driven by the glue ([`fetch`]), OIDC discovery of a key set
//! from the issuer ([`discovery`]), and one fetch per Envoy rather than per worker through the
//! host's shared data ([`shared`]).

pub mod discovery;
pub mod fetch;
pub mod keyset;
pub mod policy;
pub mod shared;
pub mod source;

use std::fmt;

pub use discovery::{Discovery, DiscoveryError};
pub use fetch::KeySetFetcher;
pub use keyset::{KeyRejection, KeySet, RsaKey};
pub use policy::FetchPolicy;
pub use source::{callout_target, Callout, CompiledJwks, JwksSource};

/// Why a key set could not be loaded or fetched. The last good key set is kept on every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// The document is not a JSON object (or repeats a member name).
    NotJson,
    /// The document has no `keys` array.
    NoKeysArray,
    /// No key of the document is usable for RS256; `first_rejection` says why the first was not.
    NoUsableKey {
        total: usize,
        first_rejection: Option<KeyRejection>,
    },
    /// The JWKS endpoint answered with another status than 200.
    HttpStatus(u32),
    /// The response body is larger than `jwks.max_response_bytes`.
    TooLarge { size: usize, max: usize },
    /// The request got no response: timeout, reset, or the cluster is unavailable.
    FetchFailed,
    /// The key set is configured inline, so nothing fetched can replace it.
    NoSource,
    /// `jwks.remote.uri` cannot be turned into a callout; the message names the URI.
    BadUri(String),
    /// The OIDC discovery document was refused (`jwks.discovery`): no JWKS was fetched.
    Discovery(DiscoveryError),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::NotJson => {
                f.write_str("the JWKS is not a JSON object without duplicate member names")
            }
            JwksError::NoKeysArray => f.write_str("the JWKS has no \"keys\" array"),
            JwksError::NoUsableKey {
                total,
                first_rejection: Some(why),
            } => write!(
                f,
                "none of the {total} keys of the JWKS is an RSA key usable for RS256 (first: {why})"
            ),
            JwksError::NoUsableKey {
                total,
                first_rejection: None,
            } => {
                write!(
                    f,
                    "none of the {total} keys of the JWKS is an RSA key usable for RS256"
                )
            }
            JwksError::HttpStatus(status) => {
                write!(f, "the JWKS endpoint answered HTTP {status}; expected 200")
            }
            JwksError::TooLarge { size, max } => write!(
                f,
                "the JWKS response has {size} bytes, more than jwks.max_response_bytes ({max})"
            ),
            JwksError::FetchFailed => f.write_str(
                "the JWKS request got no response (timeout, reset or cluster unavailable)",
            ),
            JwksError::NoSource => {
                f.write_str("the key set is configured inline (jwks.inline): it is never fetched")
            }
            // The caller prefixes the field path (`providers[i].jwks.remote.uri`).
            JwksError::BadUri(why) => f.write_str(why),
            JwksError::Discovery(why) => fmt::Display::fmt(why, f),
        }
    }
}

impl std::error::Error for JwksError {}
