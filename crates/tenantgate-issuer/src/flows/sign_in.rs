//! Sign-in: email and password for one tenant, throttled per address, per account (across all
//! its tenants) and overall; starts a session and signs its first access token.

use serde::Deserialize;

use super::token::session_token;
use super::{count, rng_failed, FlowError, LoginMethod};
use crate::audit::{Action, Event};
use crate::metrics::{Counter, UNKNOWN_TENANT};
use crate::ops::Ctx;
use crate::password::HashGate;
use crate::ratelimit::{SignInThrottle, Throttled};
use crate::sessions::{self, Issued, Secrets, StartRefused};
use crate::time::{now, now_ms};
use crate::{directory, logins, mfa, password, random_token, validate};

/// How the client wants the refresh token.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// `HttpOnly` cookie scoped to the refresh path, plus a CSRF token in the body (browsers).
    #[default]
    Cookie,
    /// The refresh token in the JSON body (non-browser clients; no cookie, no CSRF).
    Body,
}

impl Delivery {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Delivery::Cookie => "cookie",
            Delivery::Body => "body",
        }
    }
}

/// A sign-in attempt as the client sent it (validated here).
pub struct SignInInput {
    pub email: String,
    pub password: String,
    pub delivery: Delivery,
}

/// The attempt budgets sign-in draws from before any password is checked: per client address
/// (`ctx.ip`), per account (the normalized email, whatever the tenant) and overall, counted in
/// the database so that replicas share them.
pub struct SignInLimits<'a> {
    pub throttle: &'a SignInThrottle,
    /// Places for concurrent password checks (memory-bounded).
    pub hashing: &'a HashGate,
}

/// A started session.
pub struct SignedIn {
    pub issued: Issued,
    pub access_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// For cookie delivery: the token the client echoes in `X-CSRF-Token` when refreshing.
    pub csrf_token: Option<String>,
    /// When the session started.
    pub at: i64,
}

fn check_input(input: &SignInInput) -> Result<String, FlowError> {
    let email = validate::email("email", &input.email).map_err(FlowError::Invalid)?;
    if input.password.is_empty() {
        return Err(FlowError::Invalid("password: must not be empty".into()));
    }
    if input.password.chars().count() > validate::PASSWORD_MAX {
        return Err(FlowError::Invalid(format!(
            "password: must be at most {} characters",
            validate::PASSWORD_MAX
        )));
    }
    Ok(email)
}

/// Counts and audits one failed attempt.
pub(super) fn failed(ctx: &Ctx<'_>, tenant: &str, email: &str, reason: &str, user: Option<&str>) {
    count(ctx, Counter::SignInFailure, tenant, None);
    ctx.audit.record(
        Event::new(
            Action::SignInFailure,
            Some(tenant),
            user.unwrap_or("anonymous"),
            ctx.ip,
        )
        .with("email", email)
        .with("reason", reason),
    );
}

/// Takes one attempt from each budget; a refusal is counted, audited as a failure, and audited
/// once more (`sign_in_throttled`) when it is the one that trips the limit.
pub(super) fn take_attempt(
    ctx: &Ctx<'_>,
    limits: &SignInLimits<'_>,
    tenant: &str,
    email: &str,
) -> Result<(), FlowError> {
    let verdict = ctx
        .store
        .tx(|tx| limits.throttle.take(tx, email, ctx.ip, now_ms()))?;
    let Err(refusal) = verdict else {
        return Ok(());
    };
    failed(ctx, tenant, email, "rate_limited", None);
    Err(throttled(ctx, tenant, refusal, ("email", email)))
}

/// A sign-in attempt (a password, a code, a single sign-on starting) the throttle refused:
/// counted, audited as `sign_in_throttled` when it is the one that trips the limit (`attempt`
/// names what was tried), and answered 429 with the wait.
pub(super) fn throttled(
    ctx: &Ctx<'_>,
    tenant: &str,
    refusal: Throttled,
    attempt: (&str, &str),
) -> FlowError {
    let Throttled {
        scope,
        retry_after,
        tripped,
    } = refusal;
    count(ctx, Counter::SignInRateLimited, tenant, None);
    if tripped {
        ctx.audit.record(
            Event::new(Action::SignInThrottled, Some(tenant), "anonymous", ctx.ip)
                .with(attempt.0, attempt.1)
                .with("scope", scope.name())
                .with("retry_after", retry_after),
        );
    }
    FlowError::RateLimited { retry_after }
}

/// What a correct password leads to.
pub enum SignInOutcome {
    /// A session: no second factor applies.
    Session(Box<SignedIn>),
    /// The TOTP step comes next ([`super::mfa::second_factor`]).
    SecondFactor(SecondFactor),
}

/// The challenge that joins the password step to the TOTP step.
pub struct SecondFactor {
    /// Single use, valid [`mfa::CHALLENGE_TTL`] seconds, stored as a hash.
    pub challenge: String,
    pub expires_in: i64,
    /// The user must enroll first (TOTP is required of them and they have none).
    pub enroll: bool,
}

