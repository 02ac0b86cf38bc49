//! Token verification: provider by `iss`, key by `kid`, RS256, then the claims (RFC 7519 and
//! the RFC 8725 best practices).
//!
//! Order: parse (structure, `alg`, `crit`) → the not-yet-verified `iss` chooses the provider →
//! that provider's key for `kid` → signature → claims. Nothing from the payload is trusted
//! before the signature verifies, except `iss` to pick whose keys to verify with.

pub mod cache;
pub mod host_rs256;
mod proto;
pub mod rs256;
pub mod spki;

use serde_json::{Map, Value};

use crate::config::Provider;
use crate::denial::Denial;
use crate::jwks::keyset::{KeyFingerprint, KeySet, RsaKey};
use crate::token::jws;

/// The providers' current key sets, as the glue holds them.
pub trait KeySource {
    /// The provider's key set, or `None` before its first successful load.
    fn key_set(&self, provider: usize) -> Option<&KeySet>;
    /// Whether a token with an unknown `kid` may wait for a refetch of this provider's keys
    /// (a fetch is under way, or the rate limit allows one). Must not have side effects.
    fn may_refetch(&self, provider: usize) -> bool {
        let _ = provider;
        false
    }
    /// Whether `signature` is a valid RS256 signature of `message` under `key`: ring here; the
    /// glue may check through the host's own crypto instead ([`host_rs256`]), with the same
    /// verdicts.
    fn verify_rs256(&self, key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
        rs256::verify(key, message, signature)
    }
}

/// Why a token was not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// Refused for good.
    Denied(Denial),
    /// The provider's keys are needed first: none loaded yet (`unknown_kid: false`), or the
    /// token's `kid` is unknown and a refetch may bring it (`unknown_kid: true`). The glue
    /// fetches (or waits for the fetch under way), then verifies again.
    AwaitKeys { provider: usize, unknown_kid: bool },
}

impl From<Denial> for VerifyFailure {
    fn from(denial: Denial) -> Self {
        VerifyFailure::Denied(denial)
    }
}

/// A verified token: who it is for and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Index of the provider in the configuration.
    pub provider: usize,
    /// The provider's bound tenant, or the tenant claim. Free of control characters.
    pub tenant: String,
    /// `sub`: non-empty, free of control characters.
    pub subject: String,
    /// The roles claim: free of control characters and commas (forwarded comma-joined).
    pub roles: Vec<String>,
    /// The `exp` claim (unix seconds).
    pub expires_at: i64,
    /// The instant (unix seconds) from which the token is refused as expired: `exp` + skew.
    pub valid_until: i64,
    /// The header's `kid`, and the key that verified the token (`None` for claims taken as
    /// signed by `tenantgate explain`): the cache drops the token once its provider's key set no
    /// longer holds that very key under that `kid`, also when an issuer reuses a `kid` for new
    /// key material or signs without one.
    pub kid: Option<String>,
    pub key: Option<KeyFingerprint>,
    /// The top-level claims the configuration reads beyond the standard ones (permissions,
    /// scopes, claim conditions, claims forwarded as headers), as signed: what
    /// [`verify_keeping`] was asked to keep. Empty otherwise.
    pub kept: Map<String, Value>,
}

/// Verify `token` against the configured `providers` at `now` (unix seconds).
pub fn verify(
    token: &str,
    providers: &[Provider],
    keys: &dyn KeySource,
    now: u64,
) -> Result<VerifiedToken, VerifyFailure> {
    verify_keeping(token, providers, &[], keys, now)
}

