//! `POST /v1/tenants/{tenant}/sign-in | refresh | sign-out`: each parses the request, runs its
//! flow ([`crate::flows`]) on the blocking pool and answers; the refresh token travels as an
//! `HttpOnly` cookie (with a CSRF token) or in the body.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{read_json, JsonBody, TenantCall};
use super::reply::{json_response, no_store};
use super::{blocking, App};
use crate::flows::{
    self, Delivery, Presented, SignInInput, SignInLimits, SignInOutcome, SignOutWith, SignedIn,
};
use crate::sessions::Issued;

/// Refresh tokens are 47 characters; anything much longer is not one of ours.
const MAX_REFRESH_TOKEN: usize = 256;

/// Longest bearer access token accepted at sign-out.
const MAX_ACCESS_TOKEN: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInRequest {
    email: String,
    password: String,
    #[serde(default)]
    refresh_token_delivery: Delivery,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    refresh_token: String,
}

fn cookie_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/refresh")
}

pub(super) fn set_cookie(
    app: &App,
    tenant: &str,
    value: &str,
    max_age: i64,
) -> Result<HeaderValue, ApiError> {
    let domain = app
        .config
        .cookie_domain
        .as_deref()
        .map(|d| format!("; Domain={d}"))
        .unwrap_or_default();
    let cookie = format!(
        "{}={value}; Path={}; Max-Age={}; HttpOnly; Secure; SameSite=Strict{domain}",
        app.config.cookie_name,
        cookie_path(tenant),
        max_age.max(0)
    );
    HeaderValue::from_str(&cookie).map_err(|_| ApiError::Internal("cookie value".into()))
}

/// The value of cookie `name` in the request's `Cookie` headers, as sent.
pub(in crate::http) fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The body of a sign-in or refresh answer: the access token and the session's expiries.
fn token_body(issued: &Issued, access_token: String, ttl: i64, t: i64) -> serde_json::Value {
    json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "session_id": issued.session_id,
        "refresh_expires_in": issued.refresh_expires_at - t,
        "session_expires_at": issued.session_expires_at,
    })
}

/// Answers with `body` and the new refresh token: as the `HttpOnly` cookie, or in the body.
pub(super) fn deliver_refresh_token(
    app: &App,
    tenant: &str,
    issued: &Issued,
    t: i64,
    mut body: serde_json::Value,
    via_cookie: bool,
) -> Result<Response, ApiError> {
    let response = if via_cookie {
        let cookie = set_cookie(
            app,
            tenant,
            &issued.refresh_token,
            issued.refresh_expires_at - t,
        )?;
        let mut r = json_response(StatusCode::OK, &body);
        r.headers_mut().insert(header::SET_COOKIE, cookie);
        r
    } else {
        body["refresh_token"] = issued.refresh_token.clone().into();
        json_response(StatusCode::OK, &body)
    };
    Ok(no_store(response))
}

pub(super) async fn sign_in(
    TenantCall {
        app, tenant, ip, ..
    }: TenantCall,
    JsonBody(req): JsonBody<SignInRequest>,
) -> Result<Response, ApiError> {
    let input = SignInInput {
        email: req.email,
        password: req.password,
        delivery: req.refresh_token_delivery,
    };
    blocking(&app, move |app| {
        let limits = SignInLimits {
            throttle: &app.throttle,
            hashing: &app.hashing,
        };
        let done = flows::sign_in(&app.ctx("anonymous", Some(&ip)), &limits, &tenant, &input)?;
        match done {
            SignInOutcome::Session(done) => {
                session_response(app, &tenant, *done, input.delivery, serde_json::Map::new())
            }
            SignInOutcome::SecondFactor(next) => Ok(no_store(json_response(
                StatusCode::OK,
                &json!({
                    "mfa_required": true,
                    "challenge": next.challenge,
                    "expires_in": next.expires_in,
                    "totp": if next.enroll { "enroll" } else { "verify" },
                }),
            ))),
        }
    })
    .await
}

