//! The server side of an SSO sign-in in flight: its `state` (stored as a hash), the tenant that
//! started it, the `nonce` the ID token must carry and the PKCE verifier. A record lives
//! [`STATE_TTL`] seconds and is taken once: a callback with a replayed, expired or foreign
//! `state` finds nothing, so a callback can only finish the sign-in its own tenant started.

use crate::sha256_b64;
use crate::storage::{StoreError, Tx};

/// Seconds a started SSO sign-in may take at the IdP.
pub const STATE_TTL: i64 = 600;

/// What the callback needs from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub nonce: String,
    pub code_verifier: String,
    /// Where the browser goes after the sign-in (checked when the sign-in started).
    pub redirect: String,
}

/// Stores a started sign-in of `tenant`.
pub fn put(
    tx: &mut dyn Tx,
    state: &str,
    tenant: &str,
    pending: &Pending,
    now: i64,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO sso_states (state_hash, tenant_id, nonce, code_verifier, redirect, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            sha256_b64(state.as_bytes()).into(),
            tenant.into(),
            pending.nonce.as_str().into(),
            pending.code_verifier.as_str().into(),
            pending.redirect.as_str().into(),
            now.saturating_add(STATE_TTL).into(),
        ],
    )?;
    Ok(())
}

/// Takes the sign-in `state` names, if it is of `tenant`, unexpired and not taken before
/// (compare-and-set: of two callbacks with one `state`, one gets it).
pub fn take(
    tx: &mut dyn Tx,
    state: &str,
    tenant: &str,
    now: i64,
) -> Result<Option<Pending>, StoreError> {
    let hash = sha256_b64(state.as_bytes());
    let taken = tx.exec(
        "UPDATE sso_states SET used_at = $1
         WHERE state_hash = $2 AND tenant_id = $3 AND expires_at > $1 AND used_at IS NULL",
        &[now.into(), hash.as_str().into(), tenant.into()],
    )?;
    if taken != 1 {
        return Ok(None);
    }
    tx.query_opt(
        "SELECT nonce, code_verifier, redirect FROM sso_states WHERE state_hash = $1",
        &[hash.into()],
    )?
    .map(|r| {
        Ok(Pending {
            nonce: r.text(0)?,
            code_verifier: r.text(1)?,
            redirect: r.text(2)?,
        })
    })
    .transpose()
}

/// Deletes records expired for a day.
pub fn purge(tx: &mut dyn Tx, now: i64) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM sso_states WHERE expires_at < $1",
        &[now.saturating_sub(86_400).into()],
    )
}
