//! The request prologue every handler shares, as axum extractors: bounded JSON bodies, checked
//! path parameters, the client address, the tenant of `/v1/tenants/{tenant}/...` and the admin
//! bearer. Every rejection is an [`ApiError`] with a JSON body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::App;
use crate::config::Config;
use crate::{constant_time_eq, validate};

/// Reads a body of at most `http.body_limit` bytes within `http.body_timeout`; empty means
/// `None`. A non-empty body must be JSON.
pub(super) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    config: &Config,
) -> Result<Option<T>, ApiError> {
    let limit = config.body_limit;
    let timeout = config.connections.body_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))?
        .map_err(|e| body_error(e, limit))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Why a body could not be read: over the limit (413), or not a well-formed HTTP body, such as a
/// broken chunked encoding (400).
/// `application/x-www-form-urlencoded` decoding of one component (a form field, a query
/// parameter): `+` is a space, `%XX` two hex digits; `None` for a broken escape or a result that
/// is not UTF-8.
pub(super) fn form_decode(text: &str) -> Option<String> {
    let hex = |b: &u8| (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(bytes.get(i + 1)?)?;
                let lo = hex(bytes.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn body_error(e: axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return ApiError::BodyTooLarge(limit);
        }
        source = err.source();
    }
    ApiError::InvalidRequest(format!("the request body is malformed: {e}"))
}

/// Like [`read_json`], for endpoints where the body is required.
async fn require_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    config: &Config,
) -> Result<T, ApiError> {
    read_json(headers, body, config)
        .await?
        .ok_or_else(|| ApiError::InvalidRequest("a JSON body is required".into()))
}

/// The client address: the TCP peer, or with `trusted_proxy_hops = n` the n-th address from the
/// right of `X-Forwarded-For` (the one our closest trusted proxy saw).
pub(super) fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> String {
    let hops = app.config.trusted_proxy_hops;
    if hops > 0 {
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(ip) = forwarded
            .len()
            .checked_sub(hops)
            .and_then(|i| forwarded.get(i))
        {
            if ip.parse::<std::net::IpAddr>().is_ok() {
                return (*ip).to_string();
            }
        }
    }
    peer.ip().to_string()
}

/// The path parameters (one, or several as a `Vec`); malformed ones are a 400 `invalid_request`
/// ("path: ...").
pub(super) struct PathParam<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::InvalidRequest(format!("path: {e}")))?;
        Ok(PathParam(value))
    }
}

/// The `{tenant}` path parameter, checked to be a valid tenant id.
pub(super) struct TenantId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TenantId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParam(tenant) = PathParam::<String>::from_request_parts(parts, state).await?;
        validate::tenant_id("tenant", &tenant)
            .map(TenantId)
            .map_err(ApiError::InvalidRequest)
    }
}

/// A required JSON body of at most `body_limit` bytes (see [`require_json`]).
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        require_json(&parts.headers, body, &app.config)
            .await
            .map(JsonBody)
    }
}

/// An optional JSON body of at most `body_limit` bytes (see [`read_json`]); without one,
/// `T::default()`.
pub(super) struct JsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default + Send> FromRequest<Arc<App>> for JsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let value = read_json(&parts.headers, body, &app.config).await?;
        Ok(JsonOrDefault(value.unwrap_or_default()))
    }
}

/// What every `/v1/tenants/{tenant}/...` handler starts from: the validated tenant, the client
/// address and the request headers.
pub(super) struct TenantCall {
    pub app: Arc<App>,
    pub tenant: String,
    pub ip: String,
    pub headers: HeaderMap,
}

impl FromRequestParts<Arc<App>> for TenantCall {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let TenantId(tenant) = TenantId::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(TenantCall {
            app: app.clone(),
            tenant,
            ip: client_ip(app, peer, &parts.headers),
            headers: parts.headers.clone(),
        })
    }
}

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

/// An authorized admin request (`Authorization: Bearer <admin token>`, compared in constant
/// time). Every admin handler takes it first, so a request without the admin bearer is refused
/// before its path or body is looked at.
pub(super) struct Admin {
    pub app: Arc<App>,
    pub peer: SocketAddr,
    pub headers: HeaderMap,
}

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        authorize(app, &parts.headers).map_err(IntoResponse::into_response)?;
        Ok(Admin {
            app: app.clone(),
            peer,
            headers: parts.headers.clone(),
        })
    }
}
