//! `/admin/...`: tenants, users, the role catalog, grants, session revocation and keys. Every
//! request needs `Authorization: Bearer <admin token>` (compared in constant time).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::blocking;
use super::error::ApiError;
use super::extract::{client_ip, Admin, JsonBody, JsonOrDefault, PathParam, TenantId};
use super::reply::json_response;
use crate::keys::Rotation;
use crate::ops::{self, TenantSettings};
use crate::time::{now, parse_duration};

impl Admin {
    /// Runs an admin operation on the blocking pool with actor `admin` and the client address.
    pub(super) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&ops::Ctx<'_>) -> Result<R, ops::OpError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let ip = client_ip(&self.app, self.peer, &self.headers);
        blocking(&self.app, move |app| {
            f(&app.ctx("admin", Some(&ip))).map_err(ApiError::from)
        })
        .await
    }
}

pub(super) fn ok(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &value)
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A duration as seconds (integer) or text (`"10m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationInput {
    Seconds(i64),
    Text(String),
}

fn seconds(field: &str, v: Option<DurationInput>) -> Result<Option<i64>, ApiError> {
    match v {
        None => Ok(None),
        Some(DurationInput::Seconds(s)) => Ok(Some(s)),
        Some(DurationInput::Text(t)) => parse_duration(&t)
            .map(Some)
            .map_err(|m| ApiError::InvalidRequest(format!("{field}: {m}"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTenant {
    id: String,
    name: Option<String>,
    access_ttl: Option<DurationInput>,
    refresh_idle: Option<DurationInput>,
    session_absolute: Option<DurationInput>,
}

pub(super) async fn list_tenants(admin: Admin) -> Result<Response, ApiError> {
    let tenants = admin.run(ops::list_tenants).await?;
    Ok(ok(json!({ "tenants": to_json(&tenants)? })))
}

pub(super) async fn create_tenant(
    admin: Admin,
    JsonBody(req): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    let settings = TenantSettings {
        access_ttl: seconds("access_ttl", req.access_ttl)?,
        refresh_idle: seconds("refresh_idle", req.refresh_idle)?,
        session_absolute: seconds("session_absolute", req.session_absolute)?,
    };
    let tenant = admin
        .run(move |ctx| ops::create_tenant(ctx, &req.id, req.name.as_deref(), settings))
        .await?;
    Ok(json_response(StatusCode::CREATED, &to_json(&tenant)?))
}

async fn set_disabled(admin: Admin, tenant: String, disabled: bool) -> Result<Response, ApiError> {
    let (t, revoked) = admin
        .run(move |ctx| ops::set_tenant_disabled(ctx, &tenant, disabled))
        .await?;
    let mut v = to_json(&t)?;
    v["revoked_sessions"] = revoked.into();
    Ok(ok(v))
}

pub(super) async fn disable_tenant(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    set_disabled(admin, tenant, true).await
}

pub(super) async fn enable_tenant(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    set_disabled(admin, tenant, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddUser {
    email: String,
    password: Option<String>,
}

pub(super) async fn add_user(
    admin: Admin,
    TenantId(tenant): TenantId,
    JsonBody(req): JsonBody<AddUser>,
) -> Result<Response, ApiError> {
    let added = admin
        .run(move |ctx| ops::add_user(ctx, &tenant, &req.email, req.password.as_deref()))
        .await?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &to_json(&added)?))
}

pub(super) async fn list_members(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    let members = admin
        .run(move |ctx| ops::list_members(ctx, &tenant))
        .await?;
    Ok(ok(json!({ "members": to_json(&members)? })))
}

pub(super) async fn list_roles(admin: Admin) -> Result<Response, ApiError> {
    let roles = admin.run(ops::list_roles).await?;
    Ok(ok(json!({ "roles": to_json(&roles)? })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefineRole {
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

pub(super) async fn define_role(
    admin: Admin,
    PathParam(role): PathParam<String>,
    JsonOrDefault(req): JsonOrDefault<DefineRole>,
) -> Result<Response, ApiError> {
    let role = admin
        .run(move |ctx| ops::define_role(ctx, &role, &req.description, &req.permissions))
        .await?;
    Ok(ok(to_json(&role)?))
}

async fn change_role(admin: Admin, parts: Vec<String>, grant: bool) -> Result<Response, ApiError> {
    let [tenant, email, role] = <[String; 3]>::try_from(parts)
        .map_err(|_| ApiError::InvalidRequest("path: expected tenant, email and role".into()))?;
    let changed = admin
        .run(move |ctx| ops::change_role(ctx, &tenant, &email, &role, grant))
        .await?;
    Ok(ok(
        json!({ if grant { "granted" } else { "revoked" }: changed }),
    ))
}

pub(super) async fn grant_role(
    admin: Admin,
    PathParam(parts): PathParam<Vec<String>>,
) -> Result<Response, ApiError> {
    change_role(admin, parts, true).await
}

pub(super) async fn revoke_role(
    admin: Admin,
    PathParam(parts): PathParam<Vec<String>>,
) -> Result<Response, ApiError> {
    change_role(admin, parts, false).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeSessions {
    tenant: Option<String>,
}

pub(super) async fn revoke_sessions(
    admin: Admin,
    PathParam(email): PathParam<String>,
    JsonOrDefault(req): JsonOrDefault<RevokeSessions>,
) -> Result<Response, ApiError> {
    let n = admin
        .run(move |ctx| ops::revoke_sessions(ctx, &email, req.tenant.as_deref()))
        .await?;
    Ok(ok(json!({ "revoked_sessions": n })))
}

pub(super) async fn get_session(
    admin: Admin,
    PathParam(sid): PathParam<String>,
) -> Result<Response, ApiError> {
    let session = admin
        .run(move |ctx| Ok(ctx.store.tx(|tx| crate::sessions::get_session(tx, &sid))?))
        .await?;
    let session = session.ok_or_else(|| ApiError::Missing("no such session".into()))?;
    Ok(ok(to_json(&session)?))
}

pub(super) async fn list_keys(admin: Admin) -> Result<Response, ApiError> {
    let keys = admin
        .run(|ctx| Ok(ctx.keys.list(ctx.store, now())?))
        .await?;
    Ok(ok(json!({ "keys": to_json(&keys)? })))
}

pub(super) async fn rotate_keys(admin: Admin) -> Result<Response, ApiError> {
    let rotation = admin.run(ops::rotate_keys).await?;
    let (status, key, created) = match rotation {
        Rotation::Created(k) => (StatusCode::CREATED, k, true),
        Rotation::AlreadyPending(k) => (StatusCode::OK, k, false),
    };
    Ok(json_response(
        status,
        &json!({ "created": created, "key": to_json(&key)? }),
    ))
}
