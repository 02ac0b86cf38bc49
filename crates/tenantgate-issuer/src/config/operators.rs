//! `[operators]`: who may be issued break-glass tokens by `elevate` (members of one tenant
//! holding one role), and how long those tokens live at most.

use serde::Deserialize;

use super::sections::{duration, inv, ParseError};
use super::KeyTiming;
use crate::validate;

/// The default and largest lifetime of an operator's token unless configured: 15 minutes,
/// the filter's default `operators.max_lifetime_seconds`.
pub const DEFAULT_OPERATOR_TTL: i64 = 15 * 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOperators {
    tenant: Option<String>,
    role: Option<String>,
    max_ttl: Option<String>,
}

/// Break-glass settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSettings {
    /// The platform's own tenant: operators are its members.
    pub tenant: String,
    /// The catalog role an operator holds there (and the only role their token carries).
    pub role: String,
    /// The longest lifetime of an operator's token, and the default one (seconds).
    pub max_ttl: i64,
}

/// The `[operators]` section, if any: a tenant and role are required, `max_ttl` is at most
/// `keys.max_token_ttl`.
pub(super) fn operators(
    raw: Option<RawOperators>,
    timing: &KeyTiming,
) -> Result<Option<OperatorSettings>, ParseError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let tenant = raw
        .tenant
        .ok_or_else(|| inv("operators.tenant", "name the platform tenant operators belong to"))?;
    let tenant = validate::tenant_id("tenant", &tenant).map_err(|m| inv("operators.tenant", m))?;
    let role = raw
        .role
        .ok_or_else(|| inv("operators.role", "name the role operators hold in their tenant"))?;
    let role = validate::role_name("role", &role).map_err(|m| inv("operators.role", m))?;
    let max_ttl = duration("operators.max_ttl", &raw.max_ttl, DEFAULT_OPERATOR_TTL)?;
    if max_ttl > timing.max_token_ttl {
        return Err(inv(
            "operators.max_ttl",
            "must not exceed keys.max_token_ttl (a retired key is only published that long)",
        ));
    }
    Ok(Some(OperatorSettings {
        tenant,
        role,
        max_ttl,
    }))
}
