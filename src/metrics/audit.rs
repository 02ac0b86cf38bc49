//! Audit-mode stats, defined only when audit mode is on somewhere (globally or on a route):
//! `tenantgate.audit.would_deny`, `tenantgate.audit.denied.<code>` and
//! `tenantgate.tenant.<tenant>.would_deny` (`_other` for tenants outside the configuration).
//! A refusal audit mode lets through counts here only, neither as allowed nor as denied.

use std::collections::HashMap;

use tenantgate_core::config::Config;
use tenantgate_core::denial::Denial;
use tenantgate_core::gate::audit::relaxable;

use super::{bump, define, OTHER_TENANT};
use crate::host::{Host, MetricKind};

#[derive(Debug, Default)]
pub struct AuditMetrics {
    would_deny: Option<u32>,
    by_denial: HashMap<Denial, u32>,
    /// Per configured tenant in `Config::tenants` order, then `_other`.
    by_tenant: Vec<Option<u32>>,
}

impl AuditMetrics {
    /// The stats of audit mode; none when `enabled` is false.
    pub fn define(host: &impl Host, config: &Config, enabled: bool) -> AuditMetrics {
        let mut metrics = AuditMetrics::default();
        if !enabled {
            return metrics;
        }
        let counter = |name: &str| define(host, MetricKind::Counter, name);
        metrics.would_deny = counter("tenantgate.audit.would_deny");
        // Only the refusals audit mode can let through.
        for denial in Denial::ALL.into_iter().filter(|d| relaxable(*d)) {
            let name = format!("tenantgate.audit.denied.{}", denial.code());
            if let Some(id) = counter(&name) {
                metrics.by_denial.insert(denial, id);
            }
        }
        let tenants = config.tenants.keys().map(String::as_str);
        for tenant in tenants.chain([OTHER_TENANT]) {
            let id = counter(&format!("tenantgate.tenant.{tenant}.would_deny"));
            metrics.by_tenant.push(id);
        }
        metrics
    }

    /// A refusal let through: `tenant` is `Place::tenant`.
    pub fn would_deny(&self, host: &impl Host, denial: Denial, tenant: Option<usize>) {
        bump(host, self.would_deny);
        bump(host, self.by_denial.get(&denial).copied());
        let per_tenant = tenant
            .and_then(|t| self.by_tenant.get(t))
            .or_else(|| self.by_tenant.last());
        bump(host, per_tenant.copied().flatten());
    }
}
