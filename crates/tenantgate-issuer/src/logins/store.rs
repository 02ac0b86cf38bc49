//! Login methods in the database: one `tenant_login_methods` row per tenant that changed them
//! (no row: the defaults). An SSO client (issuer and client id) serves one tenant: the table's
//! unique key makes the same refusal when two replicas race.

use super::{Methods, Sso, Totp};
use crate::directory::require_tenant;
use crate::storage::{Row, StoreError, Tx, Val};

const COLUMNS: &str = "password, totp, totp_required_roles, sso_issuer, sso_client_id, \
                       sso_client_secret, sso_default_roles";

/// The login methods of `tenant` (which must exist).
pub fn get(tx: &mut dyn Tx, tenant: &str) -> Result<Methods, StoreError> {
    require_tenant(tx, tenant)?;
    methods_of(tx, tenant)
}

/// The login methods of `tenant` without checking that it exists (the sign-in flows already
/// read the tenant).
pub fn methods_of(tx: &mut dyn Tx, tenant: &str) -> Result<Methods, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_login_methods WHERE tenant_id = $1");
    match tx.query_opt(&sql, &[tenant.into()])? {
        Some(row) => parse(tenant, &row),
        None => Ok(Methods::default()),
    }
}

fn roles_json(tenant: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("login methods of tenant {tenant:?}: {e}")))
}

fn parse(tenant: &str, r: &Row) -> Result<Methods, StoreError> {
    let totp = Totp::parse(&r.text(1)?).ok_or_else(|| {
        StoreError::Corrupt(format!("login methods of tenant {tenant:?}: unknown totp"))
    })?;
    let sso = match (r.opt_text(3)?, r.opt_text(4)?, r.opt_text(5)?) {
        (Some(issuer), Some(client_id), Some(sealed_secret)) => Some(Sso {
            issuer,
            client_id,
            sealed_secret,
            default_roles: roles_json(tenant, &r.opt_text(6)?.unwrap_or_else(|| "[]".into()))?,
        }),
        _ => None,
    };
    Ok(Methods {
        password: r.int(0)? != 0,
        totp,
        totp_required_roles: roles_json(tenant, &r.text(2)?)?,
        sso,
    })
}

/// Refuses roles missing from the catalog (a typo would silently require nothing).
fn require_roles(tx: &mut dyn Tx, field: &str, roles: &[String]) -> Result<(), StoreError> {
    for role in roles {
        if tx
            .query_opt("SELECT 1 FROM roles WHERE name = $1", &[role.into()])?
            .is_none()
        {
            return Err(StoreError::Invalid(format!(
                "{field}: no role {role:?} in the catalog; define it first (PUT /admin/roles/{role})"
            )));
        }
    }
    Ok(())
}

fn to_text(v: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Replaces the login methods of `tenant` (already checked); returns the ones it had.
pub fn set(
    tx: &mut dyn Tx,
    tenant: &str,
    methods: &Methods,
    now: i64,
) -> Result<Methods, StoreError> {
    require_tenant(tx, tenant)?;
    require_roles(tx, "totp_required_roles", &methods.totp_required_roles)?;
    if let Some(sso) = &methods.sso {
        require_roles(tx, "sso.default_roles", &sso.default_roles)?;
        let owner = tx
            .query_opt(
                "SELECT tenant_id FROM tenant_login_methods
                 WHERE sso_issuer = $1 AND sso_client_id = $2 AND tenant_id <> $3",
                &[(&sso.issuer).into(), (&sso.client_id).into(), tenant.into()],
            )?
            .map(|r| r.text(0))
            .transpose()?;
        if let Some(owner) = owner {
            return Err(StoreError::Conflict(format!(
                "sso.client_id: client {:?} of {:?} is the SSO client of tenant {owner:?}; \
                 register one client per tenant at the IdP",
                sso.client_id, sso.issuer
            )));
        }
    }
    let before = methods_of(tx, tenant)?;
    tx.exec(
        "DELETE FROM tenant_login_methods WHERE tenant_id = $1",
        &[tenant.into()],
    )?;
    let sso = methods.sso.as_ref();
    let default_roles = sso.map(|s| to_text(&s.default_roles)).transpose()?;
    tx.exec(
        &format!(
            "INSERT INTO tenant_login_methods (tenant_id, {COLUMNS}, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            tenant.into(),
            Val::Int(i64::from(methods.password)),
            methods.totp.name().into(),
            to_text(&methods.totp_required_roles)?.into(),
            sso.map(|s| s.issuer.as_str()).into(),
            sso.map(|s| s.client_id.as_str()).into(),
            sso.map(|s| s.sealed_secret.as_str()).into(),
            default_roles.into(),
            now.into(),
        ],
    )?;
    Ok(before)
}
