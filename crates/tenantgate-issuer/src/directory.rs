//! Tenants, users, the role catalog and per-tenant role grants.
//!
//! A user is one identity (email, password) that may belong to several tenants. Roles and their
//! permission strings form one catalog; which roles a user holds is decided per tenant, and a
//! token only ever carries the roles of the tenant it was issued for.

use serde::Serialize;

use super::config::TenantDefaults;
use super::storage::{Row, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// A session dies if not refreshed for this long, seconds.
    pub refresh_idle: i64,
    /// A session dies this long after sign-in whatever happens, seconds.
    pub session_absolute: i64,
    pub created_at: i64,
}

const TENANT_COLUMNS: &str =
    "id, name, disabled, access_ttl, refresh_idle, session_absolute, created_at";

fn tenant_from(r: &Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: r.text(0)?,
        name: r.text(1)?,
        disabled: r.int(2)? != 0,
        access_ttl: r.int(3)?,
        refresh_idle: r.int(4)?,
        session_absolute: r.int(5)?,
        created_at: r.int(6)?,
    })
}

pub fn create_tenant(
    tx: &mut dyn Tx,
    id: &str,
    name: &str,
    settings: TenantDefaults,
    now: i64,
) -> Result<Tenant, StoreError> {
    if get_tenant(tx, id)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "tenant {id:?} already exists"
        )));
    }
    tx.exec(
        "INSERT INTO tenants (id, name, disabled, access_ttl, refresh_idle, session_absolute, created_at)
         VALUES ($1, $2, 0, $3, $4, $5, $6)",
        &[
            id.into(),
            name.into(),
            settings.access_ttl.into(),
            settings.refresh_idle.into(),
            settings.session_absolute.into(),
            now.into(),
        ],
    )?;
    get_tenant(tx, id)?.ok_or_else(|| StoreError::Corrupt("tenant vanished after insert".into()))
}

pub fn get_tenant(tx: &mut dyn Tx, id: &str) -> Result<Option<Tenant>, StoreError> {
    tx.query_opt(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
        &[id.into()],
    )?
    .as_ref()
    .map(tenant_from)
    .transpose()
}

pub fn require_tenant(tx: &mut dyn Tx, id: &str) -> Result<Tenant, StoreError> {
    get_tenant(tx, id)?.ok_or_else(|| StoreError::NotFound(format!("tenant {id:?} does not exist")))
}

pub fn list_tenants(tx: &mut dyn Tx) -> Result<Vec<Tenant>, StoreError> {
    tx.query(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
        &[],
    )?
    .iter()
    .map(tenant_from)
    .collect()
}

/// Disables (or re-enables) a tenant. Disabling also revokes its open sessions, so that nothing
/// signed in before keeps refreshing.
pub fn set_tenant_disabled(
    tx: &mut dyn Tx,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<(Tenant, u64), StoreError> {
    require_tenant(tx, id)?;
    tx.exec(
        "UPDATE tenants SET disabled = $1 WHERE id = $2",
        &[i64::from(disabled).into(), id.into()],
    )?;
    let revoked = if disabled {
        tx.exec(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'tenant_disabled'
             WHERE tenant_id = $2 AND revoked_at IS NULL",
            &[now.into(), id.into()],
        )?
    } else {
        0
    };
    Ok((require_tenant(tx, id)?, revoked))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub created_at: i64,
}

/// The user with this (normalized) email and their password hash.
pub fn find_user(tx: &mut dyn Tx, email: &str) -> Result<Option<(User, String)>, StoreError> {
    let row = tx.query_opt(
        "SELECT id, email, created_at, password_hash FROM users WHERE email = $1",
        &[email.into()],
    )?;
    row.map(|r| {
        Ok((
            User {
                id: r.text(0)?,
                email: r.text(1)?,
                created_at: r.int(2)?,
            },
            r.text(3)?,
        ))
    })
    .transpose()
}

fn require_user(tx: &mut dyn Tx, email: &str) -> Result<User, StoreError> {
    find_user(tx, email)?
        .map(|(u, _)| u)
        .ok_or_else(|| StoreError::NotFound(format!("user {email:?} does not exist")))
}

pub fn is_member(tx: &mut dyn Tx, tenant: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2",
            &[tenant.into(), user_id.into()],
        )?
        .is_some())
}

/// Outcome of [`add_user`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedUser {
    pub user: User,
    /// The user did not exist before.
    pub created: bool,
    /// The user was not a member of the tenant before.
    pub joined: bool,
}

/// Makes `email` a member of `tenant`, creating the user when `password_hash` is given. An
/// existing user keeps their password: adding them to another tenant needs none.
pub fn add_user(
    tx: &mut dyn Tx,
    tenant: &str,
    email: &str,
    password_hash: Option<&str>,
    new_user_id: &str,
    now: i64,
) -> Result<AddedUser, StoreError> {
    require_tenant(tx, tenant)?;
    let (user, created) = match (find_user(tx, email)?, password_hash) {
        (Some(_), Some(_)) => {
            return Err(StoreError::Conflict(format!(
                "user {email:?} already exists; omit the password to add them to another tenant"
            )))
        }
        (Some((user, _)), None) => (user, false),
        (None, None) => {
            return Err(StoreError::Invalid(format!(
                "user {email:?} does not exist; give a password to create them"
            )))
        }
        (None, Some(hash)) => {
            tx.exec(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                &[new_user_id.into(), email.into(), hash.into(), now.into()],
            )?;
            (require_user(tx, email)?, true)
        }
    };
    let joined = tx.exec(
        "INSERT INTO memberships (tenant_id, user_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
        &[tenant.into(), user.id.as_str().into(), now.into()],
    )? == 1;
    Ok(AddedUser {
        user,
        created,
        joined,
    })
}

