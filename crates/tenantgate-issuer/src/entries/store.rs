//! Directory entries in the database: `tenant_hosts` (a host is its primary key),
//! `tenant_values` (keyed by provider and value) and `tenant_idps` (one per tenant, its issuer
//! unique). Each setter checks first who else holds what it is given, to name them in the
//! refusal; the keys make the same refusal when two replicas race.

use std::collections::BTreeMap;

use super::{Entry, Idp};
use crate::directory::require_tenant;
use crate::storage::{StoreError, Tx, Val};

/// The entry of one tenant (which must exist).
pub fn get_entry(tx: &mut dyn Tx, tenant: &str) -> Result<Entry, StoreError> {
    require_tenant(tx, tenant)?;
    Ok(Entry {
        hosts: hosts_of(tx, tenant)?,
        tenant_values: values_of(tx, tenant)?,
        idp: idp_of(tx, tenant)?,
    })
}

fn hosts_of(tx: &mut dyn Tx, tenant: &str) -> Result<Vec<String>, StoreError> {
    tx.query(
        "SELECT host FROM tenant_hosts WHERE tenant_id = $1 ORDER BY host",
        &[tenant.into()],
    )?
    .iter()
    .map(|r| r.text(0))
    .collect()
}

fn values_of(tx: &mut dyn Tx, tenant: &str) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rows = tx.query(
        "SELECT provider, value FROM tenant_values WHERE tenant_id = $1 ORDER BY provider, value",
        &[tenant.into()],
    )?;
    for r in rows {
        out.entry(r.text(0)?).or_default().push(r.text(1)?);
    }
    Ok(out)
}

fn idp_of(tx: &mut dyn Tx, tenant: &str) -> Result<Option<Idp>, StoreError> {
    tx.query_opt(
        "SELECT config FROM tenant_idps WHERE tenant_id = $1",
        &[tenant.into()],
    )?
    .map(|r| parse_idp(tenant, &r.text(0)?))
    .transpose()
}

fn parse_idp(tenant: &str, text: &str) -> Result<Idp, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("idp of tenant {tenant:?}: {e}")))
}

/// The tenant, other than `tenant`, that holds the row `sql` finds (its first column).
fn other_owner(
    tx: &mut dyn Tx,
    sql: &str,
    params: &[Val],
    tenant: &str,
) -> Result<Option<String>, StoreError> {
    let owner = tx.query_opt(sql, params)?.map(|r| r.text(0)).transpose()?;
    Ok(owner.filter(|o| o != tenant))
}

/// Replaces the hosts of `tenant` (checked and normalized); returns the hosts it had.
pub fn set_hosts(
    tx: &mut dyn Tx,
    tenant: &str,
    hosts: &[String],
) -> Result<Vec<String>, StoreError> {
    require_tenant(tx, tenant)?;
    for host in hosts {
        let sql = "SELECT tenant_id FROM tenant_hosts WHERE host = $1";
        if let Some(owner) = other_owner(tx, sql, &[host.into()], tenant)? {
            return Err(StoreError::Conflict(format!(
                "hosts: {host:?} belongs to tenant {owner:?}; remove it there first"
            )));
        }
    }
    let before = hosts_of(tx, tenant)?;
    tx.exec(
        "DELETE FROM tenant_hosts WHERE tenant_id = $1",
        &[tenant.into()],
    )?;
    for host in hosts {
        tx.exec(
            "INSERT INTO tenant_hosts (host, tenant_id) VALUES ($1, $2)",
            &[host.into(), tenant.into()],
        )?;
    }
    Ok(before)
}

