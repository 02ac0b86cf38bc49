//! The one catalog of refusals. Every way a request can be refused is a variant here, with its
//! HTTP status, its RFC 6750 `error` attribute, a stable machine-readable code and a message.
//! The filter, the CLI's `explain` and `docs/security.md` all read from this table.

use std::fmt;

/// Why a request was refused. Codes are stable API: clients and dashboards match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// No credential was presented on a route that needs one.
    TokenMissing,
    /// More than one credential was presented (RFC 6750 section 2).
    TokenMultiple,
    /// The credential is longer than the configured cap.
    TokenTooLarge,
    /// Not a compact JWS: wrong segment count, bad base64url, header or payload not a JSON object.
    TokenMalformed,
    /// `alg` is anything but RS256 (including `none`, HMAC, PS*, ES*).
    AlgorithmNotAllowed,
    /// The header carries `crit`, which this verifier does not support (RFC 7515 section 4.1.11).
    CriticalHeaderUnsupported,
    /// The token was found in a place its provider does not accept tokens from.
    TokenSourceNotAllowed,
    /// No key in the provider's key set matches the token's `kid`, even after a refetch.
    KeyNotFound,
    /// The RS256 signature does not verify.
    SignatureInvalid,
    /// `iss` names no configured provider.
    IssuerNotTrusted,
    /// `aud` does not contain a configured audience.
    AudienceMismatch,
    /// `exp` is in the past (beyond the clock skew).
    TokenExpired,
    /// `nbf` is in the future (beyond the clock skew).
    TokenNotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    TokenIssuedInFuture,
    /// `exp` - `iat` exceeds the provider's maximum lifetime.
    TokenLifetimeExceeded,
    /// A required claim is absent (`exp`, `sub`, `iss`, `aud`).
    ClaimMissing,
    /// A claim has the wrong JSON type (for example a string `exp` or a non-array `roles`).
    ClaimInvalid,
    /// The token of a shared issuer carries no tenant claim, or one that is not a string.
    TenantMissing,
    /// The token's tenant value (its tenant claim or the `{tenant}` of its issuer) is not in its
    /// provider's `tenant_map`.
    TenantUnmapped,
    /// The token's tenant does not own the requested host.
    TenantMismatch,
    /// No configured tenant owns the requested host.
    HostUnknown,
    /// The route requires a tenant source (host, path or header) the request does not carry.
    TenantContextMissing,
    /// The route requires roles the token does not carry.
    RoleRequired,
    /// The route requires permissions the token is not granted (claim or role catalog).
    PermissionRequired,
    /// The route requires OAuth scopes the token does not carry (`scope`, `scp`).
    ScopeRequired,
    /// A claim the route checks has a value the condition does not accept.
    ClaimConditionUnmet,
    /// A claim the route checks is missing, or of a type the condition cannot compare.
    ClaimConditionInvalid,
    /// No route rule matched and the default is to deny.
    RouteDenied,
    /// The path is malformed or tries to escape normalization (encoded `/`, `\`, NUL, `..` above root).
    PathInvalid,
    /// The key set has not been loaded yet (or not within the configured wait).
    KeysUnavailable,
    /// A claim that `headers.claims` forwards has a value no header can carry as documented: an
    /// object, a nested list, a control character, or a list item holding the separator.
    ClaimNotForwardable,
    /// An operator's token names a target tenant on a route without `operators: true`.
    OperatorRouteDenied,
    /// An operator's token acting on another tenant lives longer than `operators`
    /// allows, or carries no `iat` to tell.
    OperatorLifetimeExceeded,
    /// An operator's token names a target tenant other than the one the request addresses, or
    /// one that is not a configured tenant.
    OperatorTargetMismatch,
    /// The signed tenant directory is configured but none has been adopted yet, and the static
    /// configuration alone would refuse the request for a reason a directory could lift (an
    /// unknown host, an untrusted issuer, an unmapped tenant value).
    DirectoryUnavailable,
}

/// The RFC 6750 section 3.1 `error` attribute of `WWW-Authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl BearerError {
    pub fn as_str(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }
}

