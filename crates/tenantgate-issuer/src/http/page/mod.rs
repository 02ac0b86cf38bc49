//! The hosted sign-in page of each tenant, plain server-rendered HTML without script:
//!
//! - `GET /t/{tenant}/sign-in`: the tenant's display name and its enabled methods (the password
//!   form, a link to its single sign-on);
//! - `POST /t/{tenant}/sign-in`: the password step ([`crate::flows::sign_in`]); it answers the signed-in
//!   page, or the TOTP step when the tenant asks for a second factor;
//! - `POST /t/{tenant}/sign-in/totp`: the TOTP step ([`crate::flows::second_factor`]);
//! - `GET /t/{tenant}/sign-in/done`: where single sign-on returns;
//! - `GET /assets/sign-in.css`: the stylesheet.
//!
//! A sign-in ends in the same session as the API's cookie delivery: the refresh token in its
//! `HttpOnly` cookie. Every form carries a CSRF token that must equal the page's
//! `SameSite=Strict` cookie (double submit), and every page carries a strict
//! Content-Security-Policy ([`form::CSP`]).

mod form;
mod html;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use self::form::{csrf_cookie, csrf_matches, csrf_set_cookie, field, page, read_form, FormError};
use self::html::SignInView;
use super::extract::client_ip;
use super::session::set_cookie;
use super::{blocking, App};
use crate::flows::{FlowError, LoginMethod, SignInLimits, SignedIn};
use crate::{directory, logins, random_token, validate};

/// The tenant a page is for: enabled, with its display name and login methods.
struct PageTenant {
    id: String,
    name: String,
    password: bool,
    sso: bool,
}

/// One request to a page route: the checked tenant, the client address and the CSRF token
/// the page keeps (the browser's, or a new one).
struct Visit {
    tenant: PageTenant,
    ip: String,
    csrf: String,
}

/// The form or page could not be served; each variant is a page of its own.
enum Refusal {
    /// Unknown, malformed or disabled tenant: the same 404 page for all three.
    NoTenant,
    Csrf,
    Form(FormError),
    Internal(String),
}

impl Refusal {
    fn into_page(self, tenant: Option<&str>) -> Response {
        let (status, heading, message) = match self {
            Refusal::NoTenant => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no sign-in page at this address. Check the link you followed.",
            ),
            Refusal::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form has expired or was not sent from this sign-in page. Go back to \
                 the sign-in page and try again.",
            ),
            Refusal::Form(FormError::TooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form sent more than this page accepts.",
            ),
            Refusal::Form(_) => (
                StatusCode::BAD_REQUEST,
                "Form not readable",
                "The form could not be read. Go back to the sign-in page and try again.",
            ),
            Refusal::Internal(detail) => {
                log_failure(&detail);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in unavailable",
                    "Signing in is not possible right now. Try again in a few minutes.",
                )
            }
        };
        let again = tenant.filter(|_| !matches!(status, StatusCode::NOT_FOUND));
        page(status, html::message_page(heading, message, again))
    }
}

fn log_failure(detail: &str) {
    eprintln!(
        "{}",
        serde_json::json!({"level": "error", "msg": "sign-in page failed", "error": detail})
    );
}

/// Reads the tenant of a page: unknown, malformed and disabled tenants are all "no page".
async fn load_tenant(app: &Arc<App>, tenant: &str) -> Result<PageTenant, Refusal> {
    let id = validate::tenant_id("tenant", tenant).map_err(|_| Refusal::NoTenant)?;
    let found = blocking(app, move |app| {
        Ok(app.store.tx(|tx| {
            let Some(row) = directory::get_tenant(tx, &id)? else {
                return Ok(None);
            };
            let methods = logins::store::methods_of(tx, &id)?;
            Ok(Some((row, methods)))
        })?)
    })
    .await
    .map_err(|e| Refusal::Internal(e.message()))?;
    match found {
        Some((row, methods)) if !row.disabled => Ok(PageTenant {
            id: row.id,
            name: row.name,
            password: methods.password,
            sso: methods.sso.is_some(),
        }),
        _ => Err(Refusal::NoTenant),
    }
}

/// The tenant and the browser's CSRF token (a new one when it has none).
async fn visit(
    app: &Arc<App>,
    tenant: &str,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Visit, Refusal> {
    let tenant = load_tenant(app, tenant).await?;
    let csrf = match csrf_cookie(headers) {
        Some(token) => token,
        None => random_token(32).map_err(|_| Refusal::Internal("random generator".into()))?,
    };
    Ok(Visit {
        tenant,
        ip: client_ip(app, peer, headers),
        csrf,
    })
}

/// What a form post to a tenant's page starts from: the visit and the parsed form, the CSRF
/// check passed. A request that fails any of it is answered with the page's error page.
pub(in crate::http) struct FormPost {
    app: Arc<App>,
    visit: Visit,
    form: Vec<(String, String)>,
}

impl FromRequest<Arc<App>> for FormPost {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(tenant) = Path::<String>::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let posted = async {
            let visit = visit(app, &tenant, peer, &parts.headers).await?;
            let form = read_form(&parts.headers, body, &app.config)
                .await
                .map_err(Refusal::Form)?;
            if !csrf_matches(csrf_cookie(&parts.headers).as_deref(), &form) {
                return Err(Refusal::Csrf);
            }
            Ok((visit, form))
        };
        match posted.await {
            Ok((visit, form)) => Ok(FormPost {
                app: Arc::clone(app),
                visit,
                form,
            }),
            Err(refusal) => Err(refusal.into_page(Some(&tenant))),
        }
    }
}

