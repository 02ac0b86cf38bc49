//! RS256 for the gate: through the host's own crypto (`verify_signature`, natively) when a probe
//! at configure time shows it answers correctly, else ring inside the module. Stats: the gauge
//! `tenantgate.rs256.host` (1: the host verifies, 0: ring) and the counter
//! `tenantgate.rs256.host_failures` (host calls that failed at run time; ring decided those).

use tenantgate_core::jwks::keyset::RsaKey;
use tenantgate_core::verify::host_rs256::{self, HostCheck};
use tenantgate_core::verify::rs256;

use crate::host::{Host, MetricKind};

/// Which implementation verifies this worker's signatures.
pub struct Rs256 {
    through_host: bool,
    failures: Option<u32>,
}

impl Rs256 {
    /// Probes the host once (a genuine signature and two forgeries) and chooses.
    pub fn probe(host: &impl Host) -> Rs256 {
        let probe =
            host_rs256::probe(|args| host.call_foreign_function(host_rs256::FUNCTION, args));
        let through_host = match probe {
            Ok(()) => {
                log::info!("tenantgate: RS256 through the host's verify_signature");
                true
            }
            Err(why @ host_rs256::ProbeFailure::Unavailable(_)) => {
                log::info!("tenantgate: RS256 with ring in the module: {why}");
                false
            }
            Err(why) => {
                log::warn!("tenantgate: RS256 with ring in the module: {why}");
                false
            }
        };
        match host.define_metric(MetricKind::Gauge, "tenantgate.rs256.host") {
            Ok(id) => {
                let _ = host.record_metric(id, u64::from(through_host));
            }
            Err(status) => {
                log::warn!("tenantgate: cannot define metric tenantgate.rs256.host: {status}")
            }
        }
        let failures = host
            .define_metric(MetricKind::Counter, "tenantgate.rs256.host_failures")
            .ok();
        Rs256 {
            through_host,
            failures,
        }
    }

    /// Whether `signature` is a valid RS256 signature of `message` under `key`. A host call that
    /// fails is no verdict: ring decides that request (never an error taken as valid).
    pub fn verify(&self, host: &impl Host, key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
        if !self.through_host {
            return rs256::verify(key, message, signature);
        }
        let call = |args: &[u8]| host.call_foreign_function(host_rs256::FUNCTION, args);
        match host_rs256::check(call, key, message, signature) {
            HostCheck::Valid => true,
            HostCheck::Invalid => false,
            HostCheck::Failed => {
                if let Some(id) = self.failures {
                    let _ = host.increment_metric(id, 1);
                }
                rs256::verify(key, message, signature)
            }
        }
    }
}

#[cfg(test)]
mod tests;
