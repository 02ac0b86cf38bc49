//! `POST /v1/tenants/{tenant}/sign-in | refresh | sign-out`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{blocking, client_ip, no_store, read_json, require_json, App};
use crate::audit::{Action, Event};
use crate::directory;
use crate::metrics::{Counter, UNKNOWN_TENANT};
use crate::ops::audience_claim;
use crate::sessions::{self, Csrf, Issued, Refresh, Secrets, StartRefused};
use crate::time::now;
use crate::{password, random_token, validate};
use tenantgate_core::token::claims::AccessClaims;

/// Refresh tokens are 47 characters; anything much longer is not one of ours.
const MAX_REFRESH_TOKEN: usize = 256;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Delivery {
    /// `HttpOnly` cookie scoped to the refresh path, plus a CSRF token in the body (browsers).
    #[default]
    Cookie,
    /// The refresh token in the JSON body (non-browser clients; no cookie, no CSRF).
    Body,
}

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
        require_json(&parts.headers, body, app.config.body_limit)
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
        let value = read_json(&parts.headers, body, app.config.body_limit).await?;
        Ok(JsonOrDefault(value.unwrap_or_default()))
    }
}

/// What every `/v1/tenants/{tenant}/...` handler starts from: the validated tenant, the client
/// address and the request headers.
pub(super) struct TenantCall {
    app: Arc<App>,
    tenant: String,
    ip: String,
    headers: HeaderMap,
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

fn cookie_path(tenant: &str) -> String {
    format!("/v1/tenants/{tenant}/refresh")
}

fn set_cookie(app: &App, tenant: &str, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
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

fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed access token for an issued session.
fn access_token(app: &App, issued: &Issued, t: i64) -> Result<(String, i64), ApiError> {
    let jti = random_token(16).map_err(|_| ApiError::Internal("random generator failed".into()))?;
    let ttl = issued.tenant.access_ttl;
    let claims = AccessClaims {
        iss: app.config.issuer.clone(),
        sub: issued.user_id.clone(),
        aud: audience_claim(app.config.audience.clone()),
        tenant_id: issued.tenant.id.clone(),
        roles: issued.roles.clone(),
        iat: t,
        nbf: t,
        exp: t.saturating_add(ttl),
        jti,
        sid: Some(issued.session_id.clone()),
    };
    let token = app
        .keys
        .sign(&app.store, &claims, t)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    app.metrics
        .inc(Counter::TokensIssued, Some(&issued.tenant.id), None);
    Ok((token, ttl))
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
fn deliver_refresh_token(
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
    let email = validate::email("email", &req.email).map_err(ApiError::InvalidRequest)?;
    if req.password.is_empty() {
        return Err(ApiError::InvalidRequest(
            "password: must not be empty".into(),
        ));
    }
    if req.password.chars().count() > validate::PASSWORD_MAX {
        return Err(ApiError::InvalidRequest(format!(
            "password: must be at most {} characters",
            validate::PASSWORD_MAX
        )));
    }
    let delivery = req.refresh_token_delivery;
    let password = req.password;

    blocking(&app, move |app| {
        let t = now();
        let lookup = app
            .store
            .tx(|tx| sessions::sign_in_lookup(tx, &tenant, &email))?;
        let Some(tenant_row) = lookup.tenant else {
            app.metrics
                .inc(Counter::SignInFailure, Some(UNKNOWN_TENANT), None);
            return Err(ApiError::TenantNotFound);
        };
        let fail = |reason: &str, user: Option<&str>| {
            app.metrics.inc(Counter::SignInFailure, Some(&tenant), None);
            app.audit.record(
                Event::new(
                    Action::SignInFailure,
                    Some(&tenant),
                    user.unwrap_or("anonymous"),
                    Some(&ip),
                )
                .with("email", email.as_str())
                .with("reason", reason),
            );
        };
        // Limits apply before the password is checked, per address and per account.
        for (limiter, key) in [
            (&app.ip_limiter, format!("ip:{ip}")),
            (&app.user_limiter, format!("user:{tenant}:{email}")),
        ] {
            if let Err(retry_after) = limiter.check(&key) {
                app.metrics
                    .inc(Counter::SignInRateLimited, Some(&tenant), None);
                fail("rate_limited", None);
                return Err(ApiError::RateLimited { retry_after });
            }
        }
        if tenant_row.disabled {
            fail("tenant_disabled", None);
            return Err(ApiError::TenantDisabled);
        }
        let user_id = match &lookup.user {
            Some((id, hash, member)) => {
                let ok = password::verify(&password, hash);
                if !ok || !*member {
                    fail(if ok { "not_a_member" } else { "wrong_password" }, Some(id));
                    return Err(ApiError::InvalidCredentials);
                }
                id.clone()
            }
            None => {
                password::verify_dummy(&password);
                fail("unknown_user", None);
                return Err(ApiError::InvalidCredentials);
            }
        };
        let secrets = Secrets::generate()
            .map_err(|_| ApiError::Internal("random generator failed".into()))?;
        let issued = match app
            .store
            .tx(|tx| sessions::start(tx, &tenant, &user_id, &secrets, t))?
        {
            Ok(issued) => issued,
            Err(StartRefused::TenantGone) => return Err(ApiError::TenantNotFound),
            Err(StartRefused::TenantDisabled) => {
                fail("tenant_disabled", Some(&user_id));
                return Err(ApiError::TenantDisabled);
            }
            Err(StartRefused::NotMember) => {
                fail("not_a_member", Some(&user_id));
                return Err(ApiError::InvalidCredentials);
            }
        };
        let (token, ttl) = access_token(app, &issued, t)?;
        app.metrics.inc(Counter::SignInSuccess, Some(&tenant), None);
        app.audit.record(
            Event::new(Action::SignIn, Some(&tenant), &user_id, Some(&ip))
                .roles(&issued.roles)
                .with("sid", issued.session_id.as_str())
                .with(
                    "delivery",
                    if delivery == Delivery::Cookie {
                        "cookie"
                    } else {
                        "body"
                    },
                ),
        );
        let via_cookie = delivery == Delivery::Cookie;
        let mut body = token_body(&issued, token, ttl, t);
        if via_cookie {
            body["csrf_token"] = secrets.csrf_token.clone().into();
        }
        deliver_refresh_token(app, &tenant, &issued, t, body, via_cookie)
    })
    .await
}

pub(super) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Where the presented refresh token came from.
enum Presented {
    Cookie { token: String, csrf: Option<String> },
    Body(String),
}

async fn presented_refresh_token(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Presented>, ApiError> {
    if let Some(req) = read_json::<TokenRequest>(headers, body, app.config.body_limit).await? {
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
    Ok(
        read_cookie(headers, &app.config.cookie_name).map(|token| Presented::Cookie {
            token: token.to_string(),
            csrf: headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }),
    )
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
        let t = now();
        if app
            .store
            .tx(|tx| directory::get_tenant(tx, &tenant))?
            .is_none()
        {
            app.metrics.inc(
                Counter::RefreshError,
                Some(UNKNOWN_TENANT),
                Some("tenant_not_found"),
            );
            return Err(ApiError::TenantNotFound);
        }
        let (token, csrf, via_cookie) = match &presented {
            Presented::Cookie { token, csrf } => {
                (token.as_str(), Csrf::Header(csrf.as_deref()), true)
            }
            Presented::Body(token) => (token.as_str(), Csrf::NotRequired, false),
        };
        let secrets = Secrets::generate()
            .map_err(|_| ApiError::Internal("random generator failed".into()))?;
        let outcome = app
            .store
            .tx(|tx| sessions::refresh(tx, &tenant, token, csrf, &secrets, t))?;
        let refused = |reason: &str, session: Option<&sessions::SessionRef>, error: ApiError| {
            app.metrics
                .inc(Counter::RefreshError, Some(&tenant), Some(reason));
            let mut e = Event::new(
                Action::RefreshFailure,
                Some(&tenant),
                session.map_or("anonymous", |s| s.user_id.as_str()),
                Some(&ip),
            )
            .with("reason", reason);
            if let Some(s) = session {
                e = e.with("sid", s.session_id.as_str());
            }
            app.audit.record(e);
            error
        };
        let issued = match outcome {
            Refresh::Rotated(issued) => issued,
            Refresh::Invalid => {
                return Err(refused(
                    "refresh_token_invalid",
                    None,
                    ApiError::RefreshTokenInvalid,
                ))
            }
            Refresh::CsrfInvalid(s) => {
                return Err(refused("csrf_invalid", Some(&s), ApiError::CsrfInvalid))
            }
            Refresh::TheftDetected(s) => {
                app.metrics.inc(Counter::TokenTheft, Some(&tenant), None);
                app.metrics.inc(
                    Counter::RefreshError,
                    Some(&tenant),
                    Some("token_theft_detected"),
                );
                let roles = app
                    .store
                    .tx(|tx| directory::roles_of(tx, &tenant, &s.user_id))
                    .unwrap_or_default();
                app.audit.record(
                    Event::new(Action::TokenTheft, Some(&tenant), &s.user_id, Some(&ip))
                        .roles(&roles)
                        .with("sid", s.session_id.as_str())
                        .with("outcome", "session_family_revoked"),
                );
                return Err(ApiError::TokenTheftDetected);
            }
            Refresh::Revoked { session, reason } => {
                app.metrics.inc(
                    Counter::RefreshError,
                    Some(&tenant),
                    Some("session_revoked"),
                );
                app.audit.record(
                    Event::new(
                        Action::RefreshFailure,
                        Some(&tenant),
                        &session.user_id,
                        Some(&ip),
                    )
                    .with("reason", "session_revoked")
                    .with("revoke_reason", reason)
                    .with("sid", session.session_id.as_str()),
                );
                return Err(ApiError::SessionRevoked);
            }
            Refresh::Expired { session, idle } => {
                let reason = if idle {
                    "idle_timeout"
                } else {
                    "absolute_timeout"
                };
                app.metrics
                    .inc(Counter::RefreshError, Some(&tenant), Some(reason));
                app.audit.record(
                    Event::new(
                        Action::RefreshFailure,
                        Some(&tenant),
                        &session.user_id,
                        Some(&ip),
                    )
                    .with("reason", reason)
                    .with("sid", session.session_id.as_str()),
                );
                return Err(ApiError::SessionExpired);
            }
            Refresh::TenantDisabled(s) => {
                return Err(refused(
                    "tenant_disabled",
                    Some(&s),
                    ApiError::TenantDisabled,
                ))
            }
        };
        let (access, ttl) = access_token(app, &issued, t)?;
        app.metrics
            .inc(Counter::RefreshSuccess, Some(&tenant), None);
        app.audit.record(
            Event::new(Action::Refresh, Some(&tenant), &issued.user_id, Some(&ip))
                .roles(&issued.roles)
                .with("sid", issued.session_id.as_str()),
        );
        let body = token_body(&issued, access, ttl, t);
        deliver_refresh_token(app, &tenant, &issued, t, body, via_cookie)
    })
    .await
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
    let bearer = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty() && t.len() <= 16 * 1024)
                .ok_or_else(|| {
                    ApiError::InvalidRequest(
                        "authorization: expected `Bearer <access token>`".into(),
                    )
                })?,
        ),
        None => None,
    };
    let body_token = match read_json::<TokenRequest>(&headers, body, app.config.body_limit).await? {
        Some(req)
            if req.refresh_token.is_empty() || req.refresh_token.len() > MAX_REFRESH_TOKEN =>
        {
            return Err(ApiError::InvalidRequest(
                "refresh_token: not a refresh token".into(),
            ))
        }
        other => other.map(|r| r.refresh_token),
    };
    if bearer.is_none() && body_token.is_none() {
        return Err(ApiError::CredentialsMissing);
    }

    blocking(&app, move |app| {
        let t = now();
        let session_id = match (&bearer, &body_token) {
            (Some(token), _) => {
                let claims = app
                    .keys
                    .verify(&app.store, token, &app.config.issuer, t)
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                    .filter(|c| c.tenant_id == tenant)
                    .ok_or(ApiError::AccessTokenInvalid)?;
                claims.sid.ok_or(ApiError::AccessTokenInvalid)?
            }
            (None, Some(token)) => {
                app.store
                    .tx(|tx| sessions::session_of_token(tx, &tenant, token))?
                    .ok_or(ApiError::RefreshTokenInvalid)?
                    .session_id
            }
            (None, None) => return Err(ApiError::CredentialsMissing),
        };
        let user = app
            .store
            .tx(|tx| sessions::sign_out(tx, &tenant, &session_id, t))?
            .ok_or(ApiError::AccessTokenInvalid)?;
        app.metrics.inc(Counter::SignOut, Some(&tenant), None);
        app.audit.record(
            Event::new(Action::SignOut, Some(&tenant), &user, Some(&ip))
                .with("sid", session_id.as_str()),
        );
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
