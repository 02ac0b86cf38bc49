//! TOTP state in the database: each user's secret (sealed with the key-encryption key when one
//! is configured), the last step accepted (a code is accepted once: replay protection), hashed
//! one-use recovery codes, and the short-lived single-use challenges that join the two steps of
//! a sign-in. The codes themselves are computed in [`crate::totp`].

use crate::config::Config;
use crate::logins::seal::{SealError, Sealer};
use crate::sha256_b64;
use crate::storage::{StoreError, Tx};

/// A challenge lives this long after the password step.
pub const CHALLENGE_TTL: i64 = 300;
/// Wrong codes one challenge takes before it is spent (a new password step is needed).
pub const CHALLENGE_ATTEMPTS: i64 = 5;

/// Prefix of a secret kept in clear, when the issuer has no key-encryption key.
const PLAIN: &str = "plain.";

fn owner(user_id: &str) -> String {
    format!("totp-secret:{user_id}")
}

/// Seals a TOTP secret for `user_id` (kept in clear, prefixed, without a key-encryption key).
pub fn seal_secret(config: &Config, user_id: &str, secret: &[u8]) -> Result<String, SealError> {
    match Sealer::open(config)?.seal(&owner(user_id), secret) {
        Err(SealError::NoKey) => Ok(format!("{PLAIN}{}", crate::b64(secret))),
        other => other,
    }
}

pub fn open_secret(config: &Config, user_id: &str, stored: &str) -> Result<Vec<u8>, SealError> {
    match stored.strip_prefix(PLAIN) {
        Some(b) => crate::b64_decode(b).ok_or(SealError::Open),
        None => Sealer::open(config)?.open_secret(&owner(user_id), stored),
    }
}

/// A user's TOTP record.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    pub stored_secret: String,
    pub confirmed: bool,
    pub last_step: i64,
}

pub fn record(tx: &mut dyn Tx, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
    tx.query_opt(
        "SELECT secret, confirmed_at, last_step FROM user_totp WHERE user_id = $1",
        &[user_id.into()],
    )?
    .map(|r| {
        Ok(TotpRecord {
            stored_secret: r.text(0)?,
            confirmed: r.opt_int(1)?.is_some(),
            last_step: r.int(2)?,
        })
    })
    .transpose()
}

/// Whether the user has confirmed a TOTP enrollment.
pub fn enrolled(tx: &mut dyn Tx, user_id: &str) -> Result<bool, StoreError> {
    Ok(record(tx, user_id)?.is_some_and(|r| r.confirmed))
}

/// Stores a new, unconfirmed secret (replacing an unconfirmed one); `false` when the user has a
/// confirmed one already (it is not replaced).
pub fn put_pending(
    tx: &mut dyn Tx,
    user_id: &str,
    stored_secret: &str,
    now: i64,
) -> Result<bool, StoreError> {
    if record(tx, user_id)?.is_some_and(|r| r.confirmed) {
        return Ok(false);
    }
    tx.exec(
        "DELETE FROM user_totp WHERE user_id = $1",
        &[user_id.into()],
    )?;
    tx.exec(
        "INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3)",
        &[user_id.into(), stored_secret.into(), now.into()],
    )?;
    Ok(true)
}

/// Confirms the pending secret with the step of a first valid code, and replaces the
/// recovery codes (given hashed); `false` if there was nothing pending (a concurrent confirm).
pub fn confirm(
    tx: &mut dyn Tx,
    user_id: &str,
    step: i64,
    recovery_hashes: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx.exec(
        "UPDATE user_totp SET confirmed_at = $1, last_step = $2
         WHERE user_id = $3 AND confirmed_at IS NULL",
        &[now.into(), step.into(), user_id.into()],
    )?;
    if n != 1 {
        return Ok(false);
    }
    tx.exec(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        &[user_id.into()],
    )?;
    for h in recovery_hashes {
        tx.exec(
            "INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            &[user_id.into(), h.into()],
        )?;
    }
    Ok(true)
}

/// Records `step` as the last accepted one if it is newer than the last: `false` for a code of
/// a step already used (replay), also when two requests race with the same code.
pub fn accept_step(tx: &mut dyn Tx, user_id: &str, step: i64) -> Result<bool, StoreError> {
    let n = tx.exec(
        "UPDATE user_totp SET last_step = $1
         WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
        &[step.into(), user_id.into()],
    )?;
    Ok(n == 1)
}

