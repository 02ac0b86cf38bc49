//! The audited operations on directory entries, shared by the admin API and the CLI: each
//! checks its input with the filter's rules, changes the entry in one transaction and writes an
//! audit line with the value before and after. A change reaches the filters at their next
//! directory fetch.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{check, store, Entry};
use crate::audit::Action;
use crate::ops::{Ctx, OpError};
use crate::storage::{StoreError, Tx};
use crate::time::now;
use crate::validate;

fn tenant_id(tenant: &str) -> Result<String, OpError> {
    validate::tenant_id("tenant", tenant).map_err(OpError::Invalid)
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs `change` of `field` (which returns the value before) and reads the entry after, in one
/// transaction. A conflict the database's keys found (another replica won a race) is reported
/// against the field, like the ones the checks find.
fn change<B>(
    ctx: &Ctx<'_>,
    tenant: &str,
    field: &str,
    change: impl FnOnce(&mut dyn Tx) -> Result<B, StoreError>,
) -> Result<(B, Entry), OpError> {
    let result = ctx.store.tx(|tx| {
        let before = change(tx)?;
        Ok((before, store::get_entry(tx, tenant)?))
    });
    result.map_err(|e| match e {
        StoreError::Conflict(m) if !m.starts_with(field) => OpError::Conflict(format!(
            "{field}: another tenant was given the same value at the same time; retry to see \
             which ({m})"
        )),
        other => other.into(),
    })
}

fn audit(ctx: &Ctx<'_>, action: Action, tenant: &str, before: Value, after: Value) {
    ctx.audit.record(
        ctx.event(action, Some(tenant))
            .with("before", before)
            .with("after", after),
    );
}

/// The directory entry of one tenant.
pub fn get_entry(ctx: &Ctx<'_>, tenant: &str) -> Result<Entry, OpError> {
    let tenant = tenant_id(tenant)?;
    Ok(ctx.store.tx(|tx| store::get_entry(tx, &tenant))?)
}

/// Replaces the hosts of a tenant (an empty list removes them all).
pub fn set_hosts(ctx: &Ctx<'_>, tenant: &str, hosts: &[String]) -> Result<Entry, OpError> {
    let tenant = tenant_id(tenant)?;
    let hosts = check::hosts(hosts).map_err(OpError::Invalid)?;
    let (before, entry) = change(ctx, &tenant, "hosts", |tx| {
        store::set_hosts(tx, &tenant, &hosts)
    })?;
    audit(
        ctx,
        Action::TenantHostsSet,
        &tenant,
        json(&before),
        json(&entry.hosts),
    );
    Ok(entry)
}

/// Replaces the tenant values of a tenant (an empty map removes them all).
pub fn set_tenant_values(
    ctx: &Ctx<'_>,
    tenant: &str,
    values: &BTreeMap<String, Vec<String>>,
) -> Result<Entry, OpError> {
    let tenant = tenant_id(tenant)?;
    let values = check::tenant_values(values, ctx.config).map_err(OpError::Invalid)?;
    let (before, entry) = change(ctx, &tenant, "tenant_values", |tx| {
        store::set_tenant_values(tx, &tenant, &values)
    })?;
    audit(
        ctx,
        Action::TenantValuesSet,
        &tenant,
        json(&before),
        json(&entry.tenant_values),
    );
    Ok(entry)
}

/// Sets or replaces the IdP of a tenant from its JSON form.
pub fn set_idp(ctx: &Ctx<'_>, tenant: &str, body: &Value) -> Result<Entry, OpError> {
    let tenant = tenant_id(tenant)?;
    let idp = check::idp(&tenant, body, ctx.config).map_err(OpError::Invalid)?;
    let (before, entry) = change(ctx, &tenant, "idp", |tx| {
        store::set_idp(tx, &tenant, &idp, now())
    })?;
    audit(
        ctx,
        Action::TenantIdpSet,
        &tenant,
        json(&before),
        json(&entry.idp),
    );
    Ok(entry)
}

/// Removes the IdP of a tenant; the bool says whether it had one.
pub fn remove_idp(ctx: &Ctx<'_>, tenant: &str) -> Result<(Entry, bool), OpError> {
    let tenant = tenant_id(tenant)?;
    let (before, entry) = change(ctx, &tenant, "idp", |tx| store::remove_idp(tx, &tenant))?;
    let removed = before.is_some();
    audit(
        ctx,
        Action::TenantIdpRemove,
        &tenant,
        json(&before),
        Value::Null,
    );
    Ok((entry, removed))
}

/// A tenant with its directory entry.
pub fn get_tenant(
    ctx: &Ctx<'_>,
    tenant: &str,
) -> Result<(crate::directory::Tenant, Entry), OpError> {
    let tenant = tenant_id(tenant)?;
    Ok(ctx.store.tx(|tx| {
        let t = crate::directory::require_tenant(tx, &tenant)?;
        Ok((t, store::get_entry(tx, &tenant)?))
    })?)
}
