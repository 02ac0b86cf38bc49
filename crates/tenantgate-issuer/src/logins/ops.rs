//! The audited operations on login methods, shared by the admin API and the CLI: one
//! transaction and one audit line (`tenant_login_methods_set`) with the actor and the methods
//! before and after (the SSO client secret is never in it, only `"sealed"`).

use super::seal::{sso_owner, Sealer};
use super::{check, store, Methods, Update};
use crate::audit::Action;
use crate::ops::{Ctx, OpError};
use crate::time::now;
use crate::validate;

fn tenant_id(tenant: &str) -> Result<String, OpError> {
    validate::tenant_id("tenant", tenant).map_err(OpError::Invalid)
}

/// The login methods of one tenant.
pub fn get(ctx: &Ctx<'_>, tenant: &str) -> Result<Methods, OpError> {
    let tenant = tenant_id(tenant)?;
    Ok(ctx.store.tx(|tx| store::get(tx, &tenant))?)
}

/// Applies `update` to the login methods of `tenant`; returns them after the change.
pub fn set(ctx: &Ctx<'_>, tenant: &str, update: Update) -> Result<Methods, OpError> {
    let tenant = tenant_id(tenant)?;
    let new_secret = matches!(&update.sso, Some(Some(s)) if s.client_secret.is_some());
    // The key file is read only when a secret is to be sealed.
    let sealer = if new_secret {
        Some(
            Sealer::open(ctx.config)
                .map_err(|e| OpError::Invalid(format!("sso.client_secret: {e}")))?,
        )
    } else {
        None
    };
    let (before, after) = ctx.store.tx(|tx| {
        let current = store::get(tx, &tenant)?;
        let seal = |client_id: &str, secret: &str| match &sealer {
            Some(s) => s
                .seal(&sso_owner(&tenant, client_id), secret.as_bytes())
                .map_err(|e| format!("sso.client_secret: {e}")),
            None => Err("sso.client_secret: no key to seal it with".to_string()),
        };
        let after = check::apply(&current, update, &ctx.config.issuer, seal)
            .map_err(crate::storage::StoreError::Invalid)?;
        let before = store::set(tx, &tenant, &after, now())?;
        Ok((before, after))
    })?;
    ctx.audit.record(
        ctx.event(Action::TenantLoginMethodsSet, Some(&tenant))
            .with("before", json(&before))
            .with("after", json(&after))
            .with("client_secret_changed", new_secret && after.sso.is_some()),
    );
    Ok(after)
}

/// Removes a user's TOTP enrollment (lost authenticator and recovery codes): their next
/// sign-in enrolls again where TOTP applies. Returns whether they had one.
pub fn reset_totp(ctx: &Ctx<'_>, email: &str) -> Result<bool, OpError> {
    let email = validate::email("email", email).map_err(OpError::Invalid)?;
    let (user_id, had) = ctx.store.tx(|tx| {
        let (user, _) = crate::directory::find_user(tx, &email)?
            .ok_or_else(|| crate::storage::StoreError::NotFound(format!("no user {email:?}")))?;
        let had = crate::mfa::reset(tx, &user.id)?;
        Ok((user.id, had))
    })?;
    ctx.audit.record(
        ctx.event(Action::TotpReset, None)
            .with("user", user_id)
            .with("email", email)
            .with("had_totp", had),
    );
    Ok(had)
}

fn json(m: &Methods) -> serde_json::Value {
    serde_json::to_value(m.view()).unwrap_or(serde_json::Value::Null)
}
