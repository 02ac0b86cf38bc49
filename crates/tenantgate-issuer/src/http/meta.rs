//! `/.well-known/jwks.json`, `/.well-known/openid-configuration`, `/healthz`, `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::reply::json_response;
use super::{blocking, App};
use crate::time::now;

fn cacheable(mut r: Response, max_age: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}

pub(super) async fn jwks(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let doc = blocking(&app, |app| {
        app.keys
            .jwks(&app.store, now())
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    })
    .await?;
    let mut r = cacheable(
        json_response(StatusCode::OK, &doc),
        app.config.timing.jwks_max_age,
    );
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(r)
}

pub(super) async fn openid_configuration(State(app): State<Arc<App>>) -> Response {
    let iss = &app.config.issuer;
    let doc = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "sub", "aud", "tenantId", "roles", "iat", "nbf", "exp", "jti", "sid"],
    });
    cacheable(
        json_response(StatusCode::OK, &doc),
        app.config.timing.jwks_max_age,
    )
}

pub(super) async fn healthz(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    blocking(&app, |app| {
        app.store.ping()?;
        app.keys
            .health(&app.store, now())
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(())
    })
    .await?;
    let mut r = json_response(StatusCode::OK, &json!({"status": "ok"}));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut r = (StatusCode::OK, app.metrics.render()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
