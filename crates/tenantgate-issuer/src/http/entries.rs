//! The signed tenant directory: `GET /v1/directory` (the document, public like the JWKS), and
//! the admin routes that set what it says about a tenant: `GET /admin/tenants/{tenant}`,
//! `PUT /admin/tenants/{tenant}/hosts`, `PUT /admin/tenants/{tenant}/tenant-values`,
//! `PUT` and `DELETE /admin/tenants/{tenant}/idp`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::{ok, to_json};
use super::error::ApiError;
use super::extract::{Admin, JsonBody, TenantId};
use super::{blocking, App};
use crate::entries::{self, Entry};
use crate::time::now;

/// The entry with every member present (empty ones too), as the admin API shows it.
fn entry_json(tenant: &str, entry: &Entry) -> Result<Value, ApiError> {
    Ok(json!({
        "tenant": tenant,
        "hosts": to_json(&entry.hosts)?,
        "tenant_values": to_json(&entry.tenant_values)?,
        "idp": to_json(&entry.idp)?,
    }))
}

/// One directory build at a time per process. A request is answered by a build that started
/// after it arrived (so the document holds every change committed before the request), and the
/// requests that arrive during a build share the next one: a flood of fetches keeps at most one
/// blocking thread busy, whatever the number of tenants.
#[derive(Default)]
pub struct DirectoryBuilds {
    last: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
}

/// `GET /v1/directory`: the signed document (404 when `[directory] enabled = false`).
pub(super) async fn directory(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    if !app.config.directory.enabled {
        return Err(ApiError::NotFound);
    }
    let arrived = Instant::now();
    let mut last = app.directory_builds.last.lock().await;
    let doc = match &*last {
        Some((started, doc)) if *started >= arrived => doc.clone(),
        _ => {
            let started = Instant::now();
            let doc = blocking(&app, |app| {
                entries::document::signed(&app.store, &app.keys, &app.config.issuer, now())
                    .map_err(ApiError::from)
            })
            .await?;
            let doc = Bytes::from(doc);
            *last = Some((started, doc.clone()));
            doc
        }
    };
    drop(last);
    let mut r = (StatusCode::OK, doc).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwt"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

pub(super) async fn get_tenant(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    let (t, entry) = admin
        .run(move |ctx| entries::ops::get_tenant(ctx, &tenant))
        .await?;
    let mut v = to_json(&t)?;
    let e = entry_json(&t.id, &entry)?;
    for key in ["hosts", "tenant_values", "idp"] {
        v[key] = e[key].clone();
    }
    Ok(ok(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Hosts {
    hosts: Vec<String>,
}

pub(super) async fn put_hosts(
    admin: Admin,
    TenantId(tenant): TenantId,
    JsonBody(req): JsonBody<Hosts>,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let entry = admin
        .run(move |ctx| entries::ops::set_hosts(ctx, &t, &req.hosts))
        .await?;
    Ok(ok(entry_json(&tenant, &entry)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantValues {
    tenant_values: BTreeMap<String, Vec<String>>,
}

pub(super) async fn put_tenant_values(
    admin: Admin,
    TenantId(tenant): TenantId,
    JsonBody(req): JsonBody<TenantValues>,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let entry = admin
        .run(move |ctx| entries::ops::set_tenant_values(ctx, &t, &req.tenant_values))
        .await?;
    Ok(ok(entry_json(&tenant, &entry)?))
}

/// The body is the IdP object itself (see docs/issuer.md "Signed tenant directory").
pub(super) async fn put_idp(
    admin: Admin,
    TenantId(tenant): TenantId,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let entry = admin
        .run(move |ctx| entries::ops::set_idp(ctx, &t, &body))
        .await?;
    Ok(ok(entry_json(&tenant, &entry)?))
}

pub(super) async fn delete_idp(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let (entry, removed) = admin
        .run(move |ctx| entries::ops::remove_idp(ctx, &t))
        .await?;
    let mut v = entry_json(&tenant, &entry)?;
    v["removed"] = removed.into();
    Ok(ok(v))
}
