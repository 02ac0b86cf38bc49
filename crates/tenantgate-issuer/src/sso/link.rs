//! Users signed in through a tenant's IdP, linked by (tenant, IdP issuer, IdP subject): the
//! subject is what the IdP vouches for, never the email, so an IdP that asserts someone else's
//! email does not take over their account. A first sign-in creates the user (without a
//! password), makes them a member of the tenant and grants the tenant's default roles.

use crate::sha256_b64;
use crate::storage::{StoreError, Tx};

/// Who the IdP says signed in.
pub struct Subject<'a> {
    pub tenant: &'a str,
    pub idp_issuer: &'a str,
    pub idp_subject: &'a str,
    /// The IdP's `email`, used for a new user when no other user has it.
    pub email: Option<&'a str>,
}

/// The linked user, and whether they were created now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub user_id: String,
    pub email: String,
    pub created: bool,
}

/// A user created by SSO has no password: this is no Argon2 hash, so no password matches it.
const NO_PASSWORD: &str = "!sso";

/// The email of a user whose IdP sent none, or whose email another user already has: unique
/// per link, and in the `.invalid` domain that cannot receive mail.
fn placeholder_email(s: &Subject<'_>) -> String {
    let digest =
        sha256_b64(format!("{}\n{}\n{}", s.tenant, s.idp_issuer, s.idp_subject).as_bytes());
    format!(
        "sso-{}@{}.invalid",
        &digest[..22].to_ascii_lowercase(),
        s.tenant
    )
}

/// Finds the user linked to `s`, or creates and links one with `default_roles` (roles not in
/// the catalog are skipped).
pub fn find_or_create(
    tx: &mut dyn Tx,
    s: &Subject<'_>,
    default_roles: &[String],
    new_user_id: &str,
    now: i64,
) -> Result<Linked, StoreError> {
    let found = tx.query_opt(
        "SELECT l.user_id, u.email FROM sso_links l JOIN users u ON u.id = l.user_id
         WHERE l.tenant_id = $1 AND l.idp_issuer = $2 AND l.idp_subject = $3",
        &[s.tenant.into(), s.idp_issuer.into(), s.idp_subject.into()],
    )?;
    if let Some(row) = found {
        return Ok(Linked {
            user_id: row.text(0)?,
            email: row.text(1)?,
            created: false,
        });
    }
    let free = match s.email {
        Some(e) => crate::directory::find_user(tx, e)?.is_none(),
        None => false,
    };
    let email = match (s.email, free) {
        (Some(e), true) => e.to_string(),
        _ => placeholder_email(s),
    };
    tx.exec(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        &[
            new_user_id.into(),
            email.as_str().into(),
            NO_PASSWORD.into(),
            now.into(),
        ],
    )?;
    tx.exec(
        "INSERT INTO sso_links (tenant_id, idp_issuer, idp_subject, user_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            s.tenant.into(),
            s.idp_issuer.into(),
            s.idp_subject.into(),
            new_user_id.into(),
            now.into(),
        ],
    )?;
    tx.exec(
        "INSERT INTO memberships (tenant_id, user_id, created_at) VALUES ($1, $2, $3)",
        &[s.tenant.into(), new_user_id.into(), now.into()],
    )?;
    for role in default_roles {
        let known = tx
            .query_opt(
                "SELECT 1 FROM roles WHERE name = $1",
                &[role.as_str().into()],
            )?
            .is_some();
        if known {
            tx.exec(
                "INSERT INTO role_grants (tenant_id, user_id, role, granted_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    s.tenant.into(),
                    new_user_id.into(),
                    role.as_str().into(),
                    now.into(),
                ],
            )?;
        }
    }
    Ok(Linked {
        user_id: new_user_id.to_string(),
        email,
        created: true,
    })
}