/// Signs a member of `tenant` in (the tenant id is already validated).
pub fn sign_in(
    ctx: &Ctx<'_>,
    limits: &SignInLimits<'_>,
    tenant: &str,
    input: &SignInInput,
) -> Result<SignInOutcome, FlowError> {
    let email = check_input(input)?;
    let t = now();
    let (lookup, methods) = ctx.store.tx(|tx| {
        let lookup = sessions::sign_in_lookup(tx, tenant, &email)?;
        Ok((lookup, logins::store::methods_of(tx, tenant)?))
    })?;
    let Some(tenant_row) = lookup.tenant else {
        count(ctx, Counter::SignInFailure, UNKNOWN_TENANT, None);
        return Err(FlowError::TenantNotFound);
    };
    let fail = |reason: &str, user: Option<&str>| failed(ctx, tenant, &email, reason, user);
    // Refused before any password is looked at: the tenant signs in through its IdP only.
    if !methods.password {
        fail("password_disabled", None);
        return Err(FlowError::LoginMethodDisabled(LoginMethod::Password));
    }
    // A place to hash first (a refusal costs no attempt), then the limits, then the password.
    let Some(permit) = limits.hashing.try_acquire() else {
        count(ctx, Counter::SignInFailure, tenant, None);
        return Err(FlowError::Busy { retry_after: 1 });
    };
    take_attempt(ctx, limits, tenant, &email)?;
    if tenant_row.disabled {
        fail("tenant_disabled", None);
        return Err(FlowError::TenantDisabled);
    }
    let user_id = match &lookup.user {
        Some((id, hash, member)) => {
            let ok = password::verify(&input.password, hash);
            if !ok || !*member {
                fail(if ok { "not_a_member" } else { "wrong_password" }, Some(id));
                return Err(FlowError::InvalidCredentials);
            }
            id.clone()
        }
        None => {
            password::verify_dummy(&input.password);
            fail("unknown_user", None);
            return Err(FlowError::InvalidCredentials);
        }
    };
    drop(permit);
    let (roles, enrolled) = ctx.store.tx(|tx| {
        Ok((
            directory::roles_of(tx, tenant, &user_id)?,
            mfa::enrolled(tx, &user_id)?,
        ))
    })?;
    if methods.totp_applies(&roles, enrolled) {
        let challenge = format!("tgc_{}", random_token(32).map_err(|_| rng_failed())?);
        ctx.store.tx(|tx| {
            mfa::create_challenge(tx, &challenge, tenant, &user_id, input.delivery.name(), t)
        })?;
        ctx.audit.record(
            Event::new(Action::SignInChallenge, Some(tenant), &user_id, ctx.ip)
                .with("enroll", !enrolled),
        );
        return Ok(SignInOutcome::SecondFactor(SecondFactor {
            challenge,
            expires_in: mfa::CHALLENGE_TTL,
            enroll: !enrolled,
        }));
    }
    let who = Who {
        tenant,
        user_id: &user_id,
        email: &email,
    };
    open_session(ctx, &who, input.delivery, &["pwd"], t)
        .map(|s| SignInOutcome::Session(Box::new(s)))
}

/// Whose session is being opened (for the session and the audit lines).
pub(super) struct Who<'a> {
    pub tenant: &'a str,
    pub user_id: &'a str,
    /// How the user identified (email, or the IdP's subject), for the audit of a refusal.
    pub email: &'a str,
}

/// Starts the session of an authenticated member and signs its first access token: the one
/// place where every way of signing in (password, TOTP, SSO) ends, so their sessions are the
/// same. `amr` says how the user authenticated.
pub(super) fn open_session(
    ctx: &Ctx<'_>,
    who: &Who<'_>,
    delivery: Delivery,
    amr: &[&str],
    t: i64,
) -> Result<SignedIn, FlowError> {
    let (tenant, user_id) = (who.tenant, who.user_id);
    let fail = |reason: &str| failed(ctx, tenant, who.email, reason, Some(user_id));
    let amr: Vec<String> = amr.iter().map(|a| a.to_string()).collect();
    let secrets = Secrets::generate().map_err(|_| rng_failed())?;
    let issued = match ctx
        .store
        .tx(|tx| sessions::start(tx, tenant, user_id, &secrets, &amr, t))?
    {
        Ok(issued) => issued,
        Err(StartRefused::TenantGone) => return Err(FlowError::TenantNotFound),
        Err(StartRefused::TenantDisabled) => {
            fail("tenant_disabled");
            return Err(FlowError::TenantDisabled);
        }
        Err(StartRefused::NotMember) => {
            fail("not_a_member");
            return Err(FlowError::InvalidCredentials);
        }
    };
    let (access_token, expires_in) = session_token(ctx, &issued, t)?;
    count(ctx, Counter::SignInSuccess, tenant, None);
    ctx.audit.record(
        Event::new(Action::SignIn, Some(tenant), user_id, ctx.ip)
            .roles(&issued.roles)
            .with("sid", issued.session_id.as_str())
            .with("delivery", delivery.name())
            .with("amr", amr.clone()),
    );
    Ok(SignedIn {
        issued,
        access_token,
        expires_in,
        csrf_token: (delivery == Delivery::Cookie).then_some(secrets.csrf_token),
        at: t,
    })
}
