//! Audit (dry-run) mode: which refusals a route in audit mode lets through, decided here so the
//! filter and `tenantgate explain` agree. The gate's decision itself never changes; this only
//! says whether a [`Outcome::Deny`](super::Outcome) is enforced.
//!
//! Audit mode relaxes policy, never the guarantees the upstream relies on: a request whose
//! path or credential the upstream could read differently than the filter checked it is refused
//! as always, and a refusal that is let through carries no identity headers (only a verified,
//! admitted token ever sets them).

use crate::denial::Denial;

use super::{Gate, Place};

/// Whether a refusal is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Answer the client with the refusal.
    Enforce,
    /// Audit mode: log and count the refusal, and let the request through without identity,
    /// naming the refusal in `headers.would_deny`.
    Audit,
}

/// Whether audit mode may let a refusal through. Exhaustive on purpose: a new refusal must be
/// placed on one side or the other.
pub fn relaxable(denial: Denial) -> bool {
    match denial {
        // What the upstream would read differently than the filter checked: a path that is
        // malformed, escapes normalization or carries segment parameters, and two credentials
        // (the upstream may read the one the filter did not). Letting them through would break
        // "the upstream sees what the filter checked" for every later decision.
        Denial::PathInvalid | Denial::TokenMultiple => false,
        // Not a decision at all: the keys are missing, so nothing was checked. Requests wait
        // for keys and are refused after `jwks_wait_ms` as always.
        Denial::KeysUnavailable => false,
        // Nothing was decided either: the directory that could allow the request is missing.
        Denial::DirectoryUnavailable => false,
        // Policy decisions about the token, the tenant and the route: what a rollout observes.
        Denial::TokenMissing
        | Denial::TokenTooLarge
        | Denial::TokenMalformed
        | Denial::AlgorithmNotAllowed
        | Denial::CriticalHeaderUnsupported
        | Denial::TokenSourceNotAllowed
        | Denial::KeyNotFound
        | Denial::SignatureInvalid
        | Denial::IssuerNotTrusted
        | Denial::AudienceMismatch
        | Denial::TokenExpired
        | Denial::TokenNotYetValid
        | Denial::TokenIssuedInFuture
        | Denial::TokenLifetimeExceeded
        | Denial::ClaimMissing
        | Denial::ClaimInvalid
        | Denial::TenantMissing
        | Denial::TenantUnmapped
        | Denial::TenantMismatch
        | Denial::HostUnknown
        | Denial::TenantContextMissing
        | Denial::RoleRequired
        | Denial::PermissionRequired
        | Denial::ScopeRequired
        | Denial::ClaimConditionUnmet
        | Denial::ClaimConditionInvalid
        | Denial::RouteDenied
        // An operator refused: passed on without identity, so no one acts as the target tenant.
        | Denial::OperatorRouteDenied
        | Denial::OperatorLifetimeExceeded
        | Denial::OperatorTargetMismatch
        // The hostile value is never written: a refusal let through carries no claim headers.
        | Denial::ClaimNotForwardable => true,
    }
}

impl Gate {
    /// Whether the route rule at `rule` is in audit mode: its own `audit`, else the top-level
    /// one. `None` (the default requirement, or a refusal before any rule was looked up, such as
    /// `host_unknown`) follows the top-level `audit`.
    pub fn audit_mode(&self, rule: Option<usize>) -> bool {
        let config = self.config();
        rule.and_then(|i| config.routes.get(i))
            .and_then(|route| route.audit)
            .unwrap_or(config.audit)
    }

    /// Whether audit mode is on anywhere: globally or on some route.
    pub fn audit_configured(&self) -> bool {
        let config = self.config();
        config.audit || config.routes.iter().any(|r| r.audit == Some(true))
    }