/// `html` as a page that (re)sets the CSRF cookie the page's forms echo.
fn form_page(status: StatusCode, visit: &Visit, html: String) -> Response {
    let mut r = page(status, html);
    if let Some(cookie) = csrf_set_cookie(&visit.csrf) {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}

/// The page's own "signed in" address, where single sign-on sends the browser back.
/// Where single sign-on returns to: a path on the issuer's own site, as `sso/start` requires
/// of `return_to` (no open redirect).
fn done_path(tenant: &str) -> String {
    format!("/t/{tenant}/sign-in/done")
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sign_in_html(visit: &Visit, email: &str, error: Option<&str>) -> String {
    let t = &visit.tenant;
    let sso_url = t.sso.then(|| {
        format!(
            "/v1/tenants/{}/sso/start?return_to={}",
            t.id,
            percent_encode(&done_path(&t.id))
        )
    });
    html::sign_in_page(&SignInView {
        tenant_id: &t.id,
        tenant_name: &t.name,
        csrf: &visit.csrf,
        password: t.password,
        sso_url,
        email,
        error,
    })
}

/// `GET /t/{tenant}/sign-in`
pub(super) async fn show(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match visit(&app, &tenant, peer, &headers).await {
        Ok(v) => form_page(StatusCode::OK, &v, sign_in_html(&v, "", None)),
        Err(r) => r.into_page(None),
    }
}

/// `GET /t/{tenant}/sign-in/done`: where single sign-on ends.
pub(super) async fn done(State(app): State<Arc<App>>, Path(tenant): Path<String>) -> Response {
    match load_tenant(&app, &tenant).await {
        Ok(t) => page(StatusCode::OK, html::signed_in_page(&t.name, None)),
        Err(r) => r.into_page(None),
    }
}

/// `GET /assets/sign-in.css`
pub(super) async fn style() -> Response {
    let mut r = (StatusCode::OK, html::STYLE).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    form::secure(h);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// What the person at the page is told when a step refuses, with the status of the page.
fn refusal_text(e: &FlowError) -> (StatusCode, String) {
    let text = match e {
        FlowError::Invalid(m) => m.clone(),
        FlowError::InvalidCredentials => "The email or password is wrong.".into(),
        FlowError::RateLimited { retry_after } => {
            format!("Too many sign-in attempts. Wait {retry_after} seconds, then try again.")
        }
        FlowError::Busy { .. } => {
            "Too many sign-ins are being checked at once. Try again in a moment.".into()
        }
        FlowError::LoginMethodDisabled(LoginMethod::Password) => {
            "This organization does not allow signing in with a password; use its single sign-on."
                .into()
        }
        FlowError::LoginMethodDisabled(LoginMethod::Sso) => {
            "This organization has no single sign-on; sign in with email and password.".into()
        }
        FlowError::TotpInvalid => {
            "That code is wrong. Enter the code your authenticator app shows now.".into()
        }
        FlowError::TotpReplayed => {
            "That code was already used. Wait for the next code in your authenticator app.".into()
        }
        FlowError::ChallengeInvalid => {
            "This sign-in has expired or was already completed. Sign in again with your password."
                .into()
        }
        FlowError::TotpNotEnrolled => {
            "Your account has no authenticator app set up. Ask an administrator.".into()
        }
        FlowError::Store(_) | FlowError::Keys(_) | FlowError::Internal(_) => {
            log_failure(&e.to_string());
            "Signing in is not possible right now. Try again in a few minutes.".into()
        }
        other => other.to_string(),
    };
    let status = match e {
        FlowError::Invalid(_) => StatusCode::BAD_REQUEST,
        FlowError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        FlowError::LoginMethodDisabled(_) | FlowError::TenantDisabled => StatusCode::FORBIDDEN,
        FlowError::TotpNotEnrolled | FlowError::TotpAlreadyEnrolled => StatusCode::CONFLICT,
        FlowError::Busy { .. }
        | FlowError::Store(_)
        | FlowError::Keys(_)
        | FlowError::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        FlowError::TenantNotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::UNAUTHORIZED,
    };
    (status, text)
}

/// Adds `Retry-After` to the page of a throttled attempt.
fn with_retry_after(mut r: Response, e: &FlowError) -> Response {
    if let FlowError::RateLimited { retry_after } | FlowError::Busy { retry_after } = e {
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The signed-in page with the session's refresh cookie, as the API's cookie delivery sets it.
fn signed_in(app: &App, visit: &Visit, done: &SignedIn, email: Option<&str>) -> Response {
    let html = html::signed_in_page(&visit.tenant.name, email);
    let mut r = form_page(StatusCode::OK, visit, html);
    let max_age = done.issued.refresh_expires_at - done.at;
    match set_cookie(app, &visit.tenant.id, &done.issued.refresh_token, max_age) {
        Ok(cookie) => {
            r.headers_mut().append(header::SET_COOKIE, cookie);
            r
        }
        Err(e) => Refusal::Internal(e.message()).into_page(Some(&visit.tenant.id)),
    }
}

fn limits(app: &App) -> SignInLimits<'_> {
    SignInLimits {
        throttle: &app.throttle,
        hashing: &app.hashing,
    }
}

mod steps;
pub(super) use steps::{password, totp};
