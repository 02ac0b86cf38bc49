//! The login methods of each tenant: email and password on or off, TOTP as a second factor
//! (off, optional, or required for everyone or for some roles), and single sign-on against the
//! tenant's own OIDC IdP. Adding an enterprise customer's IdP is a change to its record, not to
//! code.
//!
//! This is the issuer's own sign-in configuration; it is distinct from the directory entry's
//! `idp` ([`crate::entries`]), which tells the gateways which tokens of the tenant's IdP to
//! accept. The checks are in [`check`], the database in [`store`], the sealing of the SSO client
//! secret in [`seal`], the audited operations in [`ops`].

pub mod check;
pub mod ops;
pub mod seal;
pub mod store;

use serde::{Deserialize, Deserializer, Serialize};

/// Whether a second factor is asked after the password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Totp {
    /// Never asked, even of enrolled users.
    #[default]
    Off,
    /// Asked of users who enrolled (and of everyone holding one of `totp_required_roles`).
    Optional,
    /// Asked of every member: a member who has not enrolled cannot sign in with a password.
    Required,
}

impl Totp {
    pub fn name(self) -> &'static str {
        match self {
            Totp::Off => "off",
            Totp::Optional => "optional",
            Totp::Required => "required",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Totp> {
        match text {
            "off" => Some(Totp::Off),
            "optional" => Some(Totp::Optional),
            "required" => Some(Totp::Required),
            _ => None,
        }
    }
}

/// Single sign-on against the tenant's OIDC IdP (authorization code flow with PKCE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sso {
    /// The IdP's issuer: its discovery document is `{issuer}/.well-known/openid-configuration`,
    /// and its ID tokens carry exactly this `iss`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret, sealed ([`seal`]); never shown, never logged.
    pub sealed_secret: String,
    /// Roles granted to a user created at their first SSO sign-in.
    pub default_roles: Vec<String>,
}

/// A tenant's login methods. A tenant without a stored record has the defaults: password on,
/// TOTP off, no SSO (what every tenant had before login methods existed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Methods {
    pub password: bool,
    pub totp: Totp,
    /// With `totp = optional`: members holding one of these roles must use TOTP.
    pub totp_required_roles: Vec<String>,
    pub sso: Option<Sso>,
}

impl Default for Methods {
    fn default() -> Self {
        Methods {
            password: true,
            totp: Totp::Off,
            totp_required_roles: Vec::new(),
            sso: None,
        }
    }
}

impl Methods {
    /// Whether a member holding `roles` must pass a TOTP step after the password, given whether
    /// they enrolled.
    pub fn totp_applies(&self, roles: &[String], enrolled: bool) -> bool {
        match self.totp {
            Totp::Off => false,
            Totp::Required => true,
            Totp::Optional => {
                enrolled || roles.iter().any(|r| self.totp_required_roles.contains(r))
            }
        }
    }

    /// What the admin API and the CLI show, and what audit lines carry: the client secret is
    /// never included, only that one is set.
    pub fn view(&self) -> View {
        View {
            password: self.password,
            totp: self.totp,
            totp_required_roles: self.totp_required_roles.clone(),
            sso: self.sso.as_ref().map(|s| SsoView {
                issuer: s.issuer.clone(),
                client_id: s.client_id.clone(),
                client_secret: "sealed",
                default_roles: s.default_roles.clone(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    pub password: bool,
    pub totp: Totp,
    pub totp_required_roles: Vec<String>,
    pub sso: Option<SsoView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoView {
    pub issuer: String,
    pub client_id: String,
    /// Always `"sealed"`: the secret is write-only.
    pub client_secret: &'static str,
    pub default_roles: Vec<String>,
}

/// A change to a tenant's login methods: absent members stay as they are; `"sso": null`
/// turns single sign-on off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    pub password: Option<bool>,
    #[serde(default)]
    pub totp: Option<Totp>,
    #[serde(default)]
    pub totp_required_roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub sso: Option<Option<SsoInput>>,
}

/// Single sign-on as an administrator gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoInput {
    pub issuer: String,
    pub client_id: String,
    /// May be left out when the issuer and client id stay the same (the stored one is kept).
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub default_roles: Vec<String>,
}

/// Tells a member given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_applies_by_policy_enrollment_and_role() {
        let mut m = Methods::default();
        assert!(!m.totp_applies(&[], true));
        m.totp = Totp::Required;
        assert!(m.totp_applies(&[], false));
        m.totp = Totp::Optional;
        assert!(!m.totp_applies(&["viewer".into()], false));
        assert!(m.totp_applies(&["viewer".into()], true));
        m.totp_required_roles = vec!["admin".into()];
        assert!(m.totp_applies(&["admin".into()], false));
    }

    #[test]
    fn update_tells_null_from_absent() {
        let u: Update = serde_json::from_str(r#"{"password": false}"#).expect("parses");
        assert!(u.sso.is_none());
        let u: Update = serde_json::from_str(r#"{"sso": null}"#).expect("parses");
        assert!(matches!(u.sso, Some(None)));
        assert!(serde_json::from_str::<Update>(r#"{"sso": {"issuer": "x"}}"#).is_err());
        assert!(serde_json::from_str::<Update>(r#"{"pasword": true}"#).is_err());
        assert!(serde_json::from_str::<Update>(r#"{"totp": "always"}"#).is_err());
    }

    #[test]
    fn the_view_never_carries_the_secret() {
        let m = Methods {
            sso: Some(Sso {
                issuer: "https://idp.example.com".into(),
                client_id: "c".into(),
                sealed_secret: "v1.SECRETBLOB".into(),
                default_roles: vec![],
            }),
            ..Methods::default()
        };
        let text = serde_json::to_string(&m.view()).expect("json");
        assert!(!text.contains("SECRETBLOB"), "{text}");
        assert!(text.contains(r#""client_secret":"sealed""#), "{text}");
    }
}