    /// Whether the refusal `denial`, decided at `at`, is carried out.
    pub fn enforcement(&self, denial: Denial, at: &Place) -> Enforcement {
        if self.audit_mode(at.rule) && relaxable(denial) {
            Enforcement::Audit
        } else {
            Enforcement::Enforce
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::gate::{Outcome, RequestView};
    use crate::verify::KeySource;

    struct NoKeys;
    impl KeySource for NoKeys {
        fn key_set(&self, _: usize) -> Option<&crate::jwks::keyset::KeySet> {
            None
        }
    }

    fn config(audit: Option<bool>, route_audit: [Option<bool>; 2]) -> Value {
        let mut config = json!({
            "providers": [{
                "name": "idp", "issuer": "https://idp", "audiences": ["api"],
                "jwks": {"remote": {"cluster": "idp", "uri": "https://idp/jwks"}}
            }],
            "tenants": {"acme": {"hosts": ["acme.test"]}, "globex": {"hosts": ["globex.test"]}},
            "tenant_context": {"paths": ["/t/{tenant}/**"]},
            "routes": [
                {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
                {"path": {"prefix": "/api"}, "require": "authenticated"},
                {"path": {"prefix": "/t"}, "require": "authenticated"}
            ]
        });
        if let Some(audit) = audit {
            config["audit"] = json!(audit);
        }
        for (i, audit) in route_audit.iter().enumerate() {
            if let Some(audit) = audit {
                config["routes"][i]["audit"] = json!(audit);
            }
        }
        config
    }

    fn gate(config: &Value) -> Gate {
        crate::gate::gate_of(config)
    }

    /// The decision on a request and whether its refusal is enforced.
    fn decide(gate: &Gate, host: &str, path: &str, headers: &[(&str, &str)]) -> (Denial, bool) {
        let req = RequestView {
            method: "GET",
            authority: host,
            path,
            headers,
        };
        match gate.decide(&req, &NoKeys, None, 1_700_000_000) {
            Outcome::Deny { denial, at } => (
                denial,
                gate.enforcement(denial, &at) == Enforcement::Enforce,
            ),
            other => panic!("{host}{path}: not refused: {other:?}"),
        }
    }

    #[test]
    fn off_by_default_and_every_refusal_enforced() {
        let gate = gate(&config(None, [None, None]));
        assert!(!gate.config().audit);
        assert!(!gate.audit_configured());
        assert_eq!(gate.config().headers.would_deny, "x-tenantgate-would-deny");
        for path in ["/admin", "/api", "/nothing"] {
            assert_eq!(
                decide(&gate, "acme.test", path, &[]),
                (
                    if path == "/nothing" {
                        Denial::RouteDenied
                    } else {
                        Denial::TokenMissing
                    },
                    true
                ),
                "{path}"
            );
        }
        for denial in Denial::ALL {
            assert_eq!(
                gate.enforcement(denial, &Place::default()),
                Enforcement::Enforce
            );
        }
    }

    #[test]
    fn global_audit_relaxes_policy_but_not_malformed_requests() {
        let gate = gate(&config(Some(true), [None, None]));
        assert!(gate.audit_configured());
        let relaxed = [
            ("acme.test", "/api", Denial::TokenMissing),
            ("acme.test", "/nothing", Denial::RouteDenied),
            ("nobody.test", "/api", Denial::HostUnknown),
            ("acme.test", "/t/globex/x", Denial::TenantMismatch),
        ];
        for (host, path, denial) in relaxed {
            assert_eq!(decide(&gate, host, path, &[]), (denial, false), "{path}");
        }
        let enforced = [
            ("/api/%2e%2e/%2e%2e/x", &[][..], Denial::PathInvalid),
            ("/api/a%2Fb", &[][..], Denial::PathInvalid),
            ("/api;x=1", &[][..], Denial::PathInvalid),
            (
                "/api",
                &[
                    ("authorization", "Bearer a.b.c"),
                    ("authorization", "Bearer d.e.f"),
                ][..],
                Denial::TokenMultiple,
            ),
        ];
        for (path, headers, denial) in enforced {
            assert_eq!(
                decide(&gate, "acme.test", path, headers),
                (denial, true),
                "{path}"
            );
        }
        // Keys that never loaded are refused by the glue at this place: enforced.
        assert_eq!(
            gate.enforcement(Denial::KeysUnavailable, &Place::default()),
            Enforcement::Enforce
        );
    }

    #[test]
    fn a_route_overrides_the_global_setting_both_ways() {
        // Global off, /admin on.
        let gate = gate(&config(Some(false), [Some(true), None]));
        assert!(gate.audit_configured());
        assert_eq!(
            decide(&gate, "acme.test", "/admin", &[]),
            (Denial::TokenMissing, false)
        );
        assert_eq!(
            decide(&gate, "acme.test", "/api", &[]),
            (Denial::TokenMissing, true)
        );
        assert_eq!(
            decide(&gate, "acme.test", "/nothing", &[]),
            (Denial::RouteDenied, true)
        );
        // Global on, /admin off: the default requirement and other routes follow the global.
        let gate = self::gate(&config(Some(true), [Some(false), Some(true)]));
        assert_eq!(
            decide(&gate, "acme.test", "/admin", &[]),
            (Denial::TokenMissing, true)
        );
        assert_eq!(
            decide(&gate, "acme.test", "/api", &[]),
            (Denial::TokenMissing, false)
        );
        assert_eq!(
            decide(&gate, "acme.test", "/nothing", &[]),
            (Denial::RouteDenied, false)
        );
        // A route explicitly off with the global off is no audit anywhere.
        let gate = self::gate(&config(None, [Some(false), Some(false)]));
        assert!(!gate.audit_configured());
    }

    #[test]
    fn only_malformed_requests_and_missing_keys_or_directory_stay_enforced() {
        let enforced: Vec<&str> = Denial::ALL
            .into_iter()
            .filter(|d| !relaxable(*d))
            .map(Denial::code)
            .collect();
        assert_eq!(
            enforced,
            [
                "token_multiple",
                "path_invalid",
                "jwks_unavailable",
                "directory_unavailable"
            ]
        );
    }
}