/// Spends a recovery code (normalized); `false` if unknown or already used.
pub fn use_recovery_code(
    tx: &mut dyn Tx,
    user_id: &str,
    normalized: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx.exec(
        "UPDATE totp_recovery_codes SET used_at = $1
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        &[
            now.into(),
            user_id.into(),
            sha256_b64(normalized.as_bytes()).into(),
        ],
    )?;
    Ok(n == 1)
}

/// How many unused recovery codes a user has left.
pub fn recovery_codes_left(tx: &mut dyn Tx, user_id: &str) -> Result<i64, StoreError> {
    tx.query_opt(
        "SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        &[user_id.into()],
    )?
    .map_or(Ok(0), |r| r.int(0))
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: String,
    pub delivery: String,
}

pub fn create_challenge(
    tx: &mut dyn Tx,
    token: &str,
    tenant: &str,
    user_id: &str,
    delivery: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO sign_in_challenges (id_hash, tenant_id, user_id, delivery, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            sha256_b64(token.as_bytes()).into(),
            tenant.into(),
            user_id.into(),
            delivery.into(),
            now.saturating_add(CHALLENGE_TTL).into(),
        ],
    )?;
    Ok(())
}

/// The live challenge `token` of `tenant`: known, of this tenant, unexpired, unused.
pub fn challenge(
    tx: &mut dyn Tx,
    token: &str,
    tenant: &str,
    now: i64,
) -> Result<Option<Challenge>, StoreError> {
    tx.query_opt(
        "SELECT user_id, delivery FROM sign_in_challenges
         WHERE id_hash = $1 AND tenant_id = $2 AND expires_at > $3 AND used_at IS NULL",
        &[
            sha256_b64(token.as_bytes()).into(),
            tenant.into(),
            now.into(),
        ],
    )?
    .map(|r| {
        Ok(Challenge {
            user_id: r.text(0)?,
            delivery: r.text(1)?,
        })
    })
    .transpose()
}

/// Marks the challenge used (compare-and-set: of two concurrent uses, one wins).
pub fn consume_challenge(tx: &mut dyn Tx, token: &str, now: i64) -> Result<bool, StoreError> {
    let n = tx.exec(
        "UPDATE sign_in_challenges SET used_at = $1 WHERE id_hash = $2 AND used_at IS NULL",
        &[now.into(), sha256_b64(token.as_bytes()).into()],
    )?;
    Ok(n == 1)
}

/// Counts a wrong code; the challenge is spent at [`CHALLENGE_ATTEMPTS`].
pub fn fail_challenge(tx: &mut dyn Tx, token: &str, now: i64) -> Result<(), StoreError> {
    let hash = sha256_b64(token.as_bytes());
    tx.exec(
        "UPDATE sign_in_challenges SET attempts = attempts + 1 WHERE id_hash = $1",
        &[hash.as_str().into()],
    )?;
    tx.exec(
        "UPDATE sign_in_challenges SET used_at = $1
         WHERE id_hash = $2 AND attempts >= $3 AND used_at IS NULL",
        &[now.into(), hash.into(), CHALLENGE_ATTEMPTS.into()],
    )?;
    Ok(())
}

/// Deletes challenges expired for a day.
pub fn purge(tx: &mut dyn Tx, now: i64) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM sign_in_challenges WHERE expires_at < $1",
        &[now.saturating_sub(86_400).into()],
    )
}

/// Removes a user's TOTP secret and recovery codes (an administrator's reset, e.g. after a
/// lost phone); returns whether there was one.
pub fn reset(tx: &mut dyn Tx, user_id: &str) -> Result<bool, StoreError> {
    tx.exec(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        &[user_id.into()],
    )?;
    Ok(tx.exec(
        "DELETE FROM user_totp WHERE user_id = $1",
        &[user_id.into()],
    )? > 0)
}

/// The email of a user (for the per-account throttle and the authenticator's label).
pub fn email_of(tx: &mut dyn Tx, user_id: &str) -> Result<String, StoreError> {
    tx.query_opt("SELECT email FROM users WHERE id = $1", &[user_id.into()])?
        .map(|r| r.text(0))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no user {user_id:?}")))
}
