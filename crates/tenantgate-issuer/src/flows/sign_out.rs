//! Sign-out: ends the session named by an access token or by a refresh token.

use super::{count, FlowError};
use crate::audit::{Action, Event};
use crate::metrics::Counter;
use crate::ops::Ctx;
use crate::sessions;
use crate::time::now;

/// What identifies the session to end.
pub enum SignOutWith {
    /// One of this issuer's access tokens for the tenant, carrying the session id.
    AccessToken(String),
    /// The session's current or an earlier refresh token.
    RefreshToken(String),
}

/// Ends a session of `tenant` (the tenant id is already validated).
pub fn sign_out(ctx: &Ctx<'_>, tenant: &str, with: &SignOutWith) -> Result<(), FlowError> {
    let t = now();
    let session_id = match with {
        SignOutWith::AccessToken(token) => {
            let claims = ctx
                .keys
                .verify(ctx.store, token, &ctx.config.issuer, t)?
                .filter(|c| c.tenant_id == tenant)
                .ok_or(FlowError::AccessTokenInvalid)?;
            claims.sid.ok_or(FlowError::AccessTokenInvalid)?
        }
        SignOutWith::RefreshToken(token) => {
            ctx.store
                .tx(|tx| sessions::session_of_token(tx, tenant, token))?
                .ok_or(FlowError::RefreshTokenInvalid)?
                .session_id
        }
    };
    let user = ctx
        .store
        .tx(|tx| sessions::sign_out(tx, tenant, &session_id, t))?
        .ok_or(FlowError::AccessTokenInvalid)?;
    count(ctx, Counter::SignOut, tenant, None);
    ctx.audit.record(
        Event::new(Action::SignOut, Some(tenant), &user, ctx.ip).with("sid", session_id.as_str()),
    );
    Ok(())
}
