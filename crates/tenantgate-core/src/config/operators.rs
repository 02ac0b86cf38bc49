//! `operators`: break-glass access of platform staff to a customer tenant. Who counts as an
//! operator comes from where the token was issued (a provider, a tenant) and a role; the role
//! alone is never enough, since customer tenants define their own roles. Checked by
//! `compile::operators`; decided by `gate::operator`.

use serde::Deserialize;

/// Default claim naming the tenant an operator's token acts on.
pub const DEFAULT_TARGET_CLAIM: &str = "target_tenant";

/// Who operators are, and how long their tokens may live.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "operators", extend("anyOf" = [{"required": ["providers"], "properties": {"providers": {"minItems": 1}}}, {"required": ["tenants"], "properties": {"tenants": {"minItems": 1}}}])))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    /// Names of the providers whose tokens may be operators' (providers only platform staff
    /// sign in with). When `tenants` is given too, both must hold.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true), inner(regex(pattern = r"^[a-z0-9_-]{1,64}$"))))]
    pub providers: Vec<String>,
    /// Verified tenants whose tokens may be operators' (the platform's own tenant, which no
    /// customer can be issued a token of). When `providers` is given too, both must hold.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true), with = "Vec<super::schema::TenantId>"))]
    pub tenants: Vec<String>,
    /// The role an operator's token must carry.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub role: String,
    /// Longest lifetime (`exp - iat`, `iat` required) of a token acting on another tenant, in
    /// seconds (default 900).
    #[serde(default = "default_max_lifetime_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = super::limits::OPERATOR_LIFETIME_SECONDS.0, max = super::limits::OPERATOR_LIFETIME_SECONDS.1)))]
    pub max_lifetime_seconds: u64,
    /// The claim naming the tenant an operator's token acts on (default `target_tenant`). A
    /// token without it acts as a normal token of its own tenant.
    #[serde(default = "default_target_claim")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub target_claim: String,
}

impl Operators {
    /// Whether a verified token's origin (provider name, tenant) and roles make it an
    /// operator's: every configured origin list must name it, and it must carry the role.
    pub fn is_operator(&self, provider: &str, tenant: &str, roles: &[String]) -> bool {
        let from_provider =
            self.providers.is_empty() || self.providers.iter().any(|p| p == provider);
        let from_tenant = self.tenants.is_empty() || self.tenants.iter().any(|t| t == tenant);
        let origin = !(self.providers.is_empty() && self.tenants.is_empty());
        origin && from_provider && from_tenant && roles.contains(&self.role)
    }
}

fn default_max_lifetime_seconds() -> u64 {
    900
}

fn default_target_claim() -> String {
    DEFAULT_TARGET_CLAIM.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(providers: &[&str], tenants: &[&str]) -> Operators {
        Operators {
            providers: providers.iter().map(|s| s.to_string()).collect(),
            tenants: tenants.iter().map(|s| s.to_string()).collect(),
            role: "operator".into(),
            max_lifetime_seconds: 900,
            target_claim: DEFAULT_TARGET_CLAIM.into(),
        }
    }

    #[test]
    fn origin_and_role_are_both_needed() {
        let role = ["operator".to_string()];
        let by_tenant = operators(&[], &["platform"]);
        assert!(by_tenant.is_operator("corp", "platform", &role));
        assert!(!by_tenant.is_operator("corp", "acme", &role));
        assert!(!by_tenant.is_operator("corp", "platform", &["admin".into()]));

        let by_provider = operators(&["staff"], &[]);
        assert!(by_provider.is_operator("staff", "acme", &role));
        assert!(!by_provider.is_operator("corp", "platform", &role));

        let both = operators(&["staff"], &["platform"]);
        assert!(both.is_operator("staff", "platform", &role));
        assert!(!both.is_operator("staff", "acme", &role));
        assert!(!both.is_operator("corp", "platform", &role));

        // No origin configured (refused by the compile step) makes nobody an operator.
        assert!(!operators(&[], &[]).is_operator("corp", "platform", &role));
    }
}
