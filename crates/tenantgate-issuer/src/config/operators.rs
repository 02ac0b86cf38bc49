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
    let tenant = raw.tenant.ok_or_else(|| {
        inv(
            "operators.tenant",
            "name the platform tenant operators belong to",
        )
    })?;
    let tenant = validate::tenant_id("tenant", &tenant).map_err(|m| inv("operators.tenant", m))?;
    let role = raw.role.ok_or_else(|| {
        inv(
            "operators.role",
            "name the role operators hold in their tenant",
        )
    })?;
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    const MINIMAL: &str = "issuer = \"https://auth.example.com/\"\naudience = \"api\"\n\
                           [database]\nsqlite = \"issuer.db\"\n[keys]\ndir = \"keys\"\n";

    fn parse(operators: &str) -> Result<Option<OperatorSettings>, String> {
        let text = format!("{MINIMAL}{operators}");
        match Config::parse(&text, Path::new("/etc/tg")) {
            Ok(config) => Ok(config.operators),
            Err(ParseError::Toml(m)) => Err(m),
            Err(ParseError::Invalid(k, m)) => Err(format!("{k}: {m}")),
        }
    }

    #[test]
    fn operators_are_off_unless_configured_and_capped() {
        assert_eq!(parse(""), Ok(None));
        let settings = parse("[operators]\ntenant = \"platform\"\nrole = \"operator\"\n");
        assert_eq!(
            settings,
            Ok(Some(OperatorSettings {
                tenant: "platform".into(),
                role: "operator".into(),
                max_ttl: DEFAULT_OPERATOR_TTL,
            }))
        );
        let short = parse("[operators]\ntenant = \"platform\"\nrole = \"op\"\nmax_ttl = \"5m\"");
        assert_eq!(short.map(|s| s.map(|s| s.max_ttl)), Ok(Some(300)));
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases = [
            ("[operators]\nrole = \"op\"", "operators.tenant: name"),
            (
                "[operators]\ntenant = \"Platform\"\nrole = \"op\"",
                "operators.tenant:",
            ),
            ("[operators]\ntenant = \"platform\"", "operators.role: name"),
            (
                "[operators]\ntenant = \"p\"\nrole = \"op\"\nmax_ttl = \"0s\"",
                "operators.max_ttl",
            ),
            (
                "[operators]\ntenant = \"p\"\nrole = \"op\"\nmax_ttl = \"300d\"",
                "keys.max_token_ttl",
            ),
            (
                "[operators]\ntenant = \"p\"\nrole = \"op\"\nttl = \"5m\"",
                "ttl",
            ),
        ];
        for (section, needle) in cases {
            let error = parse(section).expect_err(section);
            assert!(error.contains(needle), "{section}: {error}");
        }
    }
}
