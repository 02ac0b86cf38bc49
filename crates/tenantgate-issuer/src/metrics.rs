//! Prometheus counters in the text exposition format (version 0.0.4). Tenant labels are only
//! ever ids of existing tenants (unknown ones count as `_unknown`), so label cardinality stays
//! bounded whatever clients send.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Label value for requests that name no existing tenant.
pub const UNKNOWN_TENANT: &str = "_unknown";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    SignInSuccess,
    SignInFailure,
    SignInRateLimited,
    RefreshSuccess,
    RefreshError,
    TokenTheft,
    SignOut,
    TokensIssued,
    KeyRotations,
}

impl Counter {
    fn family(self) -> (&'static str, &'static str) {
        match self {
            Counter::SignInSuccess | Counter::SignInFailure | Counter::SignInRateLimited => (
                "tenantgate_issuer_sign_in_total",
                "Sign-in attempts by tenant and result.",
            ),
            Counter::RefreshSuccess => (
                "tenantgate_issuer_refresh_total",
                "Successful refresh-token rotations by tenant.",
            ),
            Counter::RefreshError => (
                "tenantgate_issuer_refresh_errors_total",
                "Refused refreshes by tenant and reason.",
            ),
            Counter::TokenTheft => (
                "tenantgate_issuer_token_theft_total",
                "Reuses of a rotated refresh token (session family revoked).",
            ),
            Counter::SignOut => ("tenantgate_issuer_sign_out_total", "Sign-outs by tenant."),
            Counter::TokensIssued => (
                "tenantgate_issuer_access_tokens_issued_total",
                "Access tokens signed by tenant.",
            ),
            Counter::KeyRotations => (
                "tenantgate_issuer_key_rotations_total",
                "Signing keys created by this process.",
            ),
        }
    }
}

/// A metric name and its label pairs.
type Series = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Series, u64>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds one to `counter` for `tenant` (None: a process-wide counter), with an optional reason.
    pub fn inc(&self, counter: Counter, tenant: Option<&str>, reason: Option<&str>) {
        let (name, _) = counter.family();
        let mut labels = Vec::new();
        if let Some(t) = tenant {
            labels.push(("tenant", t.to_string()));
        }
        match counter {
            Counter::SignInSuccess => labels.push(("result", "success".into())),
            Counter::SignInFailure => labels.push(("result", "failure".into())),
            Counter::SignInRateLimited => labels.push(("result", "rate_limited".into())),
            _ => {}
        }
        if let Some(r) = reason {
            labels.push(("reason", r.to_string()));
        }
        *self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((name, labels))
            .or_insert(0) += 1;
    }

    pub fn render(&self) -> String {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let all = [
            Counter::SignInSuccess,
            Counter::RefreshSuccess,
            Counter::RefreshError,
            Counter::TokenTheft,
            Counter::SignOut,
            Counter::TokensIssued,
            Counter::KeyRotations,
        ];
        for c in all {
            let (name, help) = c.family();
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((n, labels), value) in counters.iter() {
                if *n != name {
                    continue;
                }
                let rendered: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                if rendered.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{}}} {value}", rendered.join(","));
                }
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_counters() {
        let m = Metrics::new();
        m.inc(Counter::SignInSuccess, Some("acme"), None);
        m.inc(Counter::SignInSuccess, Some("acme"), None);
        m.inc(Counter::SignInFailure, Some("acme"), None);
        m.inc(Counter::RefreshError, Some("beta"), Some("session_expired"));
        m.inc(Counter::KeyRotations, None, None);
        let text = m.render();
        assert!(
            text.contains("tenantgate_issuer_sign_in_total{tenant=\"acme\",result=\"success\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tenantgate_issuer_sign_in_total{tenant=\"acme\",result=\"failure\"} 1")
        );
        assert!(text.contains(
            "tenantgate_issuer_refresh_errors_total{tenant=\"beta\",reason=\"session_expired\"} 1"
        ));
        assert!(text.contains("tenantgate_issuer_key_rotations_total 1"));
        assert_eq!(
            text.matches("# TYPE tenantgate_issuer_sign_in_total counter")
                .count(),
            1
        );
    }
}
