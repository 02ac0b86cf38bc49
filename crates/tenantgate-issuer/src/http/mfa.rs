//! TOTP over HTTP: `POST /v1/tenants/{tenant}/sign-in/totp` (the second step of a sign-in),
//! `POST /v1/tenants/{tenant}/totp/enroll` (a new secret: bearer access token, or the challenge
//! of a sign-in that must enroll first) and `POST /v1/tenants/{tenant}/totp/confirm` (a first
//! code; returns the recovery codes once).

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{read_json, JsonBody, TenantCall};
use super::reply::{json_response, no_store};
use super::session::session_response;
use super::{blocking, App};
use crate::flows::{self, Delivery, EnrollAs, SecondFactorInput, SignInLimits};

/// Longest bearer token or challenge accepted.
const MAX_TOKEN: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SecondFactorRequest {
    challenge: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    challenge: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeRequest {
    code: String,
}

fn limits(app: &App) -> SignInLimits<'_> {
    SignInLimits {
        throttle: &app.throttle,
        hashing: &app.hashing,
    }
}

/// `Authorization: Bearer <access token>`, if sent (malformed: 400).
fn bearer(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN)
        .map(Some)
        .ok_or_else(|| {
            ApiError::InvalidRequest("authorization: expected `Bearer <access token>`".into())
        })
}

pub(super) async fn second_factor(
    TenantCall {
        app, tenant, ip, ..
    }: TenantCall,
    JsonBody(req): JsonBody<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    if req.challenge.is_empty() || req.challenge.len() > MAX_TOKEN {
        return Err(ApiError::InvalidRequest(
            "challenge: send the challenge of the password step".into(),
        ));
    }
    let input = SecondFactorInput {
        challenge: req.challenge,
        code: req.code,
        recovery_code: req.recovery_code,
    };
    blocking(&app, move |app| {
        let ctx = app.ctx("anonymous", Some(&ip));
        let done = flows::second_factor(&ctx, &limits(app), &tenant, &input)?;
        let mut extra = serde_json::Map::new();
        if let Some(codes) = done.recovery_codes {
            extra.insert("recovery_codes".into(), codes.into());
        }
        let delivery = if done.signed_in.csrf_token.is_some() {
            Delivery::Cookie
        } else {
            Delivery::Body
        };
        session_response(app, &tenant, done.signed_in, delivery, extra)
    })
    .await
}

pub(super) async fn enroll(
    TenantCall {
        app,
        tenant,
        ip,
        headers,
    }: TenantCall,
    body: Body,
) -> Result<Response, ApiError> {
    let who = match (
        bearer(&headers)?,
        read_json::<ChallengeRequest>(&headers, body, &app.config).await?,
    ) {
        (Some(token), None) => EnrollAs::AccessToken(token),
        (None, Some(c)) if !c.challenge.is_empty() && c.challenge.len() <= MAX_TOKEN => {
            EnrollAs::Challenge(c.challenge)
        }
        _ => return Err(ApiError::InvalidRequest(
            "send either Authorization: Bearer <access token> or {\"challenge\": ...} of a sign-in"
                .into(),
        )),
    };
    blocking(&app, move |app| {
        let done = flows::enroll_totp(&app.ctx("anonymous", Some(&ip)), &tenant, &who)?;
        let qr = crate::qr::png(&done.otpauth_uri);
        let mut body = json!({
            "secret": done.secret_base32,
            "otpauth_uri": done.otpauth_uri,
        });
        if let Some(png) = qr {
            body["qr_png"] = crate::b64_std(&png).into();
        }
        Ok(no_store(json_response(StatusCode::OK, &body)))
    })
    .await
}

pub(super) async fn confirm(
    TenantCall {
        app,
        tenant,
        ip,
        headers,
    }: TenantCall,
    JsonBody(req): JsonBody<CodeRequest>,
) -> Result<Response, ApiError> {
    let token = bearer(&headers)?.ok_or(ApiError::CredentialsMissing)?;
    blocking(&app, move |app| {
        let ctx = app.ctx("anonymous", Some(&ip));
        let codes = flows::confirm_totp(&ctx, &limits(app), &tenant, &token, &req.code)?;
        Ok(no_store(json_response(
            StatusCode::OK,
            &json!({"recovery_codes": codes}),
        )))
    })
    .await
}
