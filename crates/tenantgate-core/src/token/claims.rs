//! The one token schema, shared by the issuer (which signs it) and the filter (which checks it).
//!
//! The issuer serializes [`AccessClaims`]; the filter reads the same names from a verified payload.
//! The filter allows the tenant and roles claim names to be configured (other IdPs call them
//! `tId` or `groups`); these constants are the defaults, and what the issuer always emits.

use serde::{Deserialize, Serialize};

/// Default name of the claim that carries the tenant identifier.
pub const TENANT_CLAIM: &str = "tenantId";
/// Default name of the claim that carries the role names (a JSON array of strings).
pub const ROLES_CLAIM: &str = "roles";
/// The claim in which the issuer emits the permissions of the roles (opt-in).
pub const PERMISSIONS_CLAIM: &str = "permissions";
/// The claim in which an operator's break-glass token names the tenant it acts on (the
/// filter's default `operators.target_claim`).
pub const TARGET_TENANT_CLAIM: &str = "target_tenant";

/// The `aud` claim: a single string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(list) => list.iter().any(|a| a == aud),
        }
    }
}

/// Claims of a tenantgate access token, exactly as the issuer signs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Session id: ties the access token to the issuer's session, for revocation and audit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// The catalog permissions of `roles`, sorted, when the issuer is configured to emit them
    /// (`[tokens] permissions`); the filter reads them through a provider's `permissions_claim`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub permissions: Option<Vec<String>>,
    /// An operator's break-glass token (the issuer's `elevate`): the one tenant it acts on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_tenant: Option<String>,
    /// How the user authenticated (RFC 8176 values: `pwd`, `otp`, `mfa`; `sso` and the IdP's
    /// own after single sign-on), so a route can require `mfa` with a claim condition. Absent in
    /// minted and break-glass tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amr: Option<Vec<String>>,
}

/// The protected header the issuer emits. `kid` is the RFC 7638 thumbprint of the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessHeader {
    pub alg: String,
    pub typ: String,
    pub kid: String,
}

impl AccessHeader {
    pub fn rs256(kid: impl Into<String>) -> Self {
        AccessHeader {
            alg: "RS256".into(),
            typ: "JWT".into(),
            kid: kid.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_match_serialization() {
        let c = AccessClaims {
            iss: "https://issuer".into(),
            sub: "u1".into(),
            aud: Audience::One("api".into()),
            tenant_id: "acme".into(),
            roles: vec!["admin".into()],
            iat: 1,
            nbf: 1,
            exp: 2,
            jti: "j".into(),
            sid: None,
            permissions: None,
            target_tenant: None,
            amr: None,
        };
        let v = serde_json::to_value(&c).expect("serializes");
        assert_eq!(v[TENANT_CLAIM], "acme");
        assert_eq!(v[ROLES_CLAIM][0], "admin");
        assert!(v.get("sid").is_none());
        assert!(v.get(PERMISSIONS_CLAIM).is_none());
        let with = AccessClaims {
            permissions: Some(vec!["deploy:*".into()]),
            ..c
        };
        let v = serde_json::to_value(&with).expect("serializes");
        assert_eq!(v[PERMISSIONS_CLAIM][0], "deploy:*");
        assert!(v.get(TARGET_TENANT_CLAIM).is_none());
        let elevated = AccessClaims {
            target_tenant: Some("acme".into()),
            amr: None,
            ..with
        };
        let v = serde_json::to_value(&elevated).expect("serializes");
        assert_eq!(v[TARGET_TENANT_CLAIM], "acme");
        assert_eq!(
            crate::config::DEFAULT_TARGET_CLAIM,
            TARGET_TENANT_CLAIM,
            "the filter reads by default what the issuer emits"
        );
    }
}
