//! The session flows: sign-in, refresh and sign-out, and the signing of access tokens they share
//! with `mint`. Each flow takes already-parsed input, runs its storage work, counts its metrics
//! and writes its audit lines; the transports only parse the request and render the outcome
//! ([`crate::http`] runs every flow, [`crate::cli`] runs `mint`), so the behaviour lives here
//! once.
//!
//! Every flow blocks (storage, Argon2, RSA): async callers run it on the blocking pool.

mod elevate;
mod mfa;
mod refresh;
mod sign_in;
mod sign_out;
mod sso;
mod token;

use std::fmt;

pub use elevate::{elevate, ElevateInput, Elevated};
pub use mfa::{
    confirm as confirm_totp, enroll as enroll_totp, second_factor, EnrollAs, Enrolled,
    SecondFactorDone, SecondFactorInput,
};
pub use refresh::{refresh, Presented, Refreshed};
pub use sign_in::{
    sign_in, Delivery, SecondFactor, SignInInput, SignInLimits, SignInOutcome, SignedIn,
};
pub use sign_out::{sign_out, SignOutWith};
pub use sso::{callback_url, sso_callback, sso_start, CallbackInput, SsoDone};
pub use token::{audience_claim, mint};

use crate::keys::KeyError;
use crate::metrics::Counter;
use crate::ops::Ctx;
use crate::storage::StoreError;

/// Why a flow refused or failed. The HTTP API maps each to a stable error code; the CLI prints
/// the message.
#[derive(Debug)]
pub enum FlowError {
    /// The input is malformed; the message names the field.
    Invalid(String),
    TenantNotFound,
    TenantDisabled,
    /// Wrong password, unknown user, or a user who is not a member of the tenant.
    InvalidCredentials,
    RateLimited {
        retry_after: u64,
    },
    /// Every password-hashing place is taken; retry shortly.
    Busy {
        retry_after: u64,
    },
    RefreshTokenInvalid,
    CsrfInvalid,
    /// A rotated refresh token came back: its session family is revoked.
    TokenTheftDetected,
    SessionRevoked,
    SessionExpired,
    AccessTokenInvalid,
    /// The sign-in challenge is unknown, expired, spent, or of another tenant.
    ChallengeInvalid,
    /// The TOTP or recovery code is wrong.
    TotpInvalid,
    /// The TOTP code's step was already used.
    TotpReplayed,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
    /// The tenant has this login method off.
    LoginMethodDisabled(LoginMethod),
    /// The SSO callback's `state` is unknown, expired, spent, or of another tenant.
    SsoStateInvalid,
    /// The IdP refused the sign-in (its `error`).
    SsoIdpRefused(String),
    /// The IdP refused the authorization code (replayed or expired).
    SsoCodeRejected(String),
    /// The ID token does not verify.
    SsoIdToken(crate::sso::id_token::IdTokenError),
    /// The tenant's IdP cannot be reached or answers something unusable.
    SsoIdp(String),
    Store(StoreError),
    Keys(KeyError),
    Internal(String),
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Invalid(m) | FlowError::Internal(m) => f.write_str(m),
            FlowError::TenantNotFound => f.write_str("no such tenant"),
            FlowError::TenantDisabled => f.write_str("this tenant is disabled"),
            FlowError::InvalidCredentials => f.write_str(
                "email or password is wrong, or the user is not a member of this tenant",
            ),
            FlowError::RateLimited { retry_after } => {
                write!(f, "too many sign-in attempts; retry in {retry_after} s")
            }
            FlowError::Busy { retry_after } => write!(
                f,
                "too many sign-ins are being checked at once; retry in {retry_after} s"
            ),
            FlowError::RefreshTokenInvalid => f.write_str("the refresh token is unknown"),
            FlowError::CsrfInvalid => f.write_str("the CSRF token does not match this session"),
            FlowError::TokenTheftDetected => {
                f.write_str("this refresh token was already used; the session is revoked")
            }
            FlowError::SessionRevoked => f.write_str("the session was revoked"),
            FlowError::SessionExpired => f.write_str("the session timed out"),
            FlowError::AccessTokenInvalid => {
                f.write_str("the access token is not valid for this tenant or carries no session")
            }
            FlowError::LoginMethodDisabled(m) => f.write_str(m.refusal()),
            FlowError::ChallengeInvalid => f.write_str(
                "the sign-in challenge is unknown, expired or already used; sign in again with your password",
            ),
            FlowError::TotpInvalid => f.write_str(
                "the code is wrong; enter the code your authenticator app shows now (or an unused recovery code)",
            ),
            FlowError::TotpReplayed => f.write_str(
                "this code was already used; wait for the next one your authenticator app shows",
            ),
            FlowError::TotpAlreadyEnrolled => f.write_str(
                "TOTP is already set up for this user; an administrator can reset it",
            ),
            FlowError::TotpNotEnrolled => f.write_str(
                "TOTP is not set up for this user yet; enroll first (POST .../totp/enroll)",
            ),
            FlowError::SsoStateInvalid => f.write_str(
                "the sign-in state is unknown, expired, already used or of another tenant; start the single sign-on again",
            ),
            FlowError::SsoIdpRefused(e) => write!(f, "the IdP refused the sign-in ({e})"),
            FlowError::SsoCodeRejected(m) => write!(
                f,
                "the IdP refused the authorization code (already used or expired: {m}); start the single sign-on again"
            ),
            FlowError::SsoIdToken(e) => write!(f, "{e}; the sign-in is refused"),
            FlowError::SsoIdp(m) => f.write_str(m),
            FlowError::Store(e) => e.fmt(f),
            FlowError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FlowError {}

/// A way to sign in that a tenant may turn off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    Password,
    Sso,
}

impl LoginMethod {
    /// What a refused client is told (and what to do instead).
    pub fn refusal(self) -> &'static str {
        match self {
            LoginMethod::Password => {
                "this tenant does not allow signing in with a password; use its single sign-on"
            }
            LoginMethod::Sso => {
                "this tenant has no single sign-on; sign in with email and password"
            }
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        FlowError::Store(e)
    }
}

impl From<KeyError> for FlowError {
    fn from(e: KeyError) -> Self {
        FlowError::Keys(e)
    }
}

fn rng_failed() -> FlowError {
    FlowError::Internal("random generator failed".into())
}

/// Counts `counter` for `tenant` when the caller keeps metrics (the server does, the CLI not).
fn count(ctx: &Ctx<'_>, counter: Counter, tenant: &str, reason: Option<&str>) {
    if let Some(m) = ctx.metrics {
        m.inc(counter, Some(tenant), reason);
    }
}
