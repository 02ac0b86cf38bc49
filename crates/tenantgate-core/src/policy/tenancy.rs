//! Which tenant owns a host: explicit hosts of `tenants`, then `host_templates`.

use std::collections::{BTreeMap, HashMap};

use super::FixedHasher;
use crate::config::syntax::HostTemplate;

/// The compiled host table. The compile step guarantees that no host has two owners, so the
/// order of the checks below does not change any answer.
#[derive(Debug, Clone, Default)]
pub struct HostTable {
    /// Normalized host → tenant id: one hash lookup, however many hosts are listed.
    explicit: HashMap<String, String, FixedHasher>,
    templates: Vec<HostTemplate>,
    /// Configured tenant ids, sorted.
    tenants: Vec<String>,
    allow_unlisted: bool,
}

impl HostTable {
    /// The table of explicit hosts (normalized host → tenant id), host templates and configured
    /// tenant ids (sorted), as [`crate::compile`] builds it.
    pub fn new(
        explicit: BTreeMap<String, String>,
        templates: Vec<HostTemplate>,
        tenants: Vec<String>,
        allow_unlisted: bool,
    ) -> HostTable {
        HostTable {
            explicit: explicit.into_iter().collect(),
            templates,
            tenants,
            allow_unlisted,
        }
    }

    /// The tenant that owns a normalized host (see [`crate::policy::host::normalize`]): a hash
    /// lookup, then each host template in turn (a template match checks the tenant id in the
    /// sorted list of tenants).
    pub fn owner<'a>(&'a self, host: &'a str) -> Option<&'a str> {
        if let Some(tenant) = self.explicit.get(host) {
            return Some(tenant);
        }
        self.templates.iter().find_map(|template| {
            let tenant = template.tenant_of(host)?;
            let listed = self
                .tenants
                .binary_search_by(|t| t.as_str().cmp(tenant))
                .is_ok();
            (listed || self.allow_unlisted).then_some(tenant)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn table(json: serde_json::Value) -> HostTable {
        let config: Config = serde_json::from_value(json).expect("config shape");
        crate::compile::host_table_for_tests(&config)
    }

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let v = serde_json::json!({
            "providers": [],
            "tenants": {
                "acme": {"hosts": ["Acme.Example.com", "acme.example.org."]},
                "beta": {"hosts": []}
            },
            "host_templates": ["{tenant}.app.example.com", "api.{tenant}.example.net"]
        });
        crate::config::tests::merged(v, extra)
    }

    #[test]
    fn explicit_hosts_and_templates_of_listed_tenants() {
        let t = table(base(serde_json::json!({})));
        assert_eq!(t.owner("acme.example.com"), Some("acme"));
        assert_eq!(t.owner("acme.example.org"), Some("acme"));
        assert_eq!(t.owner("acme.app.example.com"), Some("acme"));
        assert_eq!(t.owner("beta.app.example.com"), Some("beta"));
        assert_eq!(t.owner("api.beta.example.net"), Some("beta"));
        assert_eq!(t.owner("gamma.app.example.com"), None);
        assert_eq!(t.owner("app.example.com"), None);
        assert_eq!(t.owner("x.acme.app.example.com"), None);
        assert_eq!(t.owner("example.com"), None);
    }

    #[test]
    fn unlisted_tenants_through_templates_only() {
        let t = table(base(serde_json::json!({"allow_unlisted_tenants": true})));
        assert_eq!(t.owner("gamma.app.example.com"), Some("gamma"));
        assert_eq!(t.owner("api.gamma-2.example.net"), Some("gamma-2"));
        assert_eq!(t.owner("acme.app.example.com"), Some("acme"));
        // Not a tenant id: refused even when unlisted tenants are allowed.
        assert_eq!(t.owner("-x.app.example.com"), None);
        assert_eq!(t.owner("a.b.app.example.com"), None);
        assert_eq!(t.owner("gamma.example.com"), None);
    }
}
