//! Administrative operations shared by the CLI and the admin API: each validates its input,
//! runs in one transaction and writes its audit line, so both surfaces behave identically.
//! The session flows (sign-in, refresh, sign-out, `mint`) are in [`crate::flows`].

use std::fmt;

use super::audit::{Action, AuditLog, Event};
use super::config::{Config, TenantDefaults};
use super::directory::{self, AddedUser, Role, Tenant};
use super::keys::{KeyError, KeyRing, Rotation};
use super::metrics::{Counter, Metrics};
use super::storage::{Store, StoreError};
use super::time::now;
use super::{password, random_token, validate};

/// Longest lifetime accepted for tenant session settings (a year).
const MAX_SESSION_SECONDS: i64 = 365 * 86_400;

#[derive(Debug)]
pub enum OpError {
    /// The input is malformed; the message names the field.
    Invalid(String),
    NotFound(String),
    Conflict(String),
    Store(StoreError),
    Keys(KeyError),
    Internal(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Invalid(m)
            | OpError::NotFound(m)
            | OpError::Conflict(m)
            | OpError::Internal(m) => f.write_str(m),
            OpError::Store(e) => e.fmt(f),
            OpError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpError {}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => OpError::Conflict(m),
            StoreError::NotFound(m) => OpError::NotFound(m),
            StoreError::Invalid(m) => OpError::Invalid(m),
            other => OpError::Store(other),
        }
    }
}

impl From<KeyError> for OpError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(s) => s.into(),
            other => OpError::Keys(other),
        }
    }
}

/// Who acts, and the services they act on.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub audit: &'a AuditLog,
    pub metrics: Option<&'a Metrics>,
    /// `"admin"` (API) or `"cli"`; the session flows audit the user instead.
    pub actor: &'a str,
    pub ip: Option<&'a str>,
}

impl Ctx<'_> {
    pub(crate) fn event(&self, action: Action, tenant: Option<&str>) -> Event {
        Event::new(action, tenant, self.actor, self.ip)
    }
}

fn invalid(r: Result<String, String>) -> Result<String, OpError> {
    r.map_err(OpError::Invalid)
}

/// Lifetime settings for a new tenant; `None` takes the configured default.
#[derive(Debug, Default, Clone, Copy)]
pub struct TenantSettings {
    pub access_ttl: Option<i64>,
    pub refresh_idle: Option<i64>,
    pub session_absolute: Option<i64>,
}

pub fn resolve_settings(config: &Config, s: TenantSettings) -> Result<TenantDefaults, OpError> {
    let d = config.tenant_defaults;
    let r = TenantDefaults {
        access_ttl: s.access_ttl.unwrap_or(d.access_ttl),
        refresh_idle: s.refresh_idle.unwrap_or(d.refresh_idle),
        session_absolute: s.session_absolute.unwrap_or(d.session_absolute),
    };
    let max_ttl = config.timing.max_token_ttl;
    if !(1..=max_ttl).contains(&r.access_ttl) {
        return Err(OpError::Invalid(format!(
            "access_ttl: must be 1 to {max_ttl} seconds (keys.max_token_ttl)"
        )));
    }
    if !(1..=MAX_SESSION_SECONDS).contains(&r.refresh_idle) {
        return Err(OpError::Invalid(format!(
            "refresh_idle: must be 1 to {MAX_SESSION_SECONDS} seconds"
        )));
    }
    if !(1..=MAX_SESSION_SECONDS).contains(&r.session_absolute) {
        return Err(OpError::Invalid(format!(
            "session_absolute: must be 1 to {MAX_SESSION_SECONDS} seconds"
        )));
    }
    Ok(r)
}

pub fn create_tenant(
    ctx: &Ctx<'_>,
    id: &str,
    name: Option<&str>,
    settings: TenantSettings,
) -> Result<Tenant, OpError> {
    let id = invalid(validate::tenant_id("id", id))?;
    let name = invalid(validate::text("name", name.unwrap_or(&id), 200))?;
    let settings = resolve_settings(ctx.config, settings)?;
    let tenant = ctx
        .store
        .tx(|tx| directory::create_tenant(tx, &id, &name, settings, now()))?;
    ctx.audit.record(
        ctx.event(Action::TenantCreate, Some(&id))
            .with("access_ttl", tenant.access_ttl)
            .with("refresh_idle", tenant.refresh_idle)
            .with("session_absolute", tenant.session_absolute),
    );
    Ok(tenant)
}

pub fn list_tenants(ctx: &Ctx<'_>) -> Result<Vec<Tenant>, OpError> {
    Ok(ctx.store.tx(directory::list_tenants)?)
}

/// Returns the tenant and how many open sessions disabling it revoked.
pub fn set_tenant_disabled(
    ctx: &Ctx<'_>,
    id: &str,
    disabled: bool,
) -> Result<(Tenant, u64), OpError> {
    let id = invalid(validate::tenant_id("tenant", id))?;
    let (tenant, revoked) = ctx
        .store
        .tx(|tx| directory::set_tenant_disabled(tx, &id, disabled, now()))?;
    let action = if disabled {
        Action::TenantDisable
    } else {
        Action::TenantEnable
    };
    ctx.audit.record(
        ctx.event(action, Some(&id))
            .with("revoked_sessions", revoked),
    );
    Ok((tenant, revoked))
}

