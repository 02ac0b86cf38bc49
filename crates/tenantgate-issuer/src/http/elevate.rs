//! `POST /admin/elevate`: an operator's break-glass token for one tenant (see
//! [`crate::flows::elevate`]). Admin-token protected like the rest of `/admin`; the audit line
//! names the admin API as actor and the operator, target, reason, ttl and jti.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::blocking;
use super::error::ApiError;
use super::extract::{client_ip, Admin, JsonBody};
use super::reply::json_response;
use crate::flows::{self, ElevateInput};
use crate::time::parse_duration;

/// A lifetime as seconds (integer) or text (`"10m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ttl {
    Seconds(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ElevateRequest {
    /// The operator's email.
    email: String,
    /// The tenant to act on.
    tenant: String,
    reason: String,
    #[serde(default)]
    ttl: Option<Ttl>,
}

pub(super) async fn elevate(
    admin: Admin,
    JsonBody(req): JsonBody<ElevateRequest>,
) -> Result<Response, ApiError> {
    let ttl = match req.ttl {
        None => None,
        Some(Ttl::Seconds(s)) => Some(s),
        Some(Ttl::Text(t)) => {
            Some(parse_duration(&t).map_err(|m| ApiError::InvalidRequest(format!("ttl: {m}")))?)
        }
    };
    let ip = client_ip(&admin.app, admin.peer, &admin.headers);
    let elevated = blocking(&admin.app, move |app| {
        let input = ElevateInput {
            email: &req.email,
            target: &req.tenant,
            reason: &req.reason,
            ttl,
        };
        flows::elevate(&app.ctx("admin", Some(&ip)), &input).map_err(ApiError::from)
    })
    .await?;
    let body = serde_json::to_value(&elevated).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json_response(StatusCode::CREATED, &body))
}
