//! Audit-mode stats, defined only when audit mode is on somewhere (globally or on a route):
//! `tenantgate.audit.would_deny`, `tenantgate.audit.denied.<code>` and
//! `tenantgate.tenant.<tenant>.would_deny` (`_other` for tenants outside the configuration).
//! A refusal audit mode lets through counts here only, neither as allowed nor as denied.

use std::collections::HashMap;

use tenantgate_core::config::Config;
use tenantgate_core::denial::Denial;
use tenantgate_core::gate::audit::relaxable;

use super::batch::{Batch, Slot};
use super::OTHER_TENANT;
use crate::host::Host;

/// Batched like the other request counters ([`super::Metrics`]).
#[derive(Debug, Default)]
pub struct AuditMetrics {
    batch: Batch,
    would_deny: Option<Slot>,
    by_denial: HashMap<Denial, Slot>,
    /// Per configured tenant in `Config::tenants` order, then `_other`.
    by_tenant: Vec<Option<Slot>>,
}

impl AuditMetrics {
    /// The stats of audit mode; none when `enabled` is false.
    pub fn define(host: &impl Host, config: &Config, enabled: bool) -> AuditMetrics {
        let mut metrics = AuditMetrics::default();
        if !enabled {
            return metrics;
        }
        let mut batch = Batch::default();
        let mut counter = |name: &str| batch.counter(host, name);
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
        metrics.batch = batch;
        metrics
    }

    /// Hands the counts of the last tick to the host.
    pub fn flush(&self, host: &impl Host) {
        self.batch.flush(host);
    }

    /// A refusal let through: `tenant` is `Place::tenant`.
    pub fn would_deny(&self, denial: Denial, tenant: Option<usize>) {
        self.batch.bump(self.would_deny);
        self.batch.bump(self.by_denial.get(&denial).copied());
        let per_tenant = tenant
            .and_then(|t| self.by_tenant.get(t))
            .or_else(|| self.by_tenant.last());
        self.batch.bump(per_tenant.copied().flatten());
    }
}