/// [`verify`], keeping the top-level claims named in `keep` (sorted) in the verified token.
pub fn verify_keeping(
    token: &str,
    providers: &[Provider],
    keep: &[String],
    keys: &dyn KeySource,
    now: u64,
) -> Result<VerifiedToken, VerifyFailure> {
    let jws = jws::parse(token)?;
    let (index, provider) = provider_for(&jws.claims, providers)?;
    let Some(set) = keys.key_set(index) else {
        return Err(VerifyFailure::AwaitKeys {
            provider: index,
            unknown_kid: false,
        });
    };
    let Some(key) = set.find(jws.kid.as_deref()) else {
        // A refetch can only help a token that names its key.
        if jws.kid.is_some() && keys.may_refetch(index) {
            return Err(VerifyFailure::AwaitKeys {
                provider: index,
                unknown_kid: true,
            });
        }
        return Err(Denial::KeyNotFound.into());
    };
    if !keys.verify_rs256(key, jws.signing_input.as_bytes(), &jws.signature) {
        return Err(Denial::SignatureInvalid.into());
    }
    let verified_by = Some(key.fingerprint());
    let mut verified =
        check_claims(provider, &jws.claims, now)?.into_verified(index, jws.kid, verified_by);
    verified.kept = keep_claims(&jws.claims, keep);
    Ok(verified)
}

/// The claims named in `keep` that the payload has.
pub fn keep_claims(claims: &Map<String, Value>, keep: &[String]) -> Map<String, Value> {
    keep.iter()
        .filter_map(|name| claims.get(name).map(|v| (name.clone(), v.clone())))
        .collect()
}

/// The claim rules alone, for a payload whose signature is taken as good: the provider is the
/// one named by `iss`. Only for explaining a policy (`tenantgate explain --claims`); traffic
/// always goes through [`verify`].
pub fn check_unsigned_claims(
    claims: &Map<String, Value>,
    providers: &[Provider],
    now: u64,
) -> Result<VerifiedToken, Denial> {
    let (index, provider) = provider_for(claims, providers)?;
    Ok(check_claims(provider, claims, now)?.into_verified(index, None, None))
}

/// The provider whose `issuer` equals the payload's `iss` exactly.
fn provider_for<'p>(
    claims: &Map<String, Value>,
    providers: &'p [Provider],
) -> Result<(usize, &'p Provider), Denial> {
    let issuer = match claims.get("iss") {
        None => return Err(Denial::ClaimMissing),
        Some(Value::String(iss)) => iss,
        Some(_) => return Err(Denial::ClaimInvalid),
    };
    providers
        .iter()
        .enumerate()
        .find(|(_, p)| p.issuer == *issuer)
        .ok_or(Denial::IssuerNotTrusted)
}

/// Whether the key that verified a token is still the key its provider's set holds under the
/// token's `kid`: the same material, not just the same name.
pub fn key_still_trusted(keys: &dyn KeySource, token: &VerifiedToken) -> bool {
    token.key.is_some_and(|verified_by| {
        keys.key_set(token.provider)
            .and_then(|set| set.find(token.kid.as_deref()))
            .is_some_and(|key| key.fingerprint() == verified_by)
    })
}

struct CheckedClaims {
    tenant: String,
    subject: String,
    roles: Vec<String>,
    expires_at: i64,
    valid_until: i64,
}

impl CheckedClaims {
    fn into_verified(
        self,
        provider: usize,
        kid: Option<String>,
        key: Option<KeyFingerprint>,
    ) -> VerifiedToken {
        VerifiedToken {
            provider,
            tenant: self.tenant,
            subject: self.subject,
            roles: self.roles,
            expires_at: self.expires_at,
            valid_until: self.valid_until,
            kid,
            key,
            kept: Map::new(),
        }
    }
}

/// The claim rules of a signed payload, for one provider, in the order of docs/security.md.
fn check_claims(
    provider: &Provider,
    claims: &Map<String, Value>,
    now: u64,
) -> Result<CheckedClaims, Denial> {
    let (expires_at, valid_until) = check_times(provider, claims, now)?;
    check_audience(provider, claims)?;
    Ok(CheckedClaims {
        subject: subject(claims)?,
        tenant: tenant(provider, claims)?,
        roles: roles(provider, claims)?,
        expires_at,
        valid_until,
    })
}

