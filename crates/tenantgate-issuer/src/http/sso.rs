//! Single sign-on over HTTP: `GET /v1/tenants/{tenant}/sso/start[?return_to=/path]` answers 302
//! to the tenant's IdP; the IdP sends the browser back to `GET .../sso/callback?code&state`,
//! which opens the session with the refresh token as the `HttpOnly` cookie (as a browser's
//! password sign-in does) and answers 303 to `return_to` (the CSRF token in the fragment, which
//! never reaches a server) or, without one, the JSON of a password sign-in.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::blocking;
use super::error::ApiError;
use super::extract::{form_decode, TenantCall};
use super::reply::no_store;
use super::session::{deliver_refresh_token, session_response};
use crate::flows::{self, CallbackInput, Delivery};

/// Longest query string accepted.
const MAX_QUERY: usize = 8 * 1024;

/// The query's parameters; a malformed or repeated one is refused (no guessing which counts).
fn params(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    let query = uri.query().unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(ApiError::InvalidRequest(format!(
            "the query string exceeds {MAX_QUERY} bytes"
        )));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
            return Err(ApiError::InvalidRequest(format!(
                "the query parameter {k:?} is not valid percent-encoding"
            )));
        };
        if out.iter().any(|(name, _)| *name == k) {
            return Err(ApiError::InvalidRequest(format!(
                "the query parameter {k:?} is repeated"
            )));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn redirect(status: StatusCode, location: &str) -> Result<Response, ApiError> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| ApiError::Internal("redirect location".into()))?;
    let mut r = status.into_response();
    r.headers_mut().insert(header::LOCATION, value);
    Ok(no_store(r))
}

pub(super) async fn start(
    TenantCall {
        app, tenant, ip, ..
    }: TenantCall,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = params(&uri)?;
    if let Some((k, _)) = params.iter().find(|(k, _)| k != "return_to") {
        return Err(ApiError::InvalidRequest(format!(
            "{k}: unknown parameter; the only one is return_to"
        )));
    }
    let return_to = param(&params, "return_to");
    blocking(&app, move |app| {
        let ctx = app.ctx("anonymous", Some(&ip));
        let url = flows::sso_start(&ctx, &app.idp, &app.throttle, &tenant, return_to.as_deref())?;
        redirect(StatusCode::FOUND, &url)
    })
    .await
}

pub(super) async fn callback(
    TenantCall {
        app, tenant, ip, ..
    }: TenantCall,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = params(&uri)?;
    let state = param(&params, "state").filter(|s| !s.is_empty() && s.len() <= 512);
    let Some(state) = state else {
        return Err(ApiError::InvalidRequest(
            "state: the IdP's callback must carry the state of the sign-in".into(),
        ));
    };
    let input = CallbackInput {
        code: param(&params, "code"),
        state,
        error: param(&params, "error"),
        delivery: Delivery::Cookie,
    };
    blocking(&app, move |app| {
        let ctx = app.ctx("anonymous", Some(&ip));
        let done = flows::sso_callback(&ctx, &app.idp, &tenant, &input)?;
        if done.return_to.is_empty() {
            return session_response(
                app,
                &tenant,
                done.session,
                Delivery::Cookie,
                serde_json::Map::new(),
            );
        }
        let csrf = done.session.csrf_token.clone().unwrap_or_default();
        let location = format!("{}#csrf_token={csrf}", done.return_to);
        let mut r = deliver_refresh_token(
            app,
            &tenant,
            &done.session.issued,
            done.session.at,
            serde_json::json!({}),
            true,
        )?;
        *r.status_mut() = StatusCode::SEE_OTHER;
        let value = HeaderValue::from_str(&location)
            .map_err(|_| ApiError::Internal("redirect location".into()))?;
        r.headers_mut().insert(header::LOCATION, value);
        Ok(r)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_never_repeated() {
        let uri: Uri = "/x?code=a%2Fb&state=s+t&return_to=%2Fapp"
            .parse()
            .expect("uri");
        let p = params(&uri).expect("valid");
        assert_eq!(param(&p, "code").as_deref(), Some("a/b"));
        assert_eq!(param(&p, "state").as_deref(), Some("s t"));
        let twice: Uri = "/x?state=a&state=b".parse().expect("uri");
        assert!(params(&twice).is_err());
        let bad: Uri = "/x?state=%zz".parse().expect("uri");
        assert!(params(&bad).is_err());
    }
}
