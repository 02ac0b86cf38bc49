//! Audit (dry-run) mode in the worker: a refusal the gate says is not enforced is logged,
//! counted and passed upstream, named in `headers.would_deny`.

use tenantgate_core::denial::Denial;
use tenantgate_core::gate::Place;

use super::Worker;
use crate::host::Host;
use crate::reply;

impl<H: Host> Worker<H> {
    /// Lets a refused request through in audit mode; the caller continues it.
    pub(super) fn audit_pass(&self, denial: Denial, at: &Place, headers: &[(&str, &str)]) {
        let config = self.gate.config();
        self.audit
            .would_deny(denial, self.metrics.tenant_slot(at.tenant));
        let rule = at.rule.map_or_else(
            || "default".to_string(),
            |i| match config.routes.get(i).and_then(|r| r.name.as_deref()) {
                Some(name) => format!("{i} \"{name}\""),
                None => i.to_string(),
            },
        );
        let tenant = at
            .tenant
            .and_then(|t| config.tenants.keys().nth(t))
            .map_or("-", String::as_str);
        let part = at
            .requirement
            .map(|part| format!(", require.{}", part.path()))
            .unwrap_or_default();
        log::warn!(
            "tenantgate: audit: would refuse {} {} (rule {rule}{part}, tenant {tenant}); passed upstream",
            denial.status(),
            denial.code(),
        );
        reply::audit_pass(&self.host, config, denial, headers);
    }
}
