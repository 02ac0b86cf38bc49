//! Access tokens: the claims of one (the schema shared with the filter), signed with the current
//! key. Sign-in and refresh sign them for a session; `mint` for any tenant and subject.

use super::{count, rng_failed, FlowError};
use crate::audit::Action;
use crate::directory;
use crate::metrics::Counter;
use crate::ops::{record_maintenance, Ctx};
use crate::random_token;
use crate::sessions::Issued;
use crate::time::{format_duration, now};
use crate::validate;
use tenantgate_core::token::claims::{AccessClaims, Audience};

/// `aud` as one string when there is one audience, else an array.
pub fn audience_claim(mut aud: Vec<String>) -> Audience {
    if aud.len() == 1 {
        Audience::One(aud.remove(0))
    } else {
        Audience::Many(aud)
    }
}

/// What one access token grants.
struct Grant {
    tenant: String,
    sub: String,
    roles: Vec<String>,
    aud: Audience,
    ttl: i64,
    sid: Option<String>,
    amr: Option<Vec<String>>,
}

/// Signs the token for `grant`, valid from `t`; returns it with its claims.
fn sign(ctx: &Ctx<'_>, grant: Grant, t: i64) -> Result<(String, AccessClaims), FlowError> {
    let jti = random_token(16).map_err(|_| rng_failed())?;
    let permissions = permissions_of(ctx, &grant.roles)?;
    let claims = AccessClaims {
        iss: ctx.config.issuer.clone(),
        sub: grant.sub,
        aud: grant.aud,
        tenant_id: grant.tenant,
        roles: grant.roles,
        iat: t,
        nbf: t,
        exp: t.saturating_add(grant.ttl.min(ctx.config.timing.max_token_ttl)),
        jti,
        sid: grant.sid,
        permissions,
        target_tenant: None,
        amr: grant.amr,
    };
    let token = ctx.keys.sign(ctx.store, &claims, t)?;
    Ok((token, claims))
}

/// With `[tokens] permissions`, the catalog permissions of `roles`, sorted and without
/// duplicates (a role not in the catalog grants none); `None` otherwise. Read when the token is
/// signed, so a change to the catalog shows at the next sign-in or refresh, like a grant.
pub(super) fn permissions_of(
    ctx: &Ctx<'_>,
    roles: &[String],
) -> Result<Option<Vec<String>>, FlowError> {
    if !ctx.config.emit_permissions {
        return Ok(None);
    }
    let catalog = ctx.store.tx(directory::list_roles)?;
    Ok(Some(catalog_permissions(catalog, roles)))
}

fn catalog_permissions(catalog: Vec<directory::Role>, roles: &[String]) -> Vec<String> {
    let mut permissions: Vec<String> = catalog
        .into_iter()
        .filter(|role| roles.contains(&role.name))
        .flat_map(|role| role.permissions)
        .collect();
    permissions.sort();
    permissions.dedup();
    permissions
}

/// The access token of a session just started or refreshed, and its lifetime (the tenant's).
pub(super) fn session_token(
    ctx: &Ctx<'_>,
    issued: &Issued,
    t: i64,
) -> Result<(String, i64), FlowError> {
    // A tenant's stored lifetime may predate a lower keys.max_token_ttl: the maximum wins.
    let ttl = issued
        .tenant
        .access_ttl
        .min(ctx.config.timing.max_token_ttl);
    let grant = Grant {
        tenant: issued.tenant.id.clone(),
        sub: issued.user_id.clone(),
        roles: issued.roles.clone(),
        aud: audience_claim(ctx.config.audience.clone()),
        ttl,
        sid: Some(issued.session_id.clone()),
        amr: Some(issued.amr.clone()),
    };
    let (token, _) = sign(ctx, grant, t)?;
    count(ctx, Counter::TokensIssued, &issued.tenant.id, None);
    Ok((token, ttl))
}

/// Signs an access token with the current key for any tenant, subject and roles (integration
/// tests of policies); neither tenant nor user has to exist. Creates the first key on a fresh
/// database.
pub fn mint(
    ctx: &Ctx<'_>,
    tenant: &str,
    sub: &str,
    roles: &[String],
    ttl: i64,
    audience: Option<Vec<String>>,
) -> Result<String, FlowError> {
    let tenant = validate::tenant_id("tenant", tenant).map_err(FlowError::Invalid)?;
    let sub = validate::subject("sub", sub).map_err(FlowError::Invalid)?;
    let roles = roles
        .iter()
        .map(|r| validate::role_name("roles", r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(FlowError::Invalid)?;
    let max = ctx.config.timing.max_token_ttl;
    if !(1..=max).contains(&ttl) {
        return Err(FlowError::Invalid(format!(
            "ttl: must be 1s to {} (keys.max_token_ttl: a retired key is only published that long)",
            format_duration(max)
        )));
    }
    let aud = audience.unwrap_or_else(|| ctx.config.audience.clone());
    if aud.is_empty() || aud.iter().any(String::is_empty) {
        return Err(FlowError::Invalid(
            "aud: give one or more non-empty audiences".into(),
        ));
    }
    let t = now();
    let report = ctx.keys.maintain(ctx.store, t)?;
    record_maintenance(ctx.audit, ctx.metrics, &report, ctx.actor);
    let grant = Grant {
        tenant: tenant.clone(),
        sub: sub.clone(),
        roles: roles.clone(),
        aud: audience_claim(aud),
        ttl,
        sid: None,
        amr: None,
    };
    let (token, claims) = sign(ctx, grant, t)?;
    ctx.audit.record(
        ctx.event(Action::Mint, Some(&tenant))
            .roles(&roles)
            .with("sub", sub)
            .with("jti", claims.jti)
            .with("exp", claims.exp),
    );
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_of_the_roles_held_merged() {
        let role = |name: &str, permissions: &[&str]| directory::Role {
            name: name.into(),
            description: String::new(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        };
        let catalog = vec![
            role("billing", &["write:billing", "read:billing"]),
            role("ops", &["deploy:*", "read:billing"]),
            role("other", &["secret"]),
        ];
        let held = ["billing".to_string(), "ops".into(), "unknown".into()];
        assert_eq!(
            catalog_permissions(catalog, &held),
            ["deploy:*", "read:billing", "write:billing"]
        );
    }

    #[test]
    fn one_audience_is_a_string_several_an_array() {
        assert_eq!(
            audience_claim(vec!["api".into()]),
            Audience::One("api".into())
        );
        assert_eq!(
            audience_claim(vec!["a".into(), "b".into()]),
            Audience::Many(vec!["a".into(), "b".into()])
        );
    }
}
