//! Envoy stats for tenantgate, defined once per VM (Envoy shares them across workers by name, and
//! shows them under the `wasmcustom.` prefix).
//! Names: `tenantgate.requests.{allowed,denied}`, `tenantgate.denied.<code>`,
//! `tenantgate.tenant.<tenant>.{allowed,denied}` (tenants of the configuration, others under
//! `_other`), `tenantgate.tenant.<tenant>.operator` (requests operators made on the tenant's
//! behalf, with an `operators` section only), `tenantgate.jwks.<provider>.fetch.{success,failure,rejected}`
//! and the gauge `tenantgate.jwks.<provider>.keys`; in audit mode, those of [`audit`]; the RS256
//! path's `tenantgate.rs256.{host,host_failures}` are defined by [`crate::rs256`].

mod audit;

use std::collections::HashMap;

use tenantgate_core::config::Config;
use tenantgate_core::denial::Denial;

use crate::host::{Host, MetricKind};

pub use audit::AuditMetrics;

const OTHER_TENANT: &str = "_other";

#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    by_denial: HashMap<Denial, u32>,
    /// (allowed, denied) per configured tenant in `Config::tenants` order, then `_other`.
    by_tenant: Vec<(Option<u32>, Option<u32>)>,
    /// Operator requests per tenant, in the order of `by_tenant`; empty without `operators`.
    operator_by_tenant: Vec<Option<u32>>,
    /// Per provider: fetch success, failure, rejected response, keys gauge.
    jwks: Vec<JwksMetrics>,
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

fn bump(host: &impl Host, id: Option<u32>) {
    if let Some(id) = id {
        // A failed increment loses one count; never worth failing a request over.
        let _ = host.increment_metric(id, 1);
    }
}

impl Metrics {
    pub fn define(host: &impl Host, config: &Config) -> Metrics {
        let counter = |name: &str| define(host, MetricKind::Counter, name);
        let mut metrics = Metrics {
            allowed: counter("tenantgate.requests.allowed"),
            denied: counter("tenantgate.requests.denied"),
            ..Metrics::default()
        };
        for denial in Denial::ALL {
            if let Some(id) = counter(&format!("tenantgate.denied.{}", denial.code())) {
                metrics.by_denial.insert(denial, id);
            }
        }
        for tenant in config
            .tenants
            .keys()
            .map(String::as_str)
            .chain([OTHER_TENANT])
        {
            let pair = (
                counter(&format!("tenantgate.tenant.{tenant}.allowed")),
                counter(&format!("tenantgate.tenant.{tenant}.denied")),
            );
            metrics.by_tenant.push(pair);
            if config.operators.is_some() {
                let operator = counter(&format!("tenantgate.tenant.{tenant}.operator"));
                metrics.operator_by_tenant.push(operator);
            }
        }
        for provider in &config.providers {
            let prefix = format!("tenantgate.jwks.{}", provider.name);
            metrics.jwks.push(JwksMetrics {
                success: counter(&format!("{prefix}.fetch.success")),
                failure: counter(&format!("{prefix}.fetch.failure")),
                rejected: counter(&format!("{prefix}.fetch.rejected")),
                keys: define(host, MetricKind::Gauge, &format!("{prefix}.keys")),
            });
        }
        metrics
    }

    /// `tenant`: index of the configured tenant owning the requested host (`Place::tenant`).
    fn tenant(&self, tenant: Option<usize>) -> Option<&(Option<u32>, Option<u32>)> {
        tenant
            .and_then(|t| self.by_tenant.get(t))
            .or_else(|| self.by_tenant.last())
    }

    pub fn allowed(&self, host: &impl Host, tenant: Option<usize>) {
        bump(host, self.allowed);
        bump(host, self.tenant(tenant).and_then(|pair| pair.0));
    }

    pub fn denied(&self, host: &impl Host, denial: Denial, tenant: Option<usize>) {
        bump(host, self.denied);
        bump(host, self.by_denial.get(&denial).copied());
        bump(host, self.tenant(tenant).and_then(|pair| pair.1));
    }

    /// An operator acted on `tenant` (`Place::tenant`: the target tenant).
    pub fn operator(&self, host: &impl Host, tenant: Option<usize>) {
        let id = tenant
            .and_then(|t| self.operator_by_tenant.get(t))
            .or_else(|| self.operator_by_tenant.last());
        bump(host, id.copied().flatten());
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

    pub fn keys_loaded(&self, host: &impl Host, provider: usize, count: usize) {
        if let Some(id) = self.jwks.get(provider).and_then(|m| m.keys) {
            let _ = host.record_metric(id, count as u64);
        }
    }
}
