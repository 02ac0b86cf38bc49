//! Sessions and rotating refresh tokens.
//!
//! A session is one sign-in of one user in one tenant; its id is the `sid` claim. Each refresh
//! consumes the presented refresh token and issues the next one of the same family (the session).
//! A token that was already consumed and comes back means two parties hold the family: the whole
//! session is revoked at once (RFC 6819 section 5.2.2.3, OAuth 2.0 Security BCP section 4.14),
//! with one exception: a client that lost the answer to its refresh may present the consumed
//! token again as long as the token that replaced it was never used, and gets that same token
//! back (see [`child_token`]). Only SHA-256 hashes of refresh and CSRF tokens are stored.

use super::directory::{self, Tenant};
use super::storage::{StoreError, Tx};
use super::{constant_time_eq, sha256_b64};

/// Fresh random values for a new session or a rotation, drawn before the transaction starts.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub session_id: String,
    pub refresh_token: String,
    pub csrf_token: String,
}

impl Secrets {
    pub fn generate() -> Result<Secrets, ring::error::Unspecified> {
        Ok(Secrets {
            session_id: super::random_token(18)?,
            refresh_token: format!("tgr_{}", super::random_token(32)?),
            csrf_token: super::random_token(24)?,
        })
    }
}

/// A session after sign-in or refresh: what the access token and the response are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub tenant: Tenant,
    pub user_id: String,
    pub session_id: String,
    /// The new refresh token (clear text, returned to the client once).
    pub refresh_token: String,
    /// Roles of the user in this tenant, now.
    pub roles: Vec<String>,
    /// When the refresh token stops working if unused (idle timeout).
    pub refresh_expires_at: i64,
    /// When the session ends whatever happens (absolute timeout).
    pub session_expires_at: i64,
    /// How the user authenticated at sign-in (the `amr` claim), kept for the session's life.
    pub amr: Vec<String>,
}

/// The `amr` of a session as stored; sessions from before it was stored were password ones.
fn amr_of(stored: Option<String>) -> Result<Vec<String>, StoreError> {
    match stored {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("amr of a session: {e}"))),
        None => Ok(vec!["pwd".to_string()]),
    }
}

/// What sign-in needs from the database before the (slow) password check.
#[derive(Debug, Clone)]
pub struct SignInLookup {
    pub tenant: Option<Tenant>,
    /// (user id, password hash, member of this tenant)
    pub user: Option<(String, String, bool)>,
}

pub fn sign_in_lookup(
    tx: &mut dyn Tx,
    tenant: &str,
    email: &str,
) -> Result<SignInLookup, StoreError> {
    let tenant_row = directory::get_tenant(tx, tenant)?;
    let user = match directory::find_user(tx, email)? {
        Some((u, hash)) => {
            let member = directory::is_member(tx, tenant, &u.id)?;
            Some((u.id, hash, member))
        }
        None => None,
    };
    Ok(SignInLookup {
        tenant: tenant_row,
        user,
    })
}

/// Why a session could not be started after the password matched (state changed meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefused {
    TenantGone,
    TenantDisabled,
    NotMember,
}

/// Starts a session for a user whose password was verified.
pub fn start(
    tx: &mut dyn Tx,
    tenant: &str,
    user_id: &str,
    secrets: &Secrets,
    amr: &[String],
    now: i64,
) -> Result<Result<Issued, StartRefused>, StoreError> {
    let Some(tenant) = directory::get_tenant(tx, tenant)? else {
        return Ok(Err(StartRefused::TenantGone));
    };
    if tenant.disabled {
        return Ok(Err(StartRefused::TenantDisabled));
    }
    if !directory::is_member(tx, &tenant.id, user_id)? {
        return Ok(Err(StartRefused::NotMember));
    }
    let expires_at = now.saturating_add(tenant.session_absolute);
    tx.exec(
        "INSERT INTO sessions (id, tenant_id, user_id, csrf_hash, created_at, last_refresh_at, expires_at, amr)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
        &[
            secrets.session_id.as_str().into(),
            tenant.id.as_str().into(),
            user_id.into(),
            sha256_b64(secrets.csrf_token.as_bytes()).into(),
            now.into(),
            expires_at.into(),
            serde_json::to_string(amr)
                .map_err(|e| StoreError::Invalid(e.to_string()))?
                .into(),
        ],
    )?;
    insert_refresh_token(tx, &secrets.refresh_token, &secrets.session_id, now)?;
    let roles = directory::roles_of(tx, &tenant.id, user_id)?;
    Ok(Ok(Issued {
        user_id: user_id.to_string(),
        session_id: secrets.session_id.clone(),
        refresh_token: secrets.refresh_token.clone(),
        roles,
        refresh_expires_at: now.saturating_add(tenant.refresh_idle).min(expires_at),
        session_expires_at: expires_at,
        amr: amr.to_vec(),
        tenant,
    }))
}

