//! The plumbing of the page routes: the URL-encoded form body, the CSRF cookie and its
//! double-submit check, and the security headers of every page.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::constant_time_eq;
use crate::http::extract::form_decode;
use crate::http::session::read_cookie;

/// The cookie holding the page's CSRF token; each form echoes it in its `csrf` field. The
/// `__Host-` prefix makes browsers refuse it unless `Secure`, `Path=/` and without `Domain`, so
/// a sibling subdomain cannot plant a token it knows (cookie tossing).
pub(super) const CSRF_COOKIE: &str = "__Host-tg_page_csrf";

/// Tokens are 43 characters (32 random bytes, base64url).
const CSRF_LEN: usize = 43;

/// What the pages allow: their own stylesheet and form targets, nothing else (no script at all,
/// no framing, no `<base>`).
pub(super) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                              form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a form could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FormError {
    /// Not `application/x-www-form-urlencoded`.
    NotAForm,
    TooLarge,
    Malformed,
}

/// Reads a URL-encoded form body of at most `http.body_limit` bytes.
pub(super) async fn read_form(
    headers: &HeaderMap,
    body: Body,
    config: &Config,
) -> Result<Vec<(String, String)>, FormError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(FormError::NotAForm);
    }
    let timeout = config.connections.body_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, config.body_limit))
        .await
        .map_err(|_| FormError::Malformed)?
        .map_err(|_| FormError::TooLarge)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| FormError::Malformed)?;
    parse_form(text).ok_or(FormError::Malformed)
}

/// Decodes `a=1&b=x+y%21`; `None` for a broken escape or a value that is not UTF-8.
pub(super) fn parse_form(text: &str) -> Option<Vec<(String, String)>> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

/// The value of field `name` (the first one).
pub(super) fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The CSRF token of the browser's cookie, if it has a well-formed one.
pub(super) fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    read_cookie(headers, CSRF_COOKIE)
        .filter(|v| {
            v.len() == CSRF_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
}

/// The double-submit check: the form's `csrf` field equals the cookie's token.
pub(super) fn csrf_matches(cookie: Option<&str>, form: &[(String, String)]) -> bool {
    match (cookie, field(form, "csrf")) {
        (Some(c), Some(f)) => constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// The `Set-Cookie` of the CSRF token: never sent with another site's request
/// (`SameSite=Strict`), unreadable by script.
pub(super) fn csrf_set_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
    ))
    .ok()
}

/// An HTML page with the security headers every page carries.
pub(super) fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

/// The headers of every page and of its stylesheet.
pub(super) fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let f = parse_form("email=a%40b.c&password=x+y%21&csrf=").expect("form");
        assert_eq!(field(&f, "email"), Some("a@b.c"));
        assert_eq!(field(&f, "password"), Some("x y!"));
        assert_eq!(field(&f, "csrf"), Some(""));
        assert_eq!(parse_form("a=%4"), None);
        assert_eq!(parse_form("a=%zz"), None);
        assert_eq!(parse_form("a=%+5"), None, "two hex digits, no sign");
        assert_eq!(parse_form("a=%ff"), None);
    }

    #[test]
    fn csrf_needs_cookie_and_equal_field() {
        let tok = "a".repeat(CSRF_LEN);
        let form = vec![("csrf".to_string(), tok.clone())];
        assert!(csrf_matches(Some(&tok), &form));
        assert!(!csrf_matches(None, &form));
        assert!(!csrf_matches(Some(&"b".repeat(CSRF_LEN)), &form));
        assert!(!csrf_matches(Some(&tok), &[]));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {CSRF_COOKIE}={tok}")).expect("header"),
        );
        assert_eq!(csrf_cookie(&h), Some(tok));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-tg_page_csrf=short"),
        );
        assert_eq!(csrf_cookie(&h), None);
    }
}
