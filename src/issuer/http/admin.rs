//! `/admin/...`: tenants, users, the role catalog, grants, session revocation and keys. Every
//! request needs `Authorization: Bearer <admin token>` (compared in constant time).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::session::{json_response, tenant_path};
use super::{blocking, client_ip, read_json, require_json, App};
use crate::issuer::constant_time_eq;
use crate::issuer::keys::Rotation;
use crate::issuer::ops::{self, TenantSettings};
use crate::issuer::time::{now, parse_duration};

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = app.admin_token.as_deref().ok_or(ApiError::AdminDisabled)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::AdminUnauthorized)?;
    if constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::AdminUnauthorized)
    }
}

/// Runs an admin operation on the blocking pool with actor `admin` and the client address.
async fn run<R: Send + 'static>(
    app: &Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    f: impl FnOnce(&ops::Ctx<'_>) -> Result<R, ops::OpError> + Send + 'static,
) -> Result<R, ApiError> {
    authorize(app, headers)?;
    let ip = client_ip(app, peer, headers);
    blocking(app, move |app| {
        f(&app.ctx("admin", Some(&ip))).map_err(ApiError::from)
    })
    .await
}

fn ok(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &value)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

fn path_segment(path: Result<Path<Vec<String>>, PathRejection>) -> Result<Vec<String>, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::InvalidRequest(format!("path: {e}")))
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

pub(super) async fn list_tenants(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenants = run(&app, peer, &headers, ops::list_tenants).await?;
    Ok(ok(json!({ "tenants": to_json(&tenants)? })))
}

pub(super) async fn create_tenant(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let req: CreateTenant = require_json(&headers, body, app.config.body_limit).await?;
    let settings = TenantSettings {
        access_ttl: seconds("access_ttl", req.access_ttl)?,
        refresh_idle: seconds("refresh_idle", req.refresh_idle)?,
        session_absolute: seconds("session_absolute", req.session_absolute)?,
    };
    let tenant = run(&app, peer, &headers, move |ctx| {
        ops::create_tenant(ctx, &req.id, req.name.as_deref(), settings)
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &to_json(&tenant)?))
}

async fn set_disabled(
    app: Arc<App>,
    peer: SocketAddr,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    disabled: bool,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let tenant = tenant_path(path)?;
    let (t, revoked) = run(&app, peer, &headers, move |ctx| {
        ops::set_tenant_disabled(ctx, &tenant, disabled)
    })
    .await?;
    let mut v = to_json(&t)?;
    v["revoked_sessions"] = revoked.into();
    Ok(ok(v))
}

pub(super) async fn disable_tenant(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_disabled(app, peer, path, headers, true).await
}

pub(super) async fn enable_tenant(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_disabled(app, peer, path, headers, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddUser {
    email: String,
    password: Option<String>,
}

pub(super) async fn add_user(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let tenant = tenant_path(path)?;
    let req: AddUser = require_json(&headers, body, app.config.body_limit).await?;
    let added = run(&app, peer, &headers, move |ctx| {
        ops::add_user(ctx, &tenant, &req.email, req.password.as_deref())
    })
    .await?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &to_json(&added)?))
}

pub(super) async fn list_members(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let tenant = tenant_path(path)?;
    let members = run(&app, peer, &headers, move |ctx| {
        ops::list_members(ctx, &tenant)
    })
    .await?;
    Ok(ok(json!({ "members": to_json(&members)? })))
}

pub(super) async fn list_roles(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let roles = run(&app, peer, &headers, ops::list_roles).await?;
    Ok(ok(json!({ "roles": to_json(&roles)? })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefineRole {
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

pub(super) async fn define_role(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let Path(role) = path.map_err(|e| ApiError::InvalidRequest(format!("path: {e}")))?;
    let req: DefineRole = read_json(&headers, body, app.config.body_limit)
        .await?
        .unwrap_or(DefineRole {
            description: String::new(),
            permissions: Vec::new(),
        });
    let role = run(&app, peer, &headers, move |ctx| {
        ops::define_role(ctx, &role, &req.description, &req.permissions)
    })
    .await?;
    Ok(ok(to_json(&role)?))
}

async fn change_role(
    app: Arc<App>,
    peer: SocketAddr,
    path: Result<Path<Vec<String>>, PathRejection>,
    headers: HeaderMap,
    grant: bool,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let parts = path_segment(path)?;
    let [tenant, email, role] = <[String; 3]>::try_from(parts)
        .map_err(|_| ApiError::InvalidRequest("path: expected tenant, email and role".into()))?;
    let changed = run(&app, peer, &headers, move |ctx| {
        ops::change_role(ctx, &tenant, &email, &role, grant)
    })
    .await?;
    Ok(ok(
        json!({ if grant { "granted" } else { "revoked" }: changed }),
    ))
}

pub(super) async fn grant_role(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<Vec<String>>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_role(app, peer, path, headers, true).await
}

pub(super) async fn revoke_role(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<Vec<String>>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change_role(app, peer, path, headers, false).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeSessions {
    tenant: Option<String>,
}

pub(super) async fn revoke_sessions(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let Path(email) = path.map_err(|e| ApiError::InvalidRequest(format!("path: {e}")))?;
    let req: RevokeSessions = read_json(&headers, body, app.config.body_limit)
        .await?
        .unwrap_or_default();
    let n = run(&app, peer, &headers, move |ctx| {
        ops::revoke_sessions(ctx, &email, req.tenant.as_deref())
    })
    .await?;
    Ok(ok(json!({ "revoked_sessions": n })))
}

pub(super) async fn get_session(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers)?;
    let Path(sid) = path.map_err(|e| ApiError::InvalidRequest(format!("path: {e}")))?;
    let session = run(&app, peer, &headers, move |ctx| {
        Ok(ctx
            .store
            .tx(|tx| crate::issuer::sessions::get_session(tx, &sid))?)
    })
    .await?;
    let session = session.ok_or_else(|| ApiError::Missing("no such session".into()))?;
    Ok(ok(to_json(&session)?))
}

pub(super) async fn list_keys(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let keys = run(&app, peer, &headers, |ctx| {
        Ok(ctx.keys.list(ctx.store, now())?)
    })
    .await?;
    Ok(ok(json!({ "keys": to_json(&keys)? })))
}

pub(super) async fn rotate_keys(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rotation = run(&app, peer, &headers, ops::rotate_keys).await?;
    let (status, key, created) = match rotation {
        Rotation::Created(k) => (StatusCode::CREATED, k, true),
        Rotation::AlreadyPending(k) => (StatusCode::OK, k, false),
    };
    Ok(json_response(
        status,
        &json!({ "created": created, "key": to_json(&key)? }),
    ))
}