fn insert_refresh_token(
    tx: &mut dyn Tx,
    token: &str,
    session_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        &[
            sha256_b64(token.as_bytes()).into(),
            session_id.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// Whether the refresh request must carry the session's CSRF token.
#[derive(Debug, Clone, Copy)]
pub enum Csrf<'a> {
    /// The refresh token came in the JSON body (non-browser client): no ambient credential.
    NotRequired,
    /// The refresh token came in the cookie: the `X-CSRF-Token` header value, if any.
    Header(Option<&'a str>),
}

/// Whether the `X-CSRF-Token` header value hashes to the session's stored CSRF hash.
fn csrf_matches(header: Option<&str>, stored_hash: &str) -> bool {
    header.is_some_and(|h| {
        constant_time_eq(sha256_b64(h.as_bytes()).as_bytes(), stored_hash.as_bytes())
    })
}

/// Who a refused refresh concerned, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub session_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    Rotated(Issued),
    /// The presented token was already consumed but its successor was never used: the answer of
    /// that rotation was lost, and the same successor is handed out again.
    Resent(Issued),
    /// Unknown token, or a token of another tenant.
    Invalid,
    CsrfInvalid(SessionRef),
    /// A consumed token came back: the family is revoked now.
    TheftDetected(SessionRef),
    Revoked {
        session: SessionRef,
        reason: String,
    },
    Expired {
        session: SessionRef,
        idle: bool,
    },
    TenantDisabled(SessionRef),
}

/// The refresh token that follows `parent`: HMAC-SHA256 keyed by the parent token over a random
/// salt stored beside the parent's hash. A retry with the parent recomputes it, so the successor
/// is never stored in clear; an old token stolen later does not yield its successors offline
/// (the salt is only in the database).
fn child_token(parent: &str, salt: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, parent.as_bytes());
    format!(
        "tgr_{}",
        super::b64(ring::hmac::sign(&key, salt.as_bytes()).as_ref())
    )
}

/// For a consumed `token`: its successor if that was never used (locked until commit, so a
/// concurrent first use of the successor waits for this transaction), else `None` (a reuse).
fn unused_child(
    tx: &mut dyn Tx,
    token: &str,
    salt: Option<String>,
    session_id: &str,
) -> Result<Option<String>, StoreError> {
    let Some(salt) = salt else { return Ok(None) };
    let child = child_token(token, &salt);
    let unused = tx.exec(
        "UPDATE refresh_tokens SET rotated_at = rotated_at
         WHERE token_hash = $1 AND session_id = $2 AND rotated_at IS NULL",
        &[sha256_b64(child.as_bytes()).into(), session_id.into()],
    )?;
    Ok((unused == 1).then_some(child))
}

/// Consumes `token` and issues its successor (derived from `secrets.refresh_token` as the salt)
/// in its place, in one transaction.
pub fn refresh(
    tx: &mut dyn Tx,
    tenant: &str,
    token: &str,
    csrf: Csrf<'_>,
    secrets: &Secrets,
    now: i64,
) -> Result<Refresh, StoreError> {
    let hash = sha256_b64(token.as_bytes());
    let row = tx.query_opt(
        "SELECT rt.session_id, rt.rotated_at, s.tenant_id, s.user_id, s.csrf_hash, s.last_refresh_at,
                s.expires_at, s.revoked_at, s.revoke_reason, rt.child_salt, s.amr
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE rt.token_hash = $1",
        &[hash.as_str().into()],
    )?;
    let Some(row) = row else {
        return Ok(Refresh::Invalid);
    };
    let session = SessionRef {
        session_id: row.text(0)?,
        user_id: row.text(3)?,
    };
    if row.text(2)? != tenant {
        return Ok(Refresh::Invalid);
    }
    // CSRF first: a forged cross-site request must not be able to trigger theft revocation.
    if let Csrf::Header(header) = csrf {
        if !csrf_matches(header, &row.text(4)?) {
            return Ok(Refresh::CsrfInvalid(session));
        }
    }
    let mut resent = None;
    if row.opt_int(1)?.is_some() {
        resent = unused_child(tx, token, row.opt_text(9)?, &session.session_id)?;
        if resent.is_none() {
            revoke_family(tx, &session.session_id, "token_theft", now)?;
            return Ok(Refresh::TheftDetected(session));
        }
    }
    if row.opt_int(7)?.is_some() {
        let reason = row.opt_text(8)?.unwrap_or_else(|| "revoked".into());
        return Ok(Refresh::Revoked { session, reason });
    }
    let Some(tenant_row) = directory::get_tenant(tx, tenant)? else {
        return Ok(Refresh::Invalid);
    };
    let expires_at = row.int(6)?;
    let idle_until = row.int(5)?.saturating_add(tenant_row.refresh_idle);
    if now >= expires_at || now >= idle_until {
        // The absolute limit wins when both have passed.
        let idle = now < expires_at;
        return Ok(Refresh::Expired { session, idle });
    }
    if tenant_row.disabled {
        return Ok(Refresh::TenantDisabled(session));
    }
    let (next, outcome): (String, fn(Issued) -> Refresh) = match resent {
        Some(child) => (child, Refresh::Resent),
        None => match rotate(tx, token, &hash, &secrets.refresh_token, &session, now)? {
            Some((child, true)) => (child, Refresh::Rotated),
            Some((child, false)) => (child, Refresh::Resent),
            None => return Ok(Refresh::TheftDetected(session)),
        },
    };
    tx.exec(
        "UPDATE sessions SET last_refresh_at = $1 WHERE id = $2",
        &[now.into(), session.session_id.as_str().into()],
    )?;
    let roles = directory::roles_of(tx, tenant, &session.user_id)?;
    Ok(outcome(Issued {
        refresh_expires_at: now.saturating_add(tenant_row.refresh_idle).min(expires_at),
        session_expires_at: expires_at,
        tenant: tenant_row,
        user_id: session.user_id,
        session_id: session.session_id,
        refresh_token: next,
        roles,
        amr: amr_of(row.opt_text(10)?)?,
    }))
}

