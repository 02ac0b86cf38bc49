//! Refresh: rotates the presented refresh token and signs a new access token. A rotated token
//! that comes back is theft (the session family is revoked), unless its successor was never used:
//! then the answer was lost, and the same successor is sent again with a new access token.

use super::token::session_token;
use super::{count, rng_failed, FlowError};
use crate::audit::{Action, Event};
use crate::directory;
use crate::metrics::{Counter, UNKNOWN_TENANT};
use crate::ops::Ctx;
use crate::sessions::{self, Csrf, Issued, Refresh, Secrets, SessionRef};
use crate::time::now;

/// The refresh token as the client presented it.
pub enum Presented {
    /// From the `HttpOnly` cookie: only valid with the session's CSRF token.
    Cookie { token: String, csrf: Option<String> },
    /// From the request body (non-browser clients; no CSRF).
    Body(String),
}

impl Presented {
    /// Whether the new refresh token goes back the same way (as the cookie).
    pub fn via_cookie(&self) -> bool {
        matches!(self, Presented::Cookie { .. })
    }
}

/// A rotated session.
pub struct Refreshed {
    pub issued: Issued,
    pub access_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// When the refresh happened.
    pub at: i64,
}

/// Rotates the refresh token of a session of `tenant` (the tenant id is already validated).
pub fn refresh(ctx: &Ctx<'_>, tenant: &str, presented: &Presented) -> Result<Refreshed, FlowError> {
    let t = now();
    if ctx
        .store
        .tx(|tx| directory::get_tenant(tx, tenant))?
        .is_none()
    {
        count(
            ctx,
            Counter::RefreshError,
            UNKNOWN_TENANT,
            Some("tenant_not_found"),
        );
        return Err(FlowError::TenantNotFound);
    }
    let (token, csrf) = match presented {
        Presented::Cookie { token, csrf } => (token.as_str(), Csrf::Header(csrf.as_deref())),
        Presented::Body(token) => (token.as_str(), Csrf::NotRequired),
    };
    let secrets = Secrets::generate().map_err(|_| rng_failed())?;
    let outcome = ctx
        .store
        .tx(|tx| sessions::refresh(tx, tenant, token, csrf, &secrets, t))?;
    let resent = matches!(outcome, Refresh::Resent(_));
    let issued = rotated(ctx, tenant, outcome)?;
    let (access_token, expires_in) = session_token(ctx, &issued, t)?;
    count(ctx, Counter::RefreshSuccess, tenant, None);
    ctx.audit.record(
        Event::new(Action::Refresh, Some(tenant), &issued.user_id, ctx.ip)
            .roles(&issued.roles)
            .with("sid", issued.session_id.as_str())
            .with("resent", resent),
    );
    Ok(Refreshed {
        issued,
        access_token,
        expires_in,
        at: t,
    })
}

/// The rotated session, or the counted and audited refusal.
fn rotated(ctx: &Ctx<'_>, tenant: &str, outcome: Refresh) -> Result<Issued, FlowError> {
    let refused = |reason: &str, session: Option<&SessionRef>, error: FlowError| {
        count(ctx, Counter::RefreshError, tenant, Some(reason));
        ctx.audit
            .record(refused_event(ctx, tenant, reason, session));
        error
    };
    Err(match outcome {
        Refresh::Rotated(issued) | Refresh::Resent(issued) => return Ok(issued),
        Refresh::Invalid => refused(
            "refresh_token_invalid",
            None,
            FlowError::RefreshTokenInvalid,
        ),
        Refresh::CsrfInvalid(s) => refused("csrf_invalid", Some(&s), FlowError::CsrfInvalid),
        Refresh::TheftDetected(s) => theft(ctx, tenant, &s),
        Refresh::Revoked { session, reason } => {
            count(ctx, Counter::RefreshError, tenant, Some("session_revoked"));
            ctx.audit.record(
                refused_event(ctx, tenant, "session_revoked", Some(&session))
                    .with("revoke_reason", reason),
            );
            FlowError::SessionRevoked
        }
        Refresh::Expired { session, idle } => {
            let reason = if idle {
                "idle_timeout"
            } else {
                "absolute_timeout"
            };
            refused(reason, Some(&session), FlowError::SessionExpired)
        }
        Refresh::TenantDisabled(s) => {
            refused("tenant_disabled", Some(&s), FlowError::TenantDisabled)
        }
    })
}

/// The audit line of a refused refresh: `reason` first, then the session (if one was found).
fn refused_event(ctx: &Ctx<'_>, tenant: &str, reason: &str, session: Option<&SessionRef>) -> Event {
    let e = Event::new(
        Action::RefreshFailure,
        Some(tenant),
        session.map_or("anonymous", |s| s.user_id.as_str()),
        ctx.ip,
    )
    .with("reason", reason);
    match session {
        Some(s) => e.with("sid", s.session_id.as_str()),
        None => e,
    }
}

/// A rotated token came back: the store has revoked the session family; count and audit it.
fn theft(ctx: &Ctx<'_>, tenant: &str, s: &SessionRef) -> FlowError {
    count(ctx, Counter::TokenTheft, tenant, None);
    count(
        ctx,
        Counter::RefreshError,
        tenant,
        Some("token_theft_detected"),
    );
    let roles = ctx
        .store
        .tx(|tx| directory::roles_of(tx, tenant, &s.user_id))
        .unwrap_or_default();
    ctx.audit.record(
        Event::new(Action::TokenTheft, Some(tenant), &s.user_id, ctx.ip)
            .roles(&roles)
            .with("sid", s.session_id.as_str())
            .with("outcome", "session_family_revoked"),
    );
    FlowError::TokenTheftDetected
}
