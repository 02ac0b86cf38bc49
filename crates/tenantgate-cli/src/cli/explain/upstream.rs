//! What the upstream would receive: the headers the filter sets on an allowed request, and, in
//! audit mode, a refusal that is not enforced.

use tenantgate_core::gate::{Enforcement, Gate, Outcome};

/// The headers the filter sets upstream for `outcome`, in the order it sets them: the identity
/// and claim headers of an allowed token, or the would-deny header of a refusal audit mode lets
/// through. Empty for a public route and for an enforced refusal.
pub(super) fn headers(gate: &Gate, outcome: &Outcome) -> Vec<(String, String)> {
    let names = &gate.config().headers;
    match outcome {
        Outcome::Allow {
            identity: Some(identity),
            ..
        } => {
            let mut out = vec![
                (names.tenant.clone(), identity.tenant.clone()),
                (names.user.clone(), identity.user.clone()),
            ];
            if !identity.roles.is_empty() {
                out.push((names.roles.clone(), identity.roles.join(",")));
            }
            out.extend(identity.claim_headers.iter().cloned());
            out
        }
        Outcome::Deny { denial, .. } if not_enforced(gate, outcome) => {
            vec![(names.would_deny.clone(), denial.code().to_string())]
        }
        _ => Vec::new(),
    }
}

/// Whether `outcome` is a refusal audit mode does not enforce.
pub(super) fn not_enforced(gate: &Gate, outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Deny { denial, at } if gate.enforcement(*denial, at) == Enforcement::Audit)
}

/// `name: value; name: value`, or `(none)`.
pub(super) fn describe(headers: &[(String, String)]) -> String {
    if headers.is_empty() {
        return "(none)".into();
    }
    let parts: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    parts.join("; ")
}

/// The headers as a JSON object.
pub(super) fn json(headers: &[(String, String)]) -> serde_json::Value {
    let map = headers
        .iter()
        .map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str())));
    serde_json::Value::Object(map.collect())
}