impl Denial {
    /// Every variant, for documentation and metrics registration.
    pub const ALL: [Denial; 35] = [
        Denial::TokenMissing,
        Denial::TokenMultiple,
        Denial::TokenTooLarge,
        Denial::TokenMalformed,
        Denial::AlgorithmNotAllowed,
        Denial::CriticalHeaderUnsupported,
        Denial::TokenSourceNotAllowed,
        Denial::KeyNotFound,
        Denial::SignatureInvalid,
        Denial::IssuerNotTrusted,
        Denial::AudienceMismatch,
        Denial::TokenExpired,
        Denial::TokenNotYetValid,
        Denial::TokenIssuedInFuture,
        Denial::TokenLifetimeExceeded,
        Denial::ClaimMissing,
        Denial::ClaimInvalid,
        Denial::TenantMissing,
        Denial::TenantUnmapped,
        Denial::TenantMismatch,
        Denial::HostUnknown,
        Denial::TenantContextMissing,
        Denial::RoleRequired,
        Denial::PermissionRequired,
        Denial::ScopeRequired,
        Denial::ClaimConditionUnmet,
        Denial::ClaimConditionInvalid,
        Denial::RouteDenied,
        Denial::PathInvalid,
        Denial::KeysUnavailable,
        Denial::ClaimNotForwardable,
        Denial::OperatorRouteDenied,
        Denial::OperatorLifetimeExceeded,
        Denial::OperatorTargetMismatch,
        Denial::DirectoryUnavailable,
    ];

    /// HTTP status of the local reply.
    pub fn status(self) -> u32 {
        match self {
            Denial::TokenMultiple | Denial::PathInvalid | Denial::TenantContextMissing => 400,
            Denial::TenantMismatch
            | Denial::TenantUnmapped
            | Denial::HostUnknown
            | Denial::RoleRequired
            | Denial::PermissionRequired
            | Denial::ScopeRequired
            | Denial::ClaimConditionUnmet
            | Denial::ClaimConditionInvalid
            | Denial::RouteDenied
            | Denial::OperatorRouteDenied
            | Denial::OperatorTargetMismatch => 403,
            Denial::KeysUnavailable | Denial::DirectoryUnavailable => 503,
            _ => 401,
        }
    }

    /// The `error` attribute of `WWW-Authenticate`, if any. A missing token gets none
    /// (RFC 6750 section 3.1: the client did not try to authenticate).
    pub fn bearer_error(self) -> Option<BearerError> {
        match self {
            Denial::TokenMissing
            | Denial::KeysUnavailable
            | Denial::DirectoryUnavailable
            | Denial::HostUnknown
            | Denial::RouteDenied => None,
            Denial::TokenMultiple | Denial::PathInvalid | Denial::TenantContextMissing => {
                Some(BearerError::InvalidRequest)
            }
            Denial::TenantMismatch
            | Denial::TenantUnmapped
            | Denial::RoleRequired
            | Denial::PermissionRequired
            | Denial::ScopeRequired
            | Denial::ClaimConditionUnmet
            | Denial::ClaimConditionInvalid
            | Denial::OperatorRouteDenied
            | Denial::OperatorTargetMismatch => Some(BearerError::InsufficientScope),
            _ => Some(BearerError::InvalidToken),
        }
    }