/// The answer that opens a session (password, TOTP or SSO sign-in): the token body, `extra`
/// members, and the refresh token as the client asked for it.
pub(super) fn session_response(
    app: &App,
    tenant: &str,
    done: SignedIn,
    delivery: Delivery,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    let mut body = token_body(&done.issued, done.access_token, done.expires_in, done.at);
    if let Some(csrf) = done.csrf_token {
        body["csrf_token"] = csrf.into();
    }
    for (k, v) in extra {
        body[k] = v;
    }
    let via_cookie = delivery == Delivery::Cookie;
    deliver_refresh_token(app, tenant, &done.issued, done.at, body, via_cookie)
}

/// The refresh token from the JSON body, else from the cookie (with the `X-CSRF-Token` header).
async fn presented_refresh_token(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Presented>, ApiError> {
    if let Some(req) = read_json::<TokenRequest>(headers, body, &app.config).await? {
        if req.refresh_token.is_empty()
            || req.refresh_token.len() > MAX_REFRESH_TOKEN
            || !req.refresh_token.is_ascii()
        {
            return Err(ApiError::InvalidRequest(format!(
                "refresh_token: must be the non-empty token from sign-in (at most {MAX_REFRESH_TOKEN} characters)"
            )));
        }
        return Ok(Some(Presented::Body(req.refresh_token)));
    }
    let Some(token) = read_cookie(headers, &app.config.cookie_name) else {
        return Ok(None);
    };
    // The same bound as the body's token: nothing longer was ever issued.
    if token.len() > MAX_REFRESH_TOKEN {
        return Err(ApiError::InvalidRequest(format!(
            "the {} cookie: must be the token from sign-in (at most {MAX_REFRESH_TOKEN} characters)",
            app.config.cookie_name
        )));
    }
    Ok(Some(Presented::Cookie {
        token: token.to_string(),
        csrf: headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }))
}

pub(super) async fn refresh(
    TenantCall {
        app,
        tenant,
        ip,
        headers,
    }: TenantCall,
    body: Body,
) -> Result<Response, ApiError> {
    let presented = presented_refresh_token(&app, &headers, body)
        .await?
        .ok_or(ApiError::RefreshTokenMissing)?;
    blocking(&app, move |app| {
        let done = flows::refresh(&app.ctx("anonymous", Some(&ip)), &tenant, &presented)?;
        let body = token_body(&done.issued, done.access_token, done.expires_in, done.at);
        deliver_refresh_token(
            app,
            &tenant,
            &done.issued,
            done.at,
            body,
            presented.via_cookie(),
        )
    })
    .await
}

/// The session to end: the bearer access token if there is one, else the body's refresh token.
async fn sign_out_credential(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<SignOutWith, ApiError> {
    let bearer = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty() && t.len() <= MAX_ACCESS_TOKEN)
                .ok_or_else(|| {
                    ApiError::InvalidRequest(
                        "authorization: expected `Bearer <access token>`".into(),
                    )
                })?,
        ),
        None => None,
    };
    let body_token = match read_json::<TokenRequest>(headers, body, &app.config).await? {
        Some(req)
            if req.refresh_token.is_empty() || req.refresh_token.len() > MAX_REFRESH_TOKEN =>
        {
            return Err(ApiError::InvalidRequest(
                "refresh_token: not a refresh token".into(),
            ))
        }
        other => other.map(|r| r.refresh_token),
    };
    bearer
        .map(SignOutWith::AccessToken)
        .or(body_token.map(SignOutWith::RefreshToken))
        .ok_or(ApiError::CredentialsMissing)
}

pub(super) async fn sign_out(
    TenantCall {
        app,
        tenant,
        ip,
        headers,
    }: TenantCall,
    body: Body,
) -> Result<Response, ApiError> {
    let with = sign_out_credential(&app, &headers, body).await?;
    blocking(&app, move |app| {
        flows::sign_out(&app.ctx("anonymous", Some(&ip)), &tenant, &with)?;
        let mut r = StatusCode::NO_CONTENT.into_response();
        r.headers_mut()
            .insert(header::SET_COOKIE, set_cookie(app, &tenant, "", 0)?);
        Ok(no_store(r))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_lookup() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tg_refresh=tok; b=2"),
        );
        assert_eq!(read_cookie(&h, "tg_refresh"), Some("tok"));
        assert_eq!(read_cookie(&h, "tg"), None);
    }
}