/// Consumes `token` (hash `hash`) and stores its successor; returns the successor (`true`: new,
/// `false`: the one a concurrent use created), or `None` when the token was consumed meanwhile
/// and its successor already used (then the family is revoked). Of two concurrent uses exactly one consumes the token (compare-and-set); the other
/// finds it consumed and, the successor being still unused, gets that same successor.
fn rotate(
    tx: &mut dyn Tx,
    token: &str,
    hash: &str,
    salt: &str,
    session: &SessionRef,
    now: i64,
) -> Result<Option<(String, bool)>, StoreError> {
    let consumed = tx.exec(
        "UPDATE refresh_tokens SET rotated_at = $1, child_salt = $3
         WHERE token_hash = $2 AND rotated_at IS NULL",
        &[now.into(), hash.into(), salt.into()],
    )?;
    if consumed == 1 {
        let child = child_token(token, salt);
        insert_refresh_token(tx, &child, &session.session_id, now)?;
        return Ok(Some((child, true)));
    }
    let salt = tx
        .query_opt(
            "SELECT child_salt FROM refresh_tokens WHERE token_hash = $1",
            &[hash.into()],
        )?
        .map(|r| r.opt_text(0))
        .transpose()?
        .flatten();
    let child = unused_child(tx, token, salt, &session.session_id)?;
    if child.is_none() {
        revoke_family(tx, &session.session_id, "token_theft", now)?;
    }
    Ok(child.map(|c| (c, false)))
}

fn revoke_family(
    tx: &mut dyn Tx,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<u64, StoreError> {
    tx.exec(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        &[now.into(), reason.into(), session_id.into()],
    )
}

/// The session a refresh token (current or consumed) belongs to, if it is in `tenant`.
pub fn session_of_token(
    tx: &mut dyn Tx,
    tenant: &str,
    token: &str,
) -> Result<Option<SessionRef>, StoreError> {
    let row = tx.query_opt(
        "SELECT s.id, s.user_id FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE rt.token_hash = $1 AND s.tenant_id = $2",
        &[sha256_b64(token.as_bytes()).into(), tenant.into()],
    )?;
    row.map(|r| {
        Ok(SessionRef {
            session_id: r.text(0)?,
            user_id: r.text(1)?,
        })
    })
    .transpose()
}

/// Sign-out: revokes the session if it is in `tenant`. Returns its user, or `None` when there
/// is no such session. Revoking an already revoked session is not an error.
pub fn sign_out(
    tx: &mut dyn Tx,
    tenant: &str,
    session_id: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let row = tx.query_opt(
        "SELECT user_id FROM sessions WHERE id = $1 AND tenant_id = $2",
        &[session_id.into(), tenant.into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    revoke_family(tx, session_id, "sign_out", now)?;
    Ok(Some(row.text(0)?))
}

/// A session as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_refresh_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

pub fn get_session(tx: &mut dyn Tx, session_id: &str) -> Result<Option<SessionInfo>, StoreError> {
    let row = tx.query_opt(
        "SELECT id, tenant_id, user_id, created_at, last_refresh_at, expires_at, revoked_at, revoke_reason
         FROM sessions WHERE id = $1",
        &[session_id.into()],
    )?;
    row.map(|r| {
        Ok(SessionInfo {
            id: r.text(0)?,
            tenant_id: r.text(1)?,
            user_id: r.text(2)?,
            created_at: r.int(3)?,
            last_refresh_at: r.int(4)?,
            expires_at: r.int(5)?,
            revoked_at: r.opt_int(6)?,
            revoke_reason: r.opt_text(7)?,
        })
    })
    .transpose()
}

/// Deletes sessions (and their tokens) that ended more than a day ago; past their absolute
/// timeout nothing can use them, and keeping them a day longer leaves room for investigation.
pub fn purge(tx: &mut dyn Tx, now: i64) -> Result<u64, StoreError> {
    let cutoff = now.saturating_sub(86_400);
    tx.exec(
        "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE expires_at < $1)",
        &[cutoff.into()],
    )?;
    tx.exec(
        "DELETE FROM sessions WHERE expires_at < $1",
        &[cutoff.into()],
    )
}
