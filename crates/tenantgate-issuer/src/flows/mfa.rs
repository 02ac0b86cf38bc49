//! The TOTP flows: enrollment (a secret, its `otpauth://` URI and QR code; confirmed with a
//! first code, which returns the recovery codes once), and the second step of a sign-in (the
//! challenge from the password step and a code or a recovery code). Every code check draws
//! from the sign-in throttle, per account, address and overall, like a password check.

use super::sign_in::{failed, open_session, take_attempt, Who};
use super::{rng_failed, Delivery, FlowError, SignInLimits, SignedIn};
use crate::audit::{Action, Event};
use crate::mfa::{self, TotpRecord};
use crate::ops::Ctx;
use crate::time::now;
use crate::{directory, sha256_b64, totp};

/// Who asks to enroll: a signed-in member (its access token) or a sign-in waiting for its
/// second factor (its challenge), for members who must enroll before they can sign in.
pub enum EnrollAs {
    AccessToken(String),
    Challenge(String),
}

/// A new, unconfirmed TOTP secret.
pub struct Enrolled {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// The second step of a sign-in.
pub struct SecondFactorInput {
    pub challenge: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// The session, and the recovery codes when this step also confirmed an enrollment.
pub struct SecondFactorDone {
    pub signed_in: SignedIn,
    pub recovery_codes: Option<Vec<String>>,
}

/// The user an access token of `tenant` belongs to (one with a session: not a minted one).
fn user_of_token(ctx: &Ctx<'_>, tenant: &str, token: &str, t: i64) -> Result<String, FlowError> {
    let claims = ctx
        .keys
        .verify(ctx.store, token, &ctx.config.issuer, t)?
        .filter(|c| c.tenant_id == tenant && c.sid.is_some())
        .ok_or(FlowError::AccessTokenInvalid)?;
    Ok(claims.sub)
}

fn challenge_user(
    ctx: &Ctx<'_>,
    tenant: &str,
    token: &str,
    t: i64,
) -> Result<mfa::Challenge, FlowError> {
    ctx.store
        .tx(|tx| mfa::challenge(tx, token, tenant, t))?
        .ok_or(FlowError::ChallengeInvalid)
}

/// Starts (or restarts) a TOTP enrollment: a new secret, replacing an unconfirmed one.
pub fn enroll(ctx: &Ctx<'_>, tenant: &str, who: &EnrollAs) -> Result<Enrolled, FlowError> {
    let t = now();
    let user_id = match who {
        EnrollAs::AccessToken(token) => user_of_token(ctx, tenant, token, t)?,
        EnrollAs::Challenge(c) => challenge_user(ctx, tenant, c, t)?.user_id,
    };
    let mut secret = [0u8; totp::SECRET_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| rng_failed())?;
    let stored = mfa::seal_secret(ctx.config, &user_id, &secret)
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let (put, email, label) = ctx.store.tx(|tx| {
        let put = mfa::put_pending(tx, &user_id, &stored, t)?;
        let label = directory::require_tenant(tx, tenant)?.name;
        Ok((put, mfa::email_of(tx, &user_id)?, label))
    })?;
    if !put {
        return Err(FlowError::TotpAlreadyEnrolled);
    }
    ctx.audit.record(Event::new(
        Action::TotpEnroll,
        Some(tenant),
        &user_id,
        ctx.ip,
    ));
    Ok(Enrolled {
        secret_base32: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&label, &email, &secret),
    })
}

/// Fresh recovery codes (shown once) and their hashes (stored).
fn recovery_codes() -> Result<(Vec<String>, Vec<String>), FlowError> {
    let rng = ring::rand::SystemRandom::new();
    let mut shown = Vec::with_capacity(totp::RECOVERY_CODES);
    for _ in 0..totp::RECOVERY_CODES {
        let mut raw = [0u8; 10];
        ring::rand::SecureRandom::fill(&rng, &mut raw).map_err(|_| rng_failed())?;
        shown.push(totp::recovery_code(&raw));
    }
    let hashes = shown
        .iter()
        .map(|c| sha256_b64(totp::normalize_recovery_code(c).as_bytes()))
        .collect();
    Ok((shown, hashes))
}

/// The outcome of checking one code against a user's record.
enum Checked {
    Accepted {
        recovery_codes: Option<Vec<String>>,
        amr: &'static [&'static str],
    },
    Wrong(&'static str),
}

/// Checks a TOTP code: a confirmed secret accepts each step once; an unconfirmed one is
/// confirmed by it (and recovery codes are made).
fn check_code(
    ctx: &Ctx<'_>,
    user_id: &str,
    record: &TotpRecord,
    code: &str,
    t: i64,
) -> Result<Checked, FlowError> {
    let secret = mfa::open_secret(ctx.config, user_id, &record.stored_secret)
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let Some(step) = totp::matching_step(&secret, code.trim(), t) else {
        return Ok(Checked::Wrong("totp_invalid"));
    };
    const AMR: &[&str] = &["pwd", "otp", "mfa"];
    if record.confirmed {
        let fresh = ctx.store.tx(|tx| mfa::accept_step(tx, user_id, step))?;
        return Ok(if fresh {
            Checked::Accepted {
                recovery_codes: None,
                amr: AMR,
            }
        } else {
            Checked::Wrong("totp_replayed")
        });
    }
    let (shown, hashes) = recovery_codes()?;
    let confirmed = ctx
        .store
        .tx(|tx| mfa::confirm(tx, user_id, step, &hashes, t))?;
    Ok(if confirmed {
        Checked::Accepted {
            recovery_codes: Some(shown),
            amr: AMR,
        }
    } else {
        Checked::Wrong("totp_replayed")
    })
}

fn check_recovery(
    ctx: &Ctx<'_>,
    user_id: &str,
    record: &TotpRecord,
    code: &str,
    t: i64,
) -> Result<Checked, FlowError> {
    if !record.confirmed {
        return Err(FlowError::TotpNotEnrolled);
    }
    let normalized = totp::normalize_recovery_code(code);
    let used = ctx
        .store
        .tx(|tx| mfa::use_recovery_code(tx, user_id, &normalized, t))?;
    Ok(if used {
        Checked::Accepted {
            recovery_codes: None,
            amr: &["pwd", "mfa"],
        }
    } else {
        Checked::Wrong("recovery_code_invalid")
    })
}

fn error_of(reason: &str) -> FlowError {
    match reason {
        "totp_replayed" => FlowError::TotpReplayed,
        _ => FlowError::TotpInvalid,
    }
}

/// The second step of a sign-in: the challenge and a TOTP code (or a recovery code).
pub fn second_factor(
    ctx: &Ctx<'_>,
    limits: &SignInLimits<'_>,
    tenant: &str,
    input: &SecondFactorInput,
) -> Result<SecondFactorDone, FlowError> {
    let t = now();
    let code = match (&input.code, &input.recovery_code) {
        (Some(c), None) | (None, Some(c)) if !c.is_empty() && c.len() <= 64 => c,
        _ => {
            return Err(FlowError::Invalid(
                "send exactly one of code (6 digits) and recovery_code".into(),
            ))
        }
    };
    let Ok(ch) = challenge_user(ctx, tenant, &input.challenge, t) else {
        failed(ctx, tenant, "", "challenge_invalid", None);
        return Err(FlowError::ChallengeInvalid);
    };
    let (email, record) = ctx.store.tx(|tx| {
        Ok((
            mfa::email_of(tx, &ch.user_id)?,
            mfa::record(tx, &ch.user_id)?,
        ))
    })?;
    take_attempt(ctx, limits, tenant, &email)?;
    let record = record.ok_or(FlowError::TotpNotEnrolled)?;
    let checked = match input.code {
        Some(_) => check_code(ctx, &ch.user_id, &record, code, t)?,
        None => check_recovery(ctx, &ch.user_id, &record, code, t)?,
    };
    let (recovery_codes, amr) = match checked {
        Checked::Accepted {
            recovery_codes,
            amr,
        } => (recovery_codes, amr),
        Checked::Wrong(reason) => {
            ctx.store
                .tx(|tx| mfa::fail_challenge(tx, &input.challenge, t))?;
            failed(ctx, tenant, &email, reason, Some(&ch.user_id));
            return Err(error_of(reason));
        }
    };
    if !ctx
        .store
        .tx(|tx| mfa::consume_challenge(tx, &input.challenge, t))?
    {
        failed(ctx, tenant, &email, "challenge_invalid", Some(&ch.user_id));
        return Err(FlowError::ChallengeInvalid);
    }
    if let Some(codes) = &recovery_codes {
        ctx.audit.record(
            Event::new(Action::TotpEnrolled, Some(tenant), &ch.user_id, ctx.ip)
                .with("recovery_codes", codes.len()),
        );
    }
    let delivery = if ch.delivery == "body" {
        Delivery::Body
    } else {
        Delivery::Cookie
    };
    let who = Who {
        tenant,
        user_id: &ch.user_id,
        email: &email,
    };
    let signed_in = open_session(ctx, &who, delivery, amr, t)?;
    Ok(SecondFactorDone {
        signed_in,
        recovery_codes,
    })
}

/// Confirms the enrollment of a signed-in member with a first code; returns the recovery
/// codes (shown once).
pub fn confirm(
    ctx: &Ctx<'_>,
    limits: &SignInLimits<'_>,
    tenant: &str,
    access_token: &str,
    code: &str,
) -> Result<Vec<String>, FlowError> {
    let t = now();
    let user_id = user_of_token(ctx, tenant, access_token, t)?;
    let (email, record) = ctx
        .store
        .tx(|tx| Ok((mfa::email_of(tx, &user_id)?, mfa::record(tx, &user_id)?)))?;
    take_attempt(ctx, limits, tenant, &email)?;
    let record = record.ok_or(FlowError::TotpNotEnrolled)?;
    if record.confirmed {
        return Err(FlowError::TotpAlreadyEnrolled);
    }
    match check_code(ctx, &user_id, &record, code, t)? {
        Checked::Accepted {
            recovery_codes: Some(codes),
            ..
        } => {
            ctx.audit.record(
                Event::new(Action::TotpEnrolled, Some(tenant), &user_id, ctx.ip)
                    .with("recovery_codes", codes.len()),
            );
            Ok(codes)
        }
        Checked::Accepted { .. } => Err(FlowError::TotpAlreadyEnrolled),
        Checked::Wrong(reason) => {
            failed(ctx, tenant, &email, reason, Some(&user_id));
            Err(error_of(reason))
        }
    }
}
