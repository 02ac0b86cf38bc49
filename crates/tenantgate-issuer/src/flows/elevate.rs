//! Break-glass: a short-lived token for a platform operator to act on one named customer
//! tenant (`elevate`). The operator is a member of `[operators] tenant` holding `[operators]
//! role`; the token carries only that role, names its target in `target_tenant`, lives at most
//! `[operators] max_ttl`, and every one issued is audited with its reason.

use super::token::{audience_claim, permissions_of};
use super::{count, rng_failed, FlowError};
use crate::audit::Action;
use crate::config::OperatorSettings;
use crate::directory;
use crate::metrics::Counter;
use crate::ops::{record_maintenance, Ctx};
use crate::random_token;
use crate::time::{format_duration, now};
use crate::validate;
use tenantgate_core::token::claims::AccessClaims;

/// Longest reason accepted, in characters.
const MAX_REASON: usize = 500;

/// What an operator asks for.
#[derive(Debug, Clone)]
pub struct ElevateInput<'a> {
    /// The operator's email (a member of the operator tenant).
    pub email: &'a str,
    /// The customer tenant to act on.
    pub target: &'a str,
    /// Why (a ticket, an incident): mandatory, audited.
    pub reason: &'a str,
    /// Lifetime in seconds; `None` takes `[operators] max_ttl`.
    pub ttl: Option<i64>,
}

/// An operator's token and what the audit line says about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Elevated {
    pub token: String,
    pub jti: String,
    pub target_tenant: String,
    pub operator: String,
    pub expires_in: i64,
    pub expires_at: i64,
}

/// Issues an operator's break-glass token for one target tenant; audited as `elevate`.
pub fn elevate(ctx: &Ctx<'_>, input: &ElevateInput<'_>) -> Result<Elevated, FlowError> {
    let settings = ctx.config.operators.as_ref().ok_or_else(|| {
        FlowError::Invalid(
            "no [operators] section in the issuer configuration: it names the operators' tenant \
             and role"
                .into(),
        )
    })?;
    let checked = check_input(settings, input)?;
    let operator = find_operator(ctx, settings, &checked.email, &checked.target)?;
    let t = now();
    let report = ctx.keys.maintain(ctx.store, t)?;
    record_maintenance(ctx.audit, ctx.metrics, &report, ctx.actor);
    let roles = vec![settings.role.clone()];
    let claims = AccessClaims {
        iss: ctx.config.issuer.clone(),
        sub: operator.id.clone(),
        aud: audience_claim(ctx.config.audience.clone()),
        tenant_id: settings.tenant.clone(),
        permissions: permissions_of(ctx, &roles)?,
        roles,
        iat: t,
        nbf: t,
        exp: t.saturating_add(checked.ttl),
        jti: random_token(16).map_err(|_| rng_failed())?,
        sid: None,
        target_tenant: Some(checked.target.clone()),
        amr: None,
    };
    let token = ctx.keys.sign(ctx.store, &claims, t)?;
    count(ctx, Counter::TokensIssued, &settings.tenant, None);
    ctx.audit.record(
        ctx.event(Action::Elevate, Some(&checked.target))
            .roles(&claims.roles)
            .with("operator", operator.email.clone())
            .with("operator_sub", operator.id.clone())
            .with("operator_tenant", settings.tenant.clone())
            .with("reason", checked.reason)
            .with("ttl", checked.ttl)
            .with("jti", claims.jti.clone())
            .with("exp", claims.exp),
    );
    Ok(Elevated {
        token,
        jti: claims.jti,
        target_tenant: checked.target,
        operator: operator.email,
        expires_in: checked.ttl,
        expires_at: claims.exp,
    })
}

struct Checked {
    email: String,
    target: String,
    reason: String,
    ttl: i64,
}

/// The input's shape: a target other than the operators' own tenant, a reason, a lifetime
/// within the cap.
fn check_input(
    settings: &OperatorSettings,
    input: &ElevateInput<'_>,
) -> Result<Checked, FlowError> {
    let email = validate::email("email", input.email).map_err(FlowError::Invalid)?;
    let target = validate::tenant_id("tenant", input.target).map_err(FlowError::Invalid)?;
    if target == settings.tenant {
        return Err(FlowError::Invalid(format!(
            "tenant: {target:?} is the operators' own tenant; elevate is for acting on another"
        )));
    }
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(FlowError::Invalid(
            "reason: say why (a ticket or incident); it is audited".into(),
        ));
    }
    let reason = validate::text("reason", reason, MAX_REASON).map_err(FlowError::Invalid)?;
    let ttl = input.ttl.unwrap_or(settings.max_ttl);
    if !(1..=settings.max_ttl).contains(&ttl) {
        return Err(FlowError::Invalid(format!(
            "ttl: must be 1s to {} ([operators] max_ttl)",
            format_duration(settings.max_ttl)
        )));
    }
    Ok(Checked {
        email,
        target,
        reason,
        ttl,
    })
}

/// The operator: a member of the (enabled) operator tenant holding the operator role; the
/// target tenant must exist.
fn find_operator(
    ctx: &Ctx<'_>,
    settings: &OperatorSettings,
    email: &str,
    target: &str,
) -> Result<directory::User, FlowError> {
    let not_operator = || {
        FlowError::Invalid(format!(
            "email: {email:?} is not an operator (a member of tenant {:?} with role {:?})",
            settings.tenant, settings.role
        ))
    };
    ctx.store.tx(|tx| {
        if directory::get_tenant(tx, target)?.is_none() {
            return Ok(Err(FlowError::TenantNotFound));
        }
        match directory::get_tenant(tx, &settings.tenant)? {
            None => return Ok(Err(not_operator())),
            Some(t) if t.disabled => return Ok(Err(FlowError::TenantDisabled)),
            Some(_) => {}
        }
        let Some((user, _)) = directory::find_user(tx, email)? else {
            return Ok(Err(not_operator()));
        };
        let holds = directory::is_member(tx, &settings.tenant, &user.id)?
            && directory::roles_of(tx, &settings.tenant, &user.id)?.contains(&settings.role);
        Ok(if holds { Ok(user) } else { Err(not_operator()) })
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OperatorSettings {
        OperatorSettings {
            tenant: "platform".into(),
            role: "operator".into(),
            max_ttl: 900,
        }
    }

    fn input<'a>(target: &'a str, reason: &'a str, ttl: Option<i64>) -> ElevateInput<'a> {
        ElevateInput {
            email: "ops@platform.test",
            target,
            reason,
            ttl,
        }
    }

    fn refused(input: &ElevateInput<'_>) -> String {
        match check_input(&settings(), input) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_ttl_defaults_to_the_cap_and_never_exceeds_it() {
        let ok = check_input(&settings(), &input("acme", " INC-42 ", None)).expect("valid");
        assert_eq!((ok.ttl, ok.reason.as_str()), (900, "INC-42"));
        let ok = check_input(&settings(), &input("acme", "INC-42", Some(60))).expect("valid");
        assert_eq!(ok.ttl, 60);
        assert!(refused(&input("acme", "INC-42", Some(901))).contains("ttl: must be 1s to 15m"));
        assert!(refused(&input("acme", "INC-42", Some(0))).contains("ttl"));
    }

    #[test]
    fn a_reason_and_another_tenant_are_required() {
        assert!(refused(&input("acme", "  ", None)).contains("reason: say why"));
        assert!(refused(&input("acme", "a\nb", None)).contains("control characters"));
        assert!(refused(&input("platform", "x", None)).contains("operators' own tenant"));
        assert!(refused(&input("Not A Tenant", "x", None)).starts_with("tenant"));
    }
}
