//! Break-glass: whether a verified token is an operator's acting on another tenant, and
//! whether this request lets it. Only tokens whose origin and role make them operators'
//! (`Operators::is_operator`) and that name a target are considered; every other token is
//! decided as a normal token of its own tenant.

use serde_json::Value;

use super::Gate;
use crate::denial::Denial;
use crate::verify::VerifiedToken;

impl Gate {
    /// The tenant an operator's token acts on here, `None` for a normal token; or why it may
    /// not act. Checked in this order: the route allows operators, the token is short-lived
    /// (`exp - iat`, `iat` required), and its target is the tenant the request addresses (when
    /// the request names one) and a configured tenant (unless unlisted tenants are allowed).
    pub(super) fn operator_target(
        &self,
        verified: &VerifiedToken,
        rule: Option<usize>,
        named: Option<&str>,
    ) -> Result<Option<String>, Denial> {
        let Some(operators) = &self.config.operators else {
            return Ok(None);
        };
        let provider = self
            .config
            .providers
            .get(verified.provider)
            .map_or("", |p| p.name.as_str());
        if !operators.is_operator(provider, &verified.tenant, &verified.roles) {
            return Ok(None);
        }
        let target = match verified.kept.get(&operators.target_claim) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(t)) if !t.is_empty() && !t.chars().any(char::is_control) => t,
            Some(_) => return Err(Denial::ClaimInvalid),
        };
        let allowed = rule
            .and_then(|r| self.config.routes.get(r))
            .is_some_and(|route| route.operators);
        if !allowed {
            return Err(Denial::OperatorRouteDenied);
        }
        let lifetime = issued_at(verified).map(|iat| verified.expires_at.saturating_sub(iat));
        let max = i64::try_from(operators.max_lifetime_seconds).unwrap_or(i64::MAX);
        if lifetime.is_none_or(|lifetime| lifetime > max) {
            return Err(Denial::OperatorLifetimeExceeded);
        }
        let known = self.config.allow_unlisted_tenants || self.tenant_index(target).is_some();
        if !known || named.is_some_and(|named| named != target) {
            return Err(Denial::OperatorTargetMismatch);
        }
        Ok(Some(target.clone()))
    }
}

/// `iat` as verification read it (a number; fractions floored), kept for operators.
fn issued_at(verified: &VerifiedToken) -> Option<i64> {
    match verified.kept.get("iat")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)),
        _ => None,
    }
}