    /// Stable machine-readable code, used in the JSON body and in metric names.
    pub fn code(self) -> &'static str {
        match self {
            Denial::TokenMissing => "token_missing",
            Denial::TokenMultiple => "token_multiple",
            Denial::TokenTooLarge => "token_too_large",
            Denial::TokenMalformed => "token_malformed",
            Denial::AlgorithmNotAllowed => "algorithm_not_allowed",
            Denial::CriticalHeaderUnsupported => "crit_unsupported",
            Denial::TokenSourceNotAllowed => "token_source_not_allowed",
            Denial::KeyNotFound => "key_not_found",
            Denial::SignatureInvalid => "signature_invalid",
            Denial::IssuerNotTrusted => "issuer_not_trusted",
            Denial::AudienceMismatch => "audience_mismatch",
            Denial::TokenExpired => "token_expired",
            Denial::TokenNotYetValid => "token_not_yet_valid",
            Denial::TokenIssuedInFuture => "token_issued_in_future",
            Denial::TokenLifetimeExceeded => "token_lifetime_exceeded",
            Denial::ClaimMissing => "claim_missing",
            Denial::ClaimInvalid => "claim_invalid",
            Denial::TenantMissing => "tenant_missing",
            Denial::TenantUnmapped => "tenant_unmapped",
            Denial::TenantMismatch => "tenant_mismatch",
            Denial::HostUnknown => "host_unknown",
            Denial::TenantContextMissing => "tenant_context_missing",
            Denial::RoleRequired => "role_required",
            Denial::PermissionRequired => "permission_required",
            Denial::ScopeRequired => "scope_required",
            Denial::ClaimConditionUnmet => "claim_condition_unmet",
            Denial::ClaimConditionInvalid => "claim_condition_invalid",
            Denial::RouteDenied => "route_denied",
            Denial::PathInvalid => "path_invalid",
            Denial::KeysUnavailable => "jwks_unavailable",
            Denial::ClaimNotForwardable => "claim_not_forwardable",
            Denial::OperatorRouteDenied => "operator_route_denied",
            Denial::OperatorLifetimeExceeded => "operator_lifetime_exceeded",
            Denial::OperatorTargetMismatch => "operator_target_mismatch",
            Denial::DirectoryUnavailable => "directory_unavailable",
        }
    }

    /// A short human message. Never includes the token or any claim value.
    pub fn message(self) -> &'static str {
        match self {
            Denial::TokenMissing => "a bearer token is required",
            Denial::TokenMultiple => "more than one credential was presented",
            Denial::TokenTooLarge => "the token exceeds the maximum accepted size",
            Denial::TokenMalformed => "the token is not a well-formed JWS compact serialization",
            Denial::AlgorithmNotAllowed => {
                "the token's signing algorithm is not allowed (RS256 only)"
            }
            Denial::CriticalHeaderUnsupported => {
                "the token carries a critical header that is not supported"
            }
            Denial::TokenSourceNotAllowed => {
                "the token's issuer does not accept tokens from where it was presented"
            }
            Denial::KeyNotFound => "no trusted key matches the token's key id and issuer",
            Denial::SignatureInvalid => "the token's signature does not verify",
            Denial::IssuerNotTrusted => "the token's issuer is not trusted",
            Denial::AudienceMismatch => "the token is not intended for this audience",
            Denial::TokenExpired => "the token has expired",
            Denial::TokenNotYetValid => "the token is not valid yet",
            Denial::TokenIssuedInFuture => "the token's issue time is in the future",
            Denial::TokenLifetimeExceeded => "the token's lifetime exceeds the allowed maximum",
            Denial::ClaimMissing => "the token lacks a required claim",
            Denial::ClaimInvalid => "a claim of the token has the wrong type or value",
            Denial::TenantMissing => "the token names no tenant",
            Denial::TenantUnmapped => "the token's tenant is not one this gateway maps",
            Denial::TenantMismatch => {
                "the host, path and header do not all name the token's tenant"
            }
            Denial::HostUnknown => "no tenant is served at this host",
            Denial::TenantContextMissing => {
                "the request does not name its tenant where this route requires it"
            }
            Denial::RoleRequired => "the token lacks a role this route requires",
            Denial::PermissionRequired => "the token lacks a permission this route requires",
            Denial::ScopeRequired => "the token lacks a scope this route requires",
            Denial::ClaimConditionUnmet => {
                "a claim of the token does not have a value this route requires"
            }
            Denial::ClaimConditionInvalid => {
                "a claim this route checks is missing or has the wrong type"
            }
            Denial::RouteDenied => "no rule allows this route",
            Denial::PathInvalid => "the request path is not acceptable",
            Denial::KeysUnavailable => "the signing keys are not available yet; retry shortly",
            Denial::ClaimNotForwardable => "a claim of the token cannot be forwarded as a header",
            Denial::OperatorRouteDenied => "operators may not act on another tenant on this route",
            Denial::OperatorLifetimeExceeded => {
                "an operator's token acting on another tenant must be short-lived and carry iat"
            }
            Denial::OperatorTargetMismatch => {
                "the operator's target tenant is not the tenant this request addresses"
            }
            Denial::DirectoryUnavailable => {
                "the tenant directory is not available yet; retry shortly"
            }
        }
    }

    /// The `WWW-Authenticate` value for this refusal. Every refusal carries the challenge, so
    /// clients always learn the scheme and realm; `error=` only where RFC 6750 defines one.
    pub fn www_authenticate(self, realm: &str) -> String {
        match self.bearer_error() {
            None => format!("Bearer realm=\"{}\"", realm),
            Some(err) => format!(
                "Bearer realm=\"{}\", error=\"{}\", error_description=\"{}\"",
                realm,
                err.as_str(),
                self.message()
            ),
        }
    }

    /// The short JSON body of the local reply: `{"error":"<code>","message":"<message>"}`.
    pub fn json_body(self) -> String {
        // Codes and messages are static ASCII without quotes or backslashes: no escaping needed,
        // which a test below asserts.
        format!(
            "{{\"error\":\"{}\",\"message\":\"{}\"}}",
            self.code(),
            self.message()
        )
    }
}