pub fn add_user(
    ctx: &Ctx<'_>,
    tenant: &str,
    email: &str,
    pw: Option<&str>,
) -> Result<AddedUser, OpError> {
    let tenant = invalid(validate::tenant_id("tenant", tenant))?;
    let email = invalid(validate::email("email", email))?;
    let hash = match pw {
        Some(p) => {
            validate::password("password", p).map_err(OpError::Invalid)?;
            Some(password::hash(p).map_err(|e| OpError::Internal(e.to_string()))?)
        }
        None => None,
    };
    let user_id = format!(
        "u_{}",
        random_token(12).map_err(|_| OpError::Internal("random generator failed".into()))?
    );
    let added = ctx
        .store
        .tx(|tx| directory::add_user(tx, &tenant, &email, hash.as_deref(), &user_id, now()))?;
    ctx.audit.record(
        ctx.event(Action::UserAdd, Some(&tenant))
            .with("user", added.user.id.as_str())
            .with("email", added.user.email.as_str())
            .with("created", added.created)
            .with("joined", added.joined),
    );
    Ok(added)
}

pub fn list_members(ctx: &Ctx<'_>, tenant: &str) -> Result<Vec<directory::Member>, OpError> {
    let tenant = invalid(validate::tenant_id("tenant", tenant))?;
    Ok(ctx.store.tx(|tx| directory::list_members(tx, &tenant))?)
}

pub fn define_role(
    ctx: &Ctx<'_>,
    name: &str,
    description: &str,
    permissions: &[String],
) -> Result<Role, OpError> {
    let name = invalid(validate::role_name("role", name))?;
    let description = invalid(validate::text("description", description, 500))?;
    if permissions.len() > 100 {
        return Err(OpError::Invalid("permissions: at most 100 per role".into()));
    }
    let mut perms = permissions
        .iter()
        .enumerate()
        .map(|(i, p)| validate::permission(&format!("permissions[{i}]"), p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(OpError::Invalid)?;
    perms.sort();
    perms.dedup();
    let role = Role {
        name,
        description,
        permissions: perms,
    };
    ctx.store
        .tx(|tx| directory::define_role(tx, &role, now()))?;
    ctx.audit.record(
        ctx.event(Action::RoleDefine, None)
            .with("role", role.name.as_str())
            .with("permissions", role.permissions.clone()),
    );
    Ok(role)
}

pub fn list_roles(ctx: &Ctx<'_>) -> Result<Vec<Role>, OpError> {
    Ok(ctx.store.tx(directory::list_roles)?)
}

/// Grants (`grant = true`) or revokes a role; returns whether anything changed. The change
/// applies to the user's next sign-in or refresh.
pub fn change_role(
    ctx: &Ctx<'_>,
    tenant: &str,
    email: &str,
    role: &str,
    grant: bool,
) -> Result<bool, OpError> {
    let tenant = invalid(validate::tenant_id("tenant", tenant))?;
    let email = invalid(validate::email("email", email))?;
    let role = invalid(validate::role_name("role", role))?;
    let (user_id, changed) = ctx.store.tx(|tx| {
        if grant {
            directory::grant_role(tx, &tenant, &email, &role, now())
        } else {
            directory::revoke_role(tx, &tenant, &email, &role)
        }
    })?;
    let roles = ctx
        .store
        .tx(|tx| directory::roles_of(tx, &tenant, &user_id))?;
    let action = if grant {
        Action::RoleGrant
    } else {
        Action::RoleRevoke
    };
    ctx.audit.record(
        ctx.event(action, Some(&tenant))
            .roles(&roles)
            .with("user", user_id)
            .with("role", role)
            .with("changed", changed),
    );
    Ok(changed)
}

/// Revokes every open session of a user (in one tenant, or everywhere).
pub fn revoke_sessions(ctx: &Ctx<'_>, email: &str, tenant: Option<&str>) -> Result<u64, OpError> {
    let email = invalid(validate::email("email", email))?;
    let tenant = tenant
        .map(|t| invalid(validate::tenant_id("tenant", t)))
        .transpose()?;
    let (user_id, n) = ctx
        .store
        .tx(|tx| directory::revoke_user_sessions(tx, &email, tenant.as_deref(), now()))?;
    ctx.audit.record(
        ctx.event(Action::SessionRevocation, tenant.as_deref())
            .with("user", user_id)
            .with("revoked_sessions", n)
            .with("reason", "admin"),
    );
    Ok(n)
}

pub fn rotate_keys(ctx: &Ctx<'_>) -> Result<Rotation, OpError> {
    let rotation = ctx.keys.rotate(ctx.store, now())?;
    if let Rotation::Created(k) = &rotation {
        if let Some(m) = ctx.metrics {
            m.inc(Counter::KeyRotations, None, None);
        }
        ctx.audit.record(
            ctx.event(Action::KeyRotation, None)
                .with("kid", k.kid.as_str())
                .with("activates_at", k.activates_at)
                .with("trigger", "manual"),
        );
    }
    Ok(rotation)
}

/// Audits what a key maintenance pass did.
pub fn record_maintenance(
    audit: &AuditLog,
    metrics: Option<&Metrics>,
    report: &super::keys::Maintenance,
    actor: &str,
) {
    if let Some(k) = &report.created {
        if let Some(m) = metrics {
            m.inc(Counter::KeyRotations, None, None);
        }
        audit.record(
            Event::new(Action::KeyRotation, None, actor, None)
                .with("kid", k.kid.as_str())
                .with("activates_at", k.activates_at)
                .with(
                    "trigger",
                    if report.bootstrap {
                        "bootstrap"
                    } else {
                        "schedule"
                    },
                ),
        );
    }
    for kid in &report.removed {
        audit.record(Event::new(Action::KeyRemoval, None, actor, None).with("kid", kid.as_str()));
    }
}
