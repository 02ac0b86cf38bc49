//! Every refusal of the HTTP API: status, stable `error` code and an actionable message, sent as
//! `{"error": "<code>", "message": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::flows::FlowError;
use crate::ops::OpError;
use crate::storage::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest(String),
    InvalidJson(String),
    UnsupportedMediaType,
    BodyTooLarge(usize),
    /// The body did not arrive within `http.body_timeout` (seconds).
    BodyTimeout(u64),
    NotFound,
    MethodNotAllowed,
    TenantNotFound,
    TenantDisabled,
    InvalidCredentials,
    RateLimited {
        retry_after: u64,
    },
    /// Overloaded (503 `unavailable` with `Retry-After`).
    Busy {
        retry_after: u64,
    },
    RefreshTokenMissing,
    RefreshTokenInvalid,
    CsrfInvalid,
    TokenTheftDetected,
    SessionRevoked,
    SessionExpired,
    CredentialsMissing,
    AccessTokenInvalid,
    AdminUnauthorized,
    AdminDisabled,
    ChallengeInvalid,
    TotpInvalid,
    TotpReplayed,
    TotpAlreadyEnrolled,
    TotpNotEnrolled,
    /// The tenant has this login method off (the message says which to use).
    LoginMethodDisabled(&'static str),
    /// SSO refusals; each carries the flow's message.
    SsoStateInvalid(String),
    SsoIdpRefused(String),
    SsoCodeRejected(String),
    /// The ID token failed a check (`reason` names which).
    SsoIdTokenInvalid {
        reason: &'static str,
        message: String,
    },
    /// The tenant's IdP cannot be used (502).
    SsoIdpUnavailable(String),
    Missing(String),
    Conflict(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidRequest(_) | InvalidJson(_) => StatusCode::BAD_REQUEST,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            NotFound | TenantNotFound | Missing(_) | AdminDisabled => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TenantDisabled | CsrfInvalid | LoginMethodDisabled(_) => StatusCode::FORBIDDEN,
            InvalidCredentials | RefreshTokenMissing | RefreshTokenInvalid | TokenTheftDetected
            | SessionRevoked | SessionExpired | CredentialsMissing | AccessTokenInvalid
            | AdminUnauthorized | ChallengeInvalid | TotpInvalid | TotpReplayed => {
                StatusCode::UNAUTHORIZED
            }
            TotpAlreadyEnrolled | TotpNotEnrolled => StatusCode::CONFLICT,
            SsoStateInvalid(_)
            | SsoIdpRefused(_)
            | SsoCodeRejected(_)
            | SsoIdTokenInvalid { .. } => StatusCode::UNAUTHORIZED,
            SsoIdpUnavailable(_) => StatusCode::BAD_GATEWAY,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Conflict(_) => StatusCode::CONFLICT,
            Unavailable(_) | Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidRequest(_) => "invalid_request",
            InvalidJson(_) => "invalid_json",
            UnsupportedMediaType => "unsupported_media_type",
            BodyTooLarge(_) => "body_too_large",
            BodyTimeout(_) => "request_timeout",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            TenantNotFound => "tenant_not_found",
            TenantDisabled => "tenant_disabled",
            InvalidCredentials => "invalid_credentials",
            RateLimited { .. } => "rate_limited",
            RefreshTokenMissing => "refresh_token_missing",
            RefreshTokenInvalid => "refresh_token_invalid",
            CsrfInvalid => "csrf_invalid",
            TokenTheftDetected => "token_theft_detected",
            SessionRevoked => "session_revoked",
            SessionExpired => "session_expired",
            CredentialsMissing => "credentials_missing",
            AccessTokenInvalid => "access_token_invalid",
            AdminUnauthorized => "admin_unauthorized",
            AdminDisabled => "admin_disabled",
            LoginMethodDisabled(_) => "login_method_disabled",
            ChallengeInvalid => "challenge_invalid",
            TotpInvalid => "totp_invalid",
            TotpReplayed => "totp_replayed",
            TotpAlreadyEnrolled => "totp_already_enrolled",
            TotpNotEnrolled => "totp_not_enrolled",
            SsoStateInvalid(_) => "sso_state_invalid",
            SsoIdpRefused(_) => "sso_idp_refused",
            SsoCodeRejected(_) => "sso_code_rejected",
            SsoIdTokenInvalid { .. } => "sso_id_token_invalid",
            SsoIdpUnavailable(_) => "sso_idp_unavailable",
            Missing(_) => "not_found",
            Conflict(_) => "conflict",
            Unavailable(_) | Busy { .. } => "unavailable",
            Internal(_) => "internal_error",
        }
    }

    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            InvalidRequest(m) | Missing(m) | Conflict(m) => m.clone(),
            SsoStateInvalid(m) | SsoIdpRefused(m) | SsoCodeRejected(m) | SsoIdpUnavailable(m) => {
                m.clone()
            }
            SsoIdTokenInvalid { reason, message } => format!("{message} ({reason})"),
            LoginMethodDisabled(m) => (*m).to_string(),
            ChallengeInvalid => FlowError::ChallengeInvalid.to_string(),
            TotpInvalid => FlowError::TotpInvalid.to_string(),
            TotpReplayed => FlowError::TotpReplayed.to_string(),
            TotpAlreadyEnrolled => FlowError::TotpAlreadyEnrolled.to_string(),
            TotpNotEnrolled => FlowError::TotpNotEnrolled.to_string(),
            InvalidJson(m) => format!("the body is not the expected JSON: {m}"),
            UnsupportedMediaType => "send the body as Content-Type: application/json".into(),
            BodyTooLarge(n) => format!("the body exceeds {n} bytes"),
            BodyTimeout(s) => format!("the body did not arrive within {s} s; send it at once"),
            NotFound => "no such endpoint".into(),
            MethodNotAllowed => "this endpoint does not accept that method".into(),
            TenantNotFound => "no such tenant".into(),
            TenantDisabled => "this tenant is disabled".into(),
            InvalidCredentials => "email or password is wrong, or the user is not a member of this tenant".into(),
            RateLimited { retry_after } => format!("too many sign-in attempts; retry in {retry_after} s"),
            RefreshTokenMissing => "send the refresh token in the cookie (with X-CSRF-Token) or as {\"refresh_token\": ...}".into(),
            RefreshTokenInvalid => "the refresh token is unknown or belongs to another tenant; sign in again".into(),
            CsrfInvalid => "the X-CSRF-Token header is missing or does not match this session".into(),
            TokenTheftDetected => "this refresh token was already used; the session is revoked, sign in again".into(),
            SessionRevoked => "the session was revoked; sign in again".into(),
            SessionExpired => "the session timed out; sign in again".into(),
            CredentialsMissing => "send a bearer access token or {\"refresh_token\": ...} of the session to end".into(),
            AccessTokenInvalid => "the access token is not valid for this tenant or carries no session".into(),
            AdminUnauthorized => "send Authorization: Bearer <admin token>".into(),
            AdminDisabled => "the admin API is disabled (no admin.token_file configured)".into(),
            Unavailable(m) => format!("temporarily unavailable: {m}"),
            Busy { retry_after } => format!("too many sign-ins are being checked at once; retry in {retry_after} s"),
            Internal(_) => "internal error; see the issuer's log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &self {
            eprintln!(
                "{}",
                serde_json::json!({"level": "error", "msg": "request failed", "code": self.code(), "error": detail})
            );
        }
        let body = serde_json::json!({"error": self.code(), "message": self.message()}).to_string();
        let mut r = (self.status(), body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let ApiError::RateLimited { retry_after } | ApiError::Busy { retry_after } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid(m) => ApiError::InvalidRequest(m),
            OpError::NotFound(m) => ApiError::Missing(m),
            OpError::Conflict(m) => ApiError::Conflict(m),
            OpError::Store(s) => s.into(),
            OpError::Keys(k) => ApiError::Unavailable(k.to_string()),
            OpError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(m) => ApiError::InvalidRequest(m),
            FlowError::TenantNotFound => ApiError::TenantNotFound,
            FlowError::TenantDisabled => ApiError::TenantDisabled,
            FlowError::InvalidCredentials => ApiError::InvalidCredentials,
            FlowError::RateLimited { retry_after } => ApiError::RateLimited { retry_after },
            FlowError::Busy { retry_after } => ApiError::Busy { retry_after },
            FlowError::RefreshTokenInvalid => ApiError::RefreshTokenInvalid,
            FlowError::CsrfInvalid => ApiError::CsrfInvalid,
            FlowError::TokenTheftDetected => ApiError::TokenTheftDetected,
            FlowError::SessionRevoked => ApiError::SessionRevoked,
            FlowError::SessionExpired => ApiError::SessionExpired,
            FlowError::AccessTokenInvalid => ApiError::AccessTokenInvalid,
            FlowError::LoginMethodDisabled(m) => ApiError::LoginMethodDisabled(m.refusal()),
            FlowError::ChallengeInvalid => ApiError::ChallengeInvalid,
            FlowError::TotpInvalid => ApiError::TotpInvalid,
            FlowError::TotpReplayed => ApiError::TotpReplayed,
            FlowError::TotpAlreadyEnrolled => ApiError::TotpAlreadyEnrolled,
            FlowError::TotpNotEnrolled => ApiError::TotpNotEnrolled,
            e @ FlowError::SsoStateInvalid => ApiError::SsoStateInvalid(e.to_string()),
            e @ FlowError::SsoIdpRefused(_) => ApiError::SsoIdpRefused(e.to_string()),
            e @ FlowError::SsoCodeRejected(_) => ApiError::SsoCodeRejected(e.to_string()),
            FlowError::SsoIdToken(t) => ApiError::SsoIdTokenInvalid {
                reason: t.reason(),
                message: FlowError::SsoIdToken(t).to_string(),
            },
            FlowError::SsoIdp(m) => ApiError::SsoIdpUnavailable(m),
            FlowError::Store(s) => s.into(),
            // A key that cannot be read or used is an outage of the signer, not a bad request.
            FlowError::Keys(k) => ApiError::Unavailable(k.to_string()),
            FlowError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::NotFound(m) => ApiError::Missing(m),
            StoreError::Invalid(m) => ApiError::InvalidRequest(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_statuses_match() {
        assert_eq!(ApiError::TokenTheftDetected.code(), "token_theft_detected");
        assert_eq!(
            ApiError::TokenTheftDetected.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ApiError::InvalidJson("x".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::RateLimited { retry_after: 3 }.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let e: ApiError = OpError::Conflict("tenant exists".into()).into();
        assert_eq!(e.code(), "conflict");
        let e: ApiError = FlowError::RateLimited { retry_after: 3 }.into();
        assert_eq!(e, ApiError::RateLimited { retry_after: 3 });
        let e: ApiError = FlowError::Keys(crate::keys::KeyError::NoCurrentKey).into();
        assert_eq!(e.code(), "unavailable");
        let e: ApiError = FlowError::Store(StoreError::Unavailable("down".into())).into();
        assert_eq!(e.code(), "unavailable");
    }

    #[test]
    fn sso_refusals_name_what_failed() {
        use crate::sso::id_token::IdTokenError;
        for (t, reason) in [
            (IdTokenError::Nonce, "id_token_nonce"),
            (IdTokenError::Audience, "id_token_audience"),
            (IdTokenError::Issuer, "id_token_issuer"),
        ] {
            let e: ApiError = FlowError::SsoIdToken(t.clone()).into();
            assert_eq!(
                (e.status(), e.code()),
                (StatusCode::UNAUTHORIZED, "sso_id_token_invalid")
            );
            assert!(e.message().contains(&t.to_string()), "{}", e.message());
            assert!(e.message().contains(reason), "{}", e.message());
        }
        let e: ApiError = FlowError::SsoStateInvalid.into();
        assert_eq!(e.code(), "sso_state_invalid");
        assert!(e.message().contains("start the single sign-on again"));
        let e: ApiError = FlowError::SsoIdp("down".into()).into();
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::BAD_GATEWAY, "sso_idp_unavailable")
        );
    }
}
