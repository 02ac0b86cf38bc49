//! Token verification: provider by `iss`, key by `kid`, RS256, then the claims (RFC 7519 and
//! the RFC 8725 best practices).
//!
//! Order: parse (structure, `alg`, `crit`) → the not-yet-verified `iss` chooses the provider →
//! that provider's key for `kid` → signature → claims. Nothing from the payload is trusted
//! before the signature verifies, except `iss` to pick whose keys to verify with.

pub mod cache;
pub mod claim_path;
pub mod host_rs256;
pub mod issuer;
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
    let (index, provider, from_iss) = provider_for(&jws.claims, providers)?;
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
    if !key_names_issuer(key, provider, &jws.claims, from_iss) {
        return Err(Denial::KeyNotFound.into());
    }
    let verified_by = Some(key.fingerprint());
    let mut verified = check_claims(provider, &jws.claims, from_iss, now)?.into_verified(
        index,
        jws.kid,
        verified_by,
    );
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
    let (index, provider, from_iss) = provider_for(claims, providers)?;
    Ok(check_claims(provider, claims, from_iss, now)?.into_verified(index, None, None))
}

/// The provider whose `issuer` equals the payload's `iss` exactly, else the first whose issuer
/// template matches it, with the tenant value the template takes from `iss`. (The compile step
/// refuses an exact issuer that a template also matches.) A template is never an exact issuer:
/// an `iss` that is the template itself, `{tenant}` and all, names no tenant and no provider.
fn provider_for<'p, 'c>(
    claims: &'c Map<String, Value>,
    providers: &'p [Provider],
) -> Result<(usize, &'p Provider, Option<&'c str>), Denial> {
    let issuer = match claims.get("iss") {
        None => return Err(Denial::ClaimMissing),
        Some(Value::String(iss)) => iss.as_str(),
        Some(_) => return Err(Denial::ClaimInvalid),
    };
    let exact = providers
        .iter()
        .enumerate()
        .find(|(_, p)| !p.issuer_is_template() && p.issuer == issuer);
    if let Some((index, provider)) = exact {
        return Ok((index, provider, None));
    }
    providers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.issuer_is_template())
        .find_map(|(index, p)| {
            issuer::template_tenant(&p.issuer, issuer).map(|tenant| (index, p, Some(tenant)))
        })
        .ok_or(Denial::IssuerNotTrusted)
}

/// A key with its own `issuer` member verifies only tokens whose `iss` it names; its
/// `{tenantid}` stands for the token's tenant value (from an issuer template, else the tenant
/// claim as signed).
fn key_names_issuer(
    key: &crate::jwks::keyset::RsaKey,
    provider: &Provider,
    claims: &Map<String, Value>,
    from_iss: Option<&str>,
) -> bool {
    let Some(key_issuer) = key.issuer() else {
        return true;
    };
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let tenant = from_iss.or_else(|| {
        claim_path::lookup(claims, provider.tenant_claim_name()).and_then(Value::as_str)
    });
    issuer::key_issuer_matches(key_issuer, iss, tenant)
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
    from_iss: Option<&str>,
    now: u64,
) -> Result<CheckedClaims, Denial> {
    let (expires_at, valid_until) = check_times(provider, claims, now)?;
    check_audience(provider, claims)?;
    Ok(CheckedClaims {
        subject: subject(provider, claims)?,
        tenant: tenant(provider, claims, from_iss)?,
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

/// `aud` (or the provider's `audience_claim`), a string or an array of strings, must name one
/// of the provider's audiences.
fn check_audience(provider: &Provider, claims: &Map<String, Value>) -> Result<(), Denial> {
    let claim = provider.audience_claim.as_deref().unwrap_or("aud");
    let audience_ok = match claim_path::lookup(claims, claim) {
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

/// `sub` (or the provider's `subject_claim`): a non-empty string that can travel in a header.
fn subject(provider: &Provider, claims: &Map<String, Value>) -> Result<String, Denial> {
    match claim_path::lookup(claims, provider.subject_claim_name()) {
        None => Err(Denial::ClaimMissing),
        Some(Value::String(sub)) if !sub.is_empty() && header_safe(sub) => Ok(sub.clone()),
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

/// The provider's bound tenant, else the tenant value of an issuer template or of the tenant
/// claim (a non-empty, header-safe string; both must be equal when both are read), through the
/// provider's `tenant_map` when it has one.
fn tenant(
    provider: &Provider,
    claims: &Map<String, Value>,
    from_iss: Option<&str>,
) -> Result<String, Denial> {
    if let Some(bound) = &provider.tenant {
        return Ok(bound.clone());
    }
    let claimed = if from_iss.is_none() || provider.tenant_claim.is_some() {
        match claim_path::lookup(claims, provider.tenant_claim_name()) {
            Some(Value::String(tenant)) if !tenant.is_empty() => {
                if !header_safe(tenant) {
                    return Err(Denial::ClaimInvalid);
                }
                Some(tenant.as_str())
            }
            _ => return Err(Denial::TenantMissing),
        }
    } else {
        None
    };
    let value = match (from_iss, claimed) {
        // A token whose issuer names one tenant and whose claim another contradicts itself.
        (Some(from_iss), Some(claimed)) if from_iss != claimed => return Err(Denial::ClaimInvalid),
        (Some(value), _) | (None, Some(value)) => value,
        (None, None) => return Err(Denial::TenantMissing),
    };
    match &provider.tenant_map {
        None => Ok(value.to_owned()),
        Some(map) => map.get(value).cloned().ok_or(Denial::TenantUnmapped),
    }
}

/// The roles claims, merged in order without repeats: each absent (no roles) or an array of
/// non-empty, header-safe strings without commas (the roles header joins them with commas).
fn roles(provider: &Provider, claims: &Map<String, Value>) -> Result<Vec<String>, Denial> {
    let mut roles: Vec<String> = Vec::new();
    for path in provider.roles_claim.iter() {
        for role in claim_path::string_array(claims, path)?.unwrap_or_default() {
            if role.is_empty() || !header_safe(role) || role.contains(',') {
                return Err(Denial::ClaimInvalid);
            }
            if !roles.iter().any(|r| r == role) {
                roles.push(role.to_owned());
            }
        }
    }
    Ok(roles)
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