/// The gRPC status codes refusals map to (grpc/grpc `doc/statuscodes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcStatus {
    /// 3: the request itself is unacceptable (HTTP 400).
    InvalidArgument,
    /// 7: authenticated, but not allowed (HTTP 403).
    PermissionDenied,
    /// 14: try again shortly (HTTP 503).
    Unavailable,
    /// 16: no valid credential (HTTP 401).
    Unauthenticated,
}

impl GrpcStatus {
    /// The numeric code carried in `grpc-status`.
    pub fn code(self) -> u32 {
        match self {
            GrpcStatus::InvalidArgument => 3,
            GrpcStatus::PermissionDenied => 7,
            GrpcStatus::Unavailable => 14,
            GrpcStatus::Unauthenticated => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GrpcStatus::InvalidArgument => "INVALID_ARGUMENT",
            GrpcStatus::PermissionDenied => "PERMISSION_DENIED",
            GrpcStatus::Unavailable => "UNAVAILABLE",
            GrpcStatus::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl Denial {
    /// The gRPC status of this refusal, derived from its HTTP status so that the two answers
    /// never disagree: 400 → INVALID_ARGUMENT, 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED,
    /// 503 → UNAVAILABLE. (Envoy's own HTTP-to-gRPC mapping would make 400 INTERNAL, which
    /// tells a client the server is at fault.)
    pub fn grpc_status(self) -> GrpcStatus {
        match self.status() {
            400 => GrpcStatus::InvalidArgument,
            403 => GrpcStatus::PermissionDenied,
            503 => GrpcStatus::Unavailable,
            _ => GrpcStatus::Unauthenticated,
        }
    }

    /// The `grpc-message` value: `<message> (<code>)`, percent-encoded as the gRPC HTTP/2
    /// protocol requires (every byte outside printable ASCII, and `%`).
    pub fn grpc_message(self) -> String {
        grpc_percent_encode(&self.to_string())
    }
}

/// Percent-encodes a `grpc-message` value (gRPC over HTTP/2, "Responses"): bytes outside
/// 0x20..=0x7E, and `%` itself, become `%XX`.
pub fn grpc_percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Whether a request's `content-type` makes it a gRPC call, as Envoy decides it for its own
/// local replies: `application/grpc` exactly or followed by `+` (`application/grpc+proto`) or
/// by parameters. `application/grpc-web` is not (Envoy's `grpc_web` filter, placed before this
/// one, turns gRPC-Web into gRPC).
pub fn is_grpc_content_type(value: &str) -> bool {
    const GRPC: &str = "application/grpc";
    let value = value.trim_start();
    value
        .get(..GRPC.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(GRPC))
        && matches!(value.as_bytes().get(GRPC.len()), None | Some(b'+' | b';'))
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_bodies_are_valid_json() {
        let mut seen = HashSet::new();
        for d in Denial::ALL {
            assert!(seen.insert(d.code()), "duplicate code {}", d.code());
            let v: serde_json::Value = serde_json::from_str(&d.json_body()).expect("valid JSON");
            assert_eq!(v["error"], d.code());
            assert_eq!(v["message"], d.message());
            assert!(!d.message().contains('"') && !d.message().contains('\\'));
        }
    }

    /// The row `docs/security.md` shows for a refusal.
    fn doc_row(d: Denial) -> String {
        let error = d.bearer_error().map_or("", BearerError::as_str);
        format!(
            "| `{}` | {} | {} | {} |",
            d.code(),
            d.status(),
            error,
            d.message()
        )
    }

    #[test]
    fn security_doc_lists_every_refusal() {
        let doc = include_str!("../../../docs/security.md");
        let missing: Vec<String> = Denial::ALL
            .into_iter()
            .map(doc_row)
            .filter(|row| !doc.contains(row.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/security.md lacks these rows:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn grpc_statuses_follow_the_http_status() {
        for d in Denial::ALL {
            let expected = match d.status() {
                400 => 3,
                401 => 16,
                403 => 7,
                503 => 14,
                other => panic!("{d:?}: status {other} has no gRPC mapping"),
            };
            assert_eq!(d.grpc_status().code(), expected, "{d:?}");
        }
        assert_eq!(Denial::TokenMissing.grpc_status().name(), "UNAUTHENTICATED");
        assert_eq!(
            Denial::RoleRequired.grpc_status().name(),
            "PERMISSION_DENIED"
        );
        assert_eq!(Denial::KeysUnavailable.grpc_status().name(), "UNAVAILABLE");
        assert_eq!(Denial::PathInvalid.grpc_status().name(), "INVALID_ARGUMENT");
        assert_eq!(
            Denial::TokenMissing.grpc_message(),
            "a bearer token is required (token_missing)"
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_percent_encode("plain text (x)"), "plain text (x)");
        assert_eq!(grpc_percent_encode("100%"), "100%25");
        assert_eq!(grpc_percent_encode("a\nb\u{7f}"), "a%0Ab%7F");
        assert_eq!(grpc_percent_encode("caf\u{e9}"), "caf%C3%A9");
        for d in Denial::ALL {
            let message = d.grpc_message();
            assert!(
                message.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{message}"
            );
        }
    }

    #[test]
    fn grpc_content_types() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_content_type(yes), "{yes}");
        }
        for no in [
            "",
            "application/json",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpcx",
            "text/application/grpc",
        ] {
            assert!(!is_grpc_content_type(no), "{no}");
        }
    }

    #[test]
    fn statuses_follow_rfc6750() {
        assert_eq!(Denial::TokenMissing.status(), 401);
        assert_eq!(
            Denial::TokenMissing.www_authenticate("r"),
            "Bearer realm=\"r\""
        );
        assert_eq!(Denial::TokenExpired.status(), 401);
        assert!(Denial::TokenExpired
            .www_authenticate("r")
            .contains("error=\"invalid_token\""));
        assert_eq!(Denial::RoleRequired.status(), 403);
        for d in [
            Denial::PermissionRequired,
            Denial::ScopeRequired,
            Denial::ClaimConditionUnmet,
            Denial::ClaimConditionInvalid,
        ] {
            assert_eq!(d.status(), 403);
            assert_eq!(d.bearer_error(), Some(BearerError::InsufficientScope));
        }
        assert!(Denial::TenantMismatch
            .www_authenticate("r")
            .contains("error=\"insufficient_scope\""));
        assert_eq!(Denial::TokenMultiple.status(), 400);
        assert!(Denial::TokenMultiple
            .www_authenticate("r")
            .contains("error=\"invalid_request\""));
        assert_eq!(Denial::KeysUnavailable.status(), 503);
    }
}
