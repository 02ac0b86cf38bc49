//! Envoy stats for tenantgate, defined once per VM (Envoy shares them across workers by name, and
//! shows them under the `wasmcustom.` prefix).
//! Names: `tenantgate.requests.{allowed,denied}`, `tenantgate.denied.<code>`,
//! `tenantgate.tenant.<tenant>.{allowed,denied}` (tenants of the configuration, others under
//! `_other`), `tenantgate.tenant.<tenant>.operator` (requests operators made on the tenant's
//! behalf, with an `operators` section only), `tenantgate.jwks.<provider>.fetch.{success,failure,rejected}`
//! and the gauge `tenantgate.jwks.<provider>.keys`; with a `directory`, those of [`directory`]
//! (directory tenants count under `_other`); in audit mode, those of [`audit`]; the RS256
//! path's `tenantgate.rs256.{host,host_failures}` are defined by [`crate::rs256`].
//!
//! The per-request counters go through a [`batch::Batch`]: Envoy sees them on the root's next
//! tick ([`Metrics::flush`]), up to 100 ms late. Fetch counters and gauges are set at once.

mod audit;
mod batch;
mod directory;

use std::collections::HashMap;

use tenantgate_core::config::Config;
use tenantgate_core::denial::Denial;

use crate::host::{Host, MetricKind};

pub use audit::AuditMetrics;
use batch::{Batch, Slot};
pub use directory::DirectoryMetrics;

const OTHER_TENANT: &str = "_other";

#[derive(Debug, Default)]
pub struct Metrics {
    /// The per-request counters below.
    batch: Batch,
    allowed: Option<Slot>,
    denied: Option<Slot>,
    by_denial: HashMap<Denial, Slot>,
    /// (allowed, denied) per configured tenant in `Config::tenants` order, then `_other`.
    by_tenant: Vec<(Option<Slot>, Option<Slot>)>,
    /// Operator requests per tenant, in the order of `by_tenant`; empty without `operators`.
    operator_by_tenant: Vec<Option<Slot>>,
    /// Per provider: fetch success, failure, rejected response, keys gauge.
    jwks: Vec<JwksMetrics>,
    /// With a directory in force: the gate's tenant index (`Place::tenant`, static and directory
    /// tenants together) → index in `by_tenant`, where directory tenants are `_other`.
    tenant_slots: Option<Vec<usize>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct JwksMetrics {
    success: Option<u32>,
    failure: Option<u32>,
    rejected: Option<u32>,
    keys: Option<u32>,
}

/// How a JWKS fetch ended, for its counter.
#[derive(Debug, Clone, Copy)]
pub enum FetchResult {
    Success,
    /// No answer: connection failure, timeout, cluster missing.
    Failure,
    /// An answer that was refused: not 200, too large, malformed, no usable key.
    Rejected,
}

fn define(host: &impl Host, kind: MetricKind, name: &str) -> Option<u32> {
    match host.define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("tenantgate: cannot define metric {name}: {status}");
            None
        }
    }
}

fn jwks_metrics(host: &impl Host, provider: &str) -> JwksMetrics {
    let prefix = format!("tenantgate.jwks.{provider}");
    JwksMetrics {
        success: define(
            host,
            MetricKind::Counter,
            &format!("{prefix}.fetch.success"),
        ),
        failure: define(
            host,
            MetricKind::Counter,
            &format!("{prefix}.fetch.failure"),
        ),
        rejected: define(
            host,
            MetricKind::Counter,
            &format!("{prefix}.fetch.rejected"),
        ),
        keys: define(host, MetricKind::Gauge, &format!("{prefix}.keys")),
    }
}

fn bump(host: &impl Host, id: Option<u32>) {
    if let Some(id) = id {
        // A failed increment loses one count; never worth failing a request over.
        let _ = host.increment_metric(id, 1);
    }
}

