//! The directory document: a compact JWS (`typ` `tenantgate-directory+jwt`, RS256) whose payload
//! is `{"iss", "iat", "tenants": {id: entry}}`. Checked here in the contract's order: size, JWS
//! syntax and header, signature, payload shape, `iss` and `iat`. Unknown members are refused at
//! every level, so a typo in the issuer's data is caught rather than ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{DirectoryError, Verifier};
use crate::config::{ClaimPaths, Jwks};
use crate::denial::Denial;
use crate::jwks::keyset::KeySet;
use crate::token::jws;

/// The `typ` of a directory (compared without regard to case): never that of an access token.
pub const TYP: &str = "tenantgate-directory+jwt";

/// How far in the future a directory's `iat` may be (clock skew between issuer and filter):
/// a document from further ahead would block every later one until then.
pub const MAX_FUTURE_IAT_SECONDS: u64 = 300;

/// The payload, as signed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub iss: String,
    pub iat: u64,
    pub tenants: BTreeMap<String, Entry>,
}

/// One tenant of the directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Hosts this tenant owns (custom domains included).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Static provider name → values its `tenant_map` maps to this tenant.
    #[serde(default)]
    pub tenant_values: BTreeMap<String, Vec<String>>,
    /// The tenant's own IdP, bound to it.
    #[serde(default)]
    pub idp: Option<Idp>,
}

/// A tenant's own IdP: the members of a static provider that the directory may set. `name`,
/// `tenant`, `tenant_claim`, `tenant_map` and `token_sources` are the filter's to fix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Idp {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub audience_claim: Option<String>,
    #[serde(default)]
    pub roles_claim: Option<ClaimPaths>,
    #[serde(default)]
    pub permissions_claim: Option<String>,
    #[serde(default)]
    pub subject_claim: Option<String>,
    #[serde(default)]
    pub scopes_claim: Option<ClaimPaths>,
    #[serde(default)]
    pub max_lifetime_seconds: Option<u64>,
    #[serde(default)]
    pub clock_skew_seconds: Option<u64>,
    pub jwks: Jwks,
}

/// What the caller knows to check a document against.
pub(super) struct Check<'a> {
    pub max_bytes: usize,
    pub keys: Option<&'a KeySet>,
    pub verify: &'a Verifier<'a>,
    pub issuer: &'a str,
    pub max_age_seconds: u64,
    /// `iat` of the directory in force.
    pub in_force_iat: Option<u64>,
    pub now: u64,
}

/// Steps 1 to 5: the payload of a document that is the right size, well formed, signed by the
/// provider's key, of the right shape, from its issuer and current. Also returns the SHA-256 of
/// the `tenants` member as signed (canonical JSON), to compare documents.
pub(super) fn open(bytes: &[u8], check: &Check<'_>) -> Result<(Payload, [u8; 32]), DirectoryError> {
    if bytes.len() > check.max_bytes {
        return Err(DirectoryError::TooLarge {
            size: bytes.len(),
            max: check.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DirectoryError::Malformed("the document is not UTF-8 text".into()))?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let token = jws::parse(text).map_err(|denial| match denial {
        Denial::AlgorithmNotAllowed => DirectoryError::Algorithm,
        Denial::CriticalHeaderUnsupported => {
            DirectoryError::Malformed("the header has a `crit` member".into())
        }
        _ => DirectoryError::Malformed(
            "not a compact JWS: three base64url segments, header and payload JSON objects \
             without duplicate members"
                .into(),
        ),
    })?;
    if !token
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(TYP))
    {
        return Err(DirectoryError::Type { typ: token.typ });
    }
    let keys = check.keys.ok_or(DirectoryError::KeysUnavailable)?;
    let Some(key) = keys.find(token.kid.as_deref()) else {
        return Err(DirectoryError::UnknownKey { kid: token.kid });
    };
    if !(check.verify)(key, token.signing_input.as_bytes(), &token.signature) {
        return Err(DirectoryError::BadSignature { kid: token.kid });
    }
    let (payload, tenants) = shape(token.claims)?;
    if payload.iss != check.issuer {
        return Err(DirectoryError::Issuer {
            expected: check.issuer.to_owned(),
            got: payload.iss,
        });
    }
    current(payload.iat, check)?;
    Ok((payload, tenants))
}

/// Step 4: the payload's shape, each error at its JSON path. The digest is taken first, so
/// that the member is not held twice (a large directory is megabytes of JSON values).
fn shape(claims: Map<String, Value>) -> Result<(Payload, [u8; 32]), DirectoryError> {
    let tenants = digest(claims.get("tenants").unwrap_or(&Value::Null));
    let payload: Payload =
        serde_path_to_error::deserialize(Value::Object(claims)).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." {
                "(root)".to_owned()
            } else {
                path
            };
            DirectoryError::Shape {
                path,
                message: e.into_inner().to_string(),
            }
        })?;
    Ok((payload, tenants))
}

/// Step 5, `iat`: not older than the document in force, nor than `max_age_seconds`, nor from
/// the future.
fn current(iat: u64, check: &Check<'_>) -> Result<(), DirectoryError> {
    if let Some(in_force) = check.in_force_iat.filter(|&f| iat < f) {
        return Err(DirectoryError::Replayed { iat, in_force });
    }
    if iat.saturating_add(check.max_age_seconds) < check.now {
        return Err(DirectoryError::TooOld {
            iat,
            max_age_seconds: check.max_age_seconds,
            now: check.now,
        });
    }
    if iat > check.now.saturating_add(MAX_FUTURE_IAT_SECONDS) {
        return Err(DirectoryError::IssuedInFuture {
            iat,
            now: check.now,
        });
    }
    Ok(())
}

fn digest(tenants: &Value) -> [u8; 32] {
    // serde_json's maps are sorted, so equal members serialize to equal bytes.
    let bytes = serde_json::to_vec(tenants).unwrap_or_default();
    let hash = ring::digest::digest(&ring::digest::SHA256, &bytes);
    hash.as_ref().try_into().unwrap_or([0; 32])
}
