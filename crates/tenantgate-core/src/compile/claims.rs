//! A provider's claim paths, audience claim, tenant map and issuer template: each path in the
//! one syntax of [`crate::verify::claim_path`], each error at its JSON path.

use super::Compiler;
use crate::config::{syntax, Config, Provider};
use crate::verify::claim_path::{path_error, pointer_error};
use crate::verify::issuer::template_tenant;

impl Compiler {
    /// The claim paths of the provider at `at` (`providers[i]`).
    pub(super) fn provider_claims(&mut self, at: &str, provider: &Provider) {
        if provider.roles_claim.0.is_empty() {
            self.err(
                format!("{at}.roles_claim"),
                "an empty list: name at least one claim path, or omit `roles_claim`",
            );
        }
        let many = provider.roles_claim.0.len() > 1;
        for (k, path) in provider.roles_claim.iter().enumerate() {
            let field = if many {
                format!("{at}.roles_claim[{k}]")
            } else {
                format!("{at}.roles_claim")
            };
            self.claim_path(field, path);
        }
        for (field, path) in [
            ("subject_claim", &provider.subject_claim),
            ("audience_claim", &provider.audience_claim),
        ] {
            if let Some(path) = path {
                self.claim_path(format!("{at}.{field}"), path);
            }
        }
        // Emptiness of these two is checked with the tenant binding and the permissions.
        for (field, path) in [
            ("tenant_claim", &provider.tenant_claim),
            ("permissions_claim", &provider.permissions_claim),
        ] {
            if let Some(why) = path.as_deref().and_then(pointer_error) {
                self.err(format!("{at}.{field}"), why);
            }
        }
        if let Some(scopes) = &provider.scopes_claim {
            if scopes.0.is_empty() {
                self.err(
                    format!("{at}.scopes_claim"),
                    "an empty list: name at least one claim path, or omit `scopes_claim`",
                );
            }
            for (k, path) in scopes.iter().enumerate() {
                self.claim_path(format!("{at}.scopes_claim[{k}]"), path);
            }
        }
        self.tenant_map(at, provider);
        self.issuer_template(at, provider);
    }

    fn claim_path(&mut self, at: String, path: &str) {
        if let Some(why) = path_error(path) {
            self.err(at, why);
        }
    }

    fn tenant_map(&mut self, at: &str, provider: &Provider) {
        let Some(map) = &provider.tenant_map else {
            return;
        };
        if provider.tenant.is_some() {
            self.err(
                format!("{at}.tenant_map"),
                "is not allowed together with `tenant`: a provider bound to one tenant reads no \
                 tenant value to map",
            );
        }
        if map.is_empty() {
            self.err(
                format!("{at}.tenant_map"),
                "an empty map refuses every token: map at least one value, or omit `tenant_map`",
            );
        }
        for (value, tenant) in map {
            if value.is_empty() {
                self.err(
                    format!("{at}.tenant_map"),
                    "a token value must not be empty",
                );
            }
            if !syntax::is_tenant_id(tenant) {
                self.err(
                    format!("{at}.tenant_map.{value}"),
                    format!(
                        "{tenant:?} is not a valid tenant id: use 1 to {} of a-z 0-9 _ -, \
                         starting with a letter or digit",
                        syntax::MAX_TENANT_ID_LEN
                    ),
                );
            }
        }
    }

    fn issuer_template(&mut self, at: &str, provider: &Provider) {
        if !provider.issuer_is_template() {
            return;
        }
        if provider.issuer.matches(syntax::TENANT_PLACEHOLDER).count() != 1 {
            self.err(
                format!("{at}.issuer"),
                format!(
                    "{:?} holds {} more than once: an issuer template names one tenant",
                    provider.issuer,
                    syntax::TENANT_PLACEHOLDER
                ),
            );
        }
        if provider.tenant.is_some() {
            self.err(
                format!("{at}.issuer"),
                "an issuer template takes the tenant from `iss`; it cannot be bound to one \
                 `tenant`",
            );
        }
    }

    /// An exact issuer that another provider's template also matches would make a token's
    /// provider depend on the order of the list.
    pub(super) fn issuer_overlaps(&mut self, config: &Config) {
        for (i, exact) in config.providers.iter().enumerate() {
            if exact.issuer_is_template() {
                continue;
            }
            let overlap = config.providers.iter().enumerate().find(|(_, t)| {
                t.issuer_is_template() && template_tenant(&t.issuer, &exact.issuer).is_some()
            });
            if let Some((k, _)) = overlap {
                self.err(
                    format!("providers[{i}].issuer"),
                    format!(
                        "{:?} also matches the issuer template of providers[{k}]: a token's \
                         `iss` must name one provider",
                        exact.issuer
                    ),
                );
            }
        }
    }
}