/// Replaces the tenant values of `tenant` (checked); returns the ones it had.
pub fn set_tenant_values(
    tx: &mut dyn Tx,
    tenant: &str,
    values: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    require_tenant(tx, tenant)?;
    let pairs: Vec<(&String, &String)> = values
        .iter()
        .flat_map(|(p, vs)| vs.iter().map(move |v| (p, v)))
        .collect();
    for (provider, value) in &pairs {
        let sql = "SELECT tenant_id FROM tenant_values WHERE provider = $1 AND value = $2";
        let params = [(*provider).into(), (*value).into()];
        if let Some(owner) = other_owner(tx, sql, &params, tenant)? {
            return Err(StoreError::Conflict(format!(
                "tenant_values.{provider}: {value:?} maps to tenant {owner:?}; remove it there first"
            )));
        }
    }
    let before = values_of(tx, tenant)?;
    tx.exec(
        "DELETE FROM tenant_values WHERE tenant_id = $1",
        &[tenant.into()],
    )?;
    for (provider, value) in pairs {
        tx.exec(
            "INSERT INTO tenant_values (provider, value, tenant_id) VALUES ($1, $2, $3)",
            &[provider.into(), value.into(), tenant.into()],
        )?;
    }
    Ok(before)
}

/// Sets (or replaces) the IdP of `tenant` (checked); returns the one it had.
pub fn set_idp(
    tx: &mut dyn Tx,
    tenant: &str,
    idp: &Idp,
    now: i64,
) -> Result<Option<Idp>, StoreError> {
    require_tenant(tx, tenant)?;
    let sql = "SELECT tenant_id FROM tenant_idps WHERE issuer = $1";
    if let Some(owner) = other_owner(tx, sql, &[idp.issuer.as_str().into()], tenant)? {
        return Err(StoreError::Conflict(format!(
            "idp.issuer: {:?} is the IdP of tenant {owner:?}; one IdP serves one tenant",
            idp.issuer
        )));
    }
    let text = serde_json::to_string(idp).map_err(|e| StoreError::Invalid(format!("idp: {e}")))?;
    let before = idp_of(tx, tenant)?;
    tx.exec(
        "DELETE FROM tenant_idps WHERE tenant_id = $1",
        &[tenant.into()],
    )?;
    tx.exec(
        "INSERT INTO tenant_idps (tenant_id, issuer, config, updated_at) VALUES ($1, $2, $3, $4)",
        &[
            tenant.into(),
            idp.issuer.as_str().into(),
            text.into(),
            now.into(),
        ],
    )?;
    Ok(before)
}

/// Removes the IdP of `tenant`; returns the one it had.
pub fn remove_idp(tx: &mut dyn Tx, tenant: &str) -> Result<Option<Idp>, StoreError> {
    require_tenant(tx, tenant)?;
    let before = idp_of(tx, tenant)?;
    tx.exec(
        "DELETE FROM tenant_idps WHERE tenant_id = $1",
        &[tenant.into()],
    )?;
    Ok(before)
}

/// The entry of every enabled tenant, by tenant id: four queries whatever the number of
/// tenants, grouped in memory.
pub fn enabled_entries(tx: &mut dyn Tx) -> Result<BTreeMap<String, Entry>, StoreError> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for r in tx.query("SELECT id FROM tenants WHERE disabled = 0", &[])? {
        entries.insert(r.text(0)?, Entry::default());
    }
    let rows = tx.query(
        "SELECT h.tenant_id, h.host FROM tenant_hosts h JOIN tenants t ON t.id = h.tenant_id
         WHERE t.disabled = 0 ORDER BY h.tenant_id, h.host",
        &[],
    )?;
    for r in rows {
        if let Some(e) = entries.get_mut(&r.text(0)?) {
            e.hosts.push(r.text(1)?);
        }
    }
    let rows = tx.query(
        "SELECT v.tenant_id, v.provider, v.value FROM tenant_values v
         JOIN tenants t ON t.id = v.tenant_id
         WHERE t.disabled = 0 ORDER BY v.tenant_id, v.provider, v.value",
        &[],
    )?;
    for r in rows {
        if let Some(e) = entries.get_mut(&r.text(0)?) {
            e.tenant_values
                .entry(r.text(1)?)
                .or_default()
                .push(r.text(2)?);
        }
    }
    let rows = tx.query(
        "SELECT i.tenant_id, i.config FROM tenant_idps i JOIN tenants t ON t.id = i.tenant_id
         WHERE t.disabled = 0",
        &[],
    )?;
    for r in rows {
        let tenant = r.text(0)?;
        let idp = parse_idp(&tenant, &r.text(1)?)?;
        if let Some(e) = entries.get_mut(&tenant) {
            e.idp = Some(idp);
        }
    }
    Ok(entries)
}
