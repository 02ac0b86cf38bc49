//! The tenant directory's stats, defined only when a `directory` is configured:
//! `tenantgate.directory.{adopted,rejected,fetch_failed,dropped}` (counters; `dropped` counts
//! entries), and the gauges `tenantgate.directory.tenants` (directory tenants in force) and
//! `tenantgate.directory.adopt_ms` (how long the last adoption took in this worker) and
//! `tenantgate.directory.vm_memory_bytes` (the linear memory of the VM that last set it: at
//! start, then after each adoption; the size of the worker's VM, which only grows).
//! `adopted` and `dropped` count in every worker that adopts (each rebuilds its own gate);
//! `rejected` and `fetch_failed` once per Envoy, by the worker that fetched.

use super::define;
use crate::host::{Host, MetricKind};

#[derive(Debug, Default, Clone, Copy)]
pub struct DirectoryMetrics {
    adopted: Option<u32>,
    rejected: Option<u32>,
    fetch_failed: Option<u32>,
    dropped: Option<u32>,
    tenants: Option<u32>,
    adopt_ms: Option<u32>,
    vm_memory: Option<u32>,
}

impl DirectoryMetrics {
    pub fn define(host: &impl Host) -> DirectoryMetrics {
        let counter = |name: &str| define(host, MetricKind::Counter, name);
        let gauge = |name: &str| define(host, MetricKind::Gauge, name);
        let metrics = DirectoryMetrics {
            adopted: counter("tenantgate.directory.adopted"),
            rejected: counter("tenantgate.directory.rejected"),
            fetch_failed: counter("tenantgate.directory.fetch_failed"),
            dropped: counter("tenantgate.directory.dropped"),
            tenants: gauge("tenantgate.directory.tenants"),
            adopt_ms: gauge("tenantgate.directory.adopt_ms"),
            vm_memory: gauge("tenantgate.directory.vm_memory_bytes"),
        };
        metrics.record_memory(host);
        metrics
    }

    fn record_memory(&self, host: &impl Host) {
        if let Some(bytes) = vm_memory_bytes() {
            set(host, self.vm_memory, bytes);
        }
    }

    /// A document adopted: `dropped` entries left out, `tenants` directory tenants in force,
    /// `took_ms` to check and rebuild.
    pub fn adopted(&self, host: &impl Host, dropped: usize, tenants: usize, took_ms: u64) {
        add(host, self.adopted, 1);
        add(host, self.dropped, dropped);
        set(host, self.tenants, tenants as u64);
        set(host, self.adopt_ms, took_ms);
        self.record_memory(host);
    }

    pub fn rejected(&self, host: &impl Host) {
        add(host, self.rejected, 1);
    }

    pub fn fetch_failed(&self, host: &impl Host) {
        add(host, self.fetch_failed, 1);
    }
}

/// The size of this VM's linear memory, in bytes; `None` outside wasm.
fn vm_memory_bytes() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    {
        let pages = u64::try_from(core::arch::wasm32::memory_size(0)).unwrap_or(u64::MAX);
        Some(pages.saturating_mul(65_536))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

fn add(host: &impl Host, id: Option<u32>, n: usize) {
    if let (Some(id), Ok(n)) = (id, i64::try_from(n)) {
        if n > 0 {
            let _ = host.increment_metric(id, n);
        }
    }
}

fn set(host: &impl Host, id: Option<u32>, value: u64) {
    if let Some(id) = id {
        let _ = host.record_metric(id, value);
    }
}
