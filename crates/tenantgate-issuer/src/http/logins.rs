//! `GET` and `PATCH /admin/tenants/{tenant}/login-methods`: a tenant's login methods (password,
//! TOTP policy, single sign-on). The body of a `PATCH` names only what changes.

use axum::response::Response;
use serde_json::Value;

use super::admin::{ok, to_json};
use super::error::ApiError;
use super::extract::{Admin, JsonBody, PathParam, TenantId};
use crate::logins::{self, Methods, Update};

fn view(tenant: &str, m: &Methods) -> Result<Value, ApiError> {
    let mut v = to_json(&m.view())?;
    v["tenant"] = tenant.into();
    Ok(v)
}

pub(super) async fn get_methods(
    admin: Admin,
    TenantId(tenant): TenantId,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let m = admin.run(move |ctx| logins::ops::get(ctx, &t)).await?;
    Ok(ok(view(&tenant, &m)?))
}

/// `POST /admin/users/{email}/totp/reset`: removes the user's TOTP enrollment.
pub(super) async fn reset_totp(
    admin: Admin,
    PathParam(email): PathParam<String>,
) -> Result<Response, ApiError> {
    let had = admin
        .run(move |ctx| logins::ops::reset_totp(ctx, &email))
        .await?;
    Ok(ok(serde_json::json!({ "reset": had })))
}

pub(super) async fn patch_methods(
    admin: Admin,
    TenantId(tenant): TenantId,
    JsonBody(update): JsonBody<Update>,
) -> Result<Response, ApiError> {
    let t = tenant.clone();
    let m = admin
        .run(move |ctx| logins::ops::set(ctx, &t, update))
        .await?;
    Ok(ok(view(&tenant, &m)?))
}