impl Metrics {
    pub fn define(host: &impl Host, config: &Config) -> Metrics {
        let mut batch = Batch::default();
        let mut metrics = Metrics {
            allowed: batch.counter(host, "tenantgate.requests.allowed"),
            denied: batch.counter(host, "tenantgate.requests.denied"),
            ..Metrics::default()
        };
        for denial in Denial::ALL {
            let name = format!("tenantgate.denied.{}", denial.code());
            if let Some(slot) = batch.counter(host, &name) {
                metrics.by_denial.insert(denial, slot);
            }
        }
        for tenant in config
            .tenants
            .keys()
            .map(String::as_str)
            .chain([OTHER_TENANT])
        {
            let pair = (
                batch.counter(host, &format!("tenantgate.tenant.{tenant}.allowed")),
                batch.counter(host, &format!("tenantgate.tenant.{tenant}.denied")),
            );
            metrics.by_tenant.push(pair);
            if config.operators.is_some() {
                let name = format!("tenantgate.tenant.{tenant}.operator");
                let operator = batch.counter(host, &name);
                metrics.operator_by_tenant.push(operator);
            }
        }
        metrics.jwks = config
            .providers
            .iter()
            .map(|p| jwks_metrics(host, &p.name))
            .collect();
        metrics.batch = batch;
        metrics
    }

    /// Follows a gate rebuilt with a directory: per-tenant counters stay those of the static
    /// tenants (a directory tenant counts under `_other`), and each provider of `config` gets its
    /// fetch stats (the host shares a stat by name, so those already defined are reused).
    pub fn follow(&mut self, host: &impl Host, static_config: &Config, config: &Config) {
        let other = static_config.tenants.len();
        let slots = config
            .tenants
            .keys()
            .map(|id| {
                static_config
                    .tenants
                    .keys()
                    .position(|s| s == id)
                    .unwrap_or(other)
            })
            .collect();
        self.tenant_slots = Some(slots);
        self.jwks = config
            .providers
            .iter()
            .map(|p| jwks_metrics(host, &p.name))
            .collect();
    }

    /// The `by_tenant` index of the gate's tenant index.
    fn slot(&self, tenant: Option<usize>) -> Option<usize> {
        match &self.tenant_slots {
            Some(slots) => tenant.and_then(|t| slots.get(t).copied()),
            None => tenant,
        }
    }

    /// Hands the request counters of the last tick to the host (the root's tick).
    pub fn flush(&self, host: &impl Host) {
        self.batch.flush(host);
    }

    /// `tenant`: index of the configured tenant owning the requested host (`Place::tenant`).
    fn tenant(&self, tenant: Option<usize>) -> Option<&(Option<Slot>, Option<Slot>)> {
        self.slot(tenant)
            .and_then(|t| self.by_tenant.get(t))
            .or_else(|| self.by_tenant.last())
    }

    pub fn allowed(&self, tenant: Option<usize>) {
        self.batch.bump(self.allowed);
        self.batch.bump(self.tenant(tenant).and_then(|pair| pair.0));
    }

    pub fn denied(&self, denial: Denial, tenant: Option<usize>) {
        self.batch.bump(self.denied);
        self.batch.bump(self.by_denial.get(&denial).copied());
        self.batch.bump(self.tenant(tenant).and_then(|pair| pair.1));
    }

    /// An operator acted on `tenant` (`Place::tenant`: the target tenant).
    pub fn operator(&self, tenant: Option<usize>) {
        let slot = self
            .slot(tenant)
            .and_then(|t| self.operator_by_tenant.get(t))
            .or_else(|| self.operator_by_tenant.last());
        self.batch.bump(slot.copied().flatten());
    }

    pub fn fetch(&self, host: &impl Host, provider: usize, result: FetchResult) {
        let Some(m) = self.jwks.get(provider) else {
            return;
        };
        bump(
            host,
            match result {
                FetchResult::Success => m.success,
                FetchResult::Failure => m.failure,
                FetchResult::Rejected => m.rejected,
            },
        );
    }

    /// Maps `tenant` as [`Metrics::slot`] does, for the audit stats.
    pub fn tenant_slot(&self, tenant: Option<usize>) -> Option<usize> {
        self.slot(tenant)
    }

    pub fn keys_loaded(&self, host: &impl Host, provider: usize, count: usize) {
        if let Some(id) = self.jwks.get(provider).and_then(|m| m.keys) {
            let _ = host.record_metric(id, count as u64);
        }
    }
}