/// A member of a tenant with the roles held there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user: User,
    pub roles: Vec<String>,
}

pub fn list_members(tx: &mut dyn Tx, tenant: &str) -> Result<Vec<Member>, StoreError> {
    require_tenant(tx, tenant)?;
    let rows = tx.query(
        "SELECT u.id, u.email, u.created_at FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.tenant_id = $1 ORDER BY u.email",
        &[tenant.into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let user = User {
            id: r.text(0)?,
            email: r.text(1)?,
            created_at: r.int(2)?,
        };
        let roles = roles_of(tx, tenant, &user.id)?;
        out.push(Member { user, roles });
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// Creates a catalog role or replaces its description and permissions.
pub fn define_role(tx: &mut dyn Tx, role: &Role, now: i64) -> Result<(), StoreError> {
    let permissions = serde_json::to_string(&role.permissions)
        .map_err(|e| StoreError::Invalid(format!("permissions: {e}")))?;
    tx.exec(
        "INSERT INTO roles (name, description, permissions, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET description = excluded.description, permissions = excluded.permissions",
        &[role.name.as_str().into(), role.description.as_str().into(), permissions.into(), now.into()],
    )?;
    Ok(())
}

pub fn list_roles(tx: &mut dyn Tx) -> Result<Vec<Role>, StoreError> {
    tx.query(
        "SELECT name, description, permissions FROM roles ORDER BY name",
        &[],
    )?
    .iter()
    .map(|r| {
        let permissions = serde_json::from_str(&r.text(2)?).map_err(|e| {
            StoreError::Corrupt(format!("permissions of role {:?}: {e}", r.text(0)))
        })?;
        Ok(Role {
            name: r.text(0)?,
            description: r.text(1)?,
            permissions,
        })
    })
    .collect()
}

/// The user id and whether the grant is new.
pub fn grant_role(
    tx: &mut dyn Tx,
    tenant: &str,
    email: &str,
    role: &str,
    now: i64,
) -> Result<(String, bool), StoreError> {
    let user = member(tx, tenant, email)?;
    if tx
        .query_opt("SELECT 1 FROM roles WHERE name = $1", &[role.into()])?
        .is_none()
    {
        return Err(StoreError::NotFound(format!(
            "role {role:?} is not in the catalog; define it first (`role define {role}` or PUT /admin/roles/{role})"
        )));
    }
    let new = tx.exec(
        "INSERT INTO role_grants (tenant_id, user_id, role, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, user_id, role) DO NOTHING",
        &[
            tenant.into(),
            user.id.as_str().into(),
            role.into(),
            now.into(),
        ],
    )? == 1;
    Ok((user.id, new))
}

/// The user id and whether a grant was removed.
pub fn revoke_role(
    tx: &mut dyn Tx,
    tenant: &str,
    email: &str,
    role: &str,
) -> Result<(String, bool), StoreError> {
    let user = member(tx, tenant, email)?;
    let removed = tx.exec(
        "DELETE FROM role_grants WHERE tenant_id = $1 AND user_id = $2 AND role = $3",
        &[tenant.into(), user.id.as_str().into(), role.into()],
    )? == 1;
    Ok((user.id, removed))
}

fn member(tx: &mut dyn Tx, tenant: &str, email: &str) -> Result<User, StoreError> {
    require_tenant(tx, tenant)?;
    let user = require_user(tx, email)?;
    if !is_member(tx, tenant, &user.id)? {
        return Err(StoreError::NotFound(format!(
            "user {email:?} is not a member of tenant {tenant:?}; add them first (`user add`)"
        )));
    }
    Ok(user)
}

/// The roles `user_id` holds in `tenant`, sorted; what a token for that tenant carries.
pub fn roles_of(tx: &mut dyn Tx, tenant: &str, user_id: &str) -> Result<Vec<String>, StoreError> {
    tx.query(
        "SELECT role FROM role_grants WHERE tenant_id = $1 AND user_id = $2 ORDER BY role",
        &[tenant.into(), user_id.into()],
    )?
    .iter()
    .map(|r| r.text(0))
    .collect()
}

/// Revokes every open session of a user (in one tenant or all); returns how many.
pub fn revoke_user_sessions(
    tx: &mut dyn Tx,
    email: &str,
    tenant: Option<&str>,
    now: i64,
) -> Result<(String, u64), StoreError> {
    let user = require_user(tx, email)?;
    let n = match tenant {
        Some(t) => {
            require_tenant(tx, t)?;
            tx.exec(
                "UPDATE sessions SET revoked_at = $1, revoke_reason = 'admin'
                 WHERE user_id = $2 AND tenant_id = $3 AND revoked_at IS NULL",
                &[now.into(), user.id.as_str().into(), t.into()],
            )?
        }
        None => tx.exec(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'admin' WHERE user_id = $2 AND revoked_at IS NULL",
            &[now.into(), user.id.as_str().into()],
        )?,
    };
    Ok((user.id, n))
}