/// `exp` (required), `nbf`, `iat` with the provider's clock skew, and the maximum lifetime.
/// Returns `exp` and the instant the token stops being accepted (`exp` plus the skew).
fn check_times(
    provider: &Provider,
    claims: &Map<String, Value>,
    now: u64,
) -> Result<(i64, i64), Denial> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let skew = i64::try_from(provider.clock_skew_seconds).unwrap_or(i64::MAX);

    let exp = numeric_date(claims, "exp")?.ok_or(Denial::ClaimMissing)?;
    let valid_until = exp.saturating_add(skew);
    if now >= valid_until {
        return Err(Denial::TokenExpired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(skew) {
            return Err(Denial::TokenNotYetValid);
        }
    }
    let iat = numeric_date(claims, "iat")?;
    if let Some(iat) = iat {
        if iat > now.saturating_add(skew) {
            return Err(Denial::TokenIssuedInFuture);
        }
    }
    if let Some(max) = provider.max_lifetime_seconds {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let lifetime = exp.saturating_sub(iat.unwrap_or(now));
        if lifetime > max {
            return Err(Denial::TokenLifetimeExceeded);
        }
    }
    Ok((exp, valid_until))
}

/// `aud`, a string or an array of strings, must name one of the provider's audiences.
fn check_audience(provider: &Provider, claims: &Map<String, Value>) -> Result<(), Denial> {
    let audience_ok = match claims.get("aud") {
        None => return Err(Denial::ClaimMissing),
        Some(Value::String(aud)) => provider.audiences.contains(aud),
        Some(Value::Array(items)) => {
            let mut any = false;
            for item in items {
                let Value::String(aud) = item else {
                    return Err(Denial::ClaimInvalid);
                };
                any |= provider.audiences.contains(aud);
            }
            any
        }
        Some(_) => return Err(Denial::ClaimInvalid),
    };
    if audience_ok {
        Ok(())
    } else {
        Err(Denial::AudienceMismatch)
    }
}

/// `sub`: a non-empty string that can travel in a header.
fn subject(claims: &Map<String, Value>) -> Result<String, Denial> {
    match claims.get("sub") {
        None => Err(Denial::ClaimMissing),
        Some(Value::String(sub)) if !sub.is_empty() && header_safe(sub) => Ok(sub.clone()),
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

/// The provider's bound tenant, else its tenant claim: a non-empty, header-safe string.
fn tenant(provider: &Provider, claims: &Map<String, Value>) -> Result<String, Denial> {
    if let Some(bound) = &provider.tenant {
        return Ok(bound.clone());
    }
    match claims.get(provider.tenant_claim_name()) {
        Some(Value::String(tenant)) if !tenant.is_empty() => {
            if header_safe(tenant) {
                Ok(tenant.clone())
            } else {
                Err(Denial::ClaimInvalid)
            }
        }
        _ => Err(Denial::TenantMissing),
    }
}

/// The roles claim: absent (no roles) or an array of non-empty, header-safe strings without
/// commas (the roles header joins them with commas).
fn roles(provider: &Provider, claims: &Map<String, Value>) -> Result<Vec<String>, Denial> {
    let items = match claims.get(&provider.roles_claim) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Denial::ClaimInvalid),
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(role) if !role.is_empty() && header_safe(role) && !role.contains(',') => {
                Ok(role.clone())
            }
            _ => Err(Denial::ClaimInvalid),
        })
        .collect()
}

/// A NumericDate claim (RFC 7519 section 2): a JSON number, possibly fractional (floored).
/// Any other JSON type is refused, not coerced: `"exp":"1700000000"` is not a date.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Denial> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() {
                Ok(Some(i64::MAX))
            } else {
                // `as` saturates for out-of-range floats; JSON numbers are never NaN.
                Ok(Some(n.as_f64().map_or(i64::MAX, |f| f.floor() as i64)))
            }
        }
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

/// Values forwarded as upstream headers must not carry control characters (CR/LF injection,
/// NUL truncation, C1 controls).
fn header_safe(value: &str) -> bool {
    !value.chars().any(char::is_control)
}

#[cfg(test)]
pub(crate) mod tests;
