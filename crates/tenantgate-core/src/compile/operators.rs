//! `operators`, the routes that allow them, and `headers.acting_operator`: an operator must be
//! someone a configured provider can issue a token for, and the header naming them must be one
//! no client copy or other forwarded header can be confused with.

use crate::config::{limits, syntax, Config, Operators, Requirement, TokenSource};
use crate::policy::headers::same_after_folding;

use super::headers::forwarded_name_problem;
use super::Compiler;

/// Registered claims (RFC 7519 section 4.1) that verification reads for itself.
const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

impl Compiler {
    /// The `operators` section, every route's `operators` flag, and the acting-operator header.
    pub(super) fn operators(&mut self, config: &Config) {
        if let Some(operators) = &config.operators {
            self.operator_origin(config, operators);
            let role = &operators.role;
            if role.is_empty() || role.contains(',') || role.chars().any(char::is_control) {
                self.err(
                    "operators.role",
                    "must be a role name: not empty, without ',' or control characters",
                );
            }
            self.range(
                "operators.max_lifetime_seconds",
                operators.max_lifetime_seconds,
                limits::OPERATOR_LIFETIME_SECONDS,
            );
            if let Some(message) = target_claim_problem(config, operators) {
                self.err("operators.target_claim", message);
            }
        }
        for (i, route) in config.routes.iter().enumerate() {
            if !route.operators {
                continue;
            }
            let at = format!("routes[{i}].operators");
            if config.operators.is_none() {
                self.err(
                    at,
                    "no `operators` section says who operators are: add one, or drop this flag",
                );
            } else if matches!(route.require, Requirement::Public | Requirement::Deny) {
                self.err(
                    at,
                    "a `public` or `deny` route reads no token, so operators change nothing on it",
                );
            }
        }
        if let Some(message) = acting_operator_header_problem(config) {
            self.err("headers.acting_operator", message);
        }
    }

    /// `providers` and `tenants`: at least one given, each naming something a token can come
    /// from.
    fn operator_origin(&mut self, config: &Config, operators: &Operators) {
        if operators.providers.is_empty() && operators.tenants.is_empty() {
            self.err(
                "operators",
                "name the operators' providers or tenants (or both): a role alone is not enough, \
                 since every tenant's admins can grant roles",
            );
        }
        for (i, name) in operators.providers.iter().enumerate() {
            let at = format!("operators.providers[{i}]");
            if !config.providers.iter().any(|p| p.name == *name) {
                self.err(at, format!("{name:?} names no configured provider"));
            } else if operators.providers.iter().take(i).any(|p| p == name) {
                self.err(at, format!("duplicate provider {name:?}"));
            }
        }
        // The providers an operator's token can come from: the named ones, or all.
        let origin = config
            .providers
            .iter()
            .filter(|p| operators.providers.is_empty() || operators.providers.contains(&p.name));
        let origin: Vec<_> = origin.collect();
        for (i, tenant) in operators.tenants.iter().enumerate() {
            let at = format!("operators.tenants[{i}]");
            let carried = origin
                .iter()
                .any(|p| p.tenant.as_ref().is_none_or(|bound| bound == tenant));
            if !syntax::is_tenant_id(tenant) {
                self.err(at, format!("{tenant:?} is not a tenant id"));
            } else if operators.tenants.iter().take(i).any(|t| t == tenant) {
                self.err(at, format!("duplicate tenant {tenant:?}"));
            } else if !carried {
                self.err(
                    at,
                    format!(
                        "no operator provider can issue a token of tenant {tenant:?}: each is \
                         bound to another tenant"
                    ),
                );
            }
        }
    }
}

/// The target claim must be a claim of its own: not one verification reads for the token's
/// tenant, roles or permissions, nor a registered claim.
fn target_claim_problem(config: &Config, operators: &Operators) -> Option<String> {
    let claim = operators.target_claim.as_str();
    if claim.is_empty() {
        return Some("name the claim (it is empty)".into());
    }
    if REGISTERED_CLAIMS.contains(&claim) {
        return Some(format!(
            "{claim:?} is a registered claim, not a target tenant"
        ));
    }
    config
        .providers
        .iter()
        .enumerate()
        .find_map(|(p, provider)| {
            let field = if provider.tenant.is_none() && provider.tenant_claim_name() == claim {
                "tenant claim"
            } else if provider.roles_claim == claim {
                "roles_claim"
            } else if provider.permissions_claim.as_deref() == Some(claim) {
                "permissions_claim"
            } else {
                return None;
            };
            Some(format!(
            "{claim:?} is the {field} of providers[{p}]: the target must be a claim of its own, \
             or every token of that provider would name one"
        ))
        })
}

/// Why `headers.acting_operator` cannot be the acting-operator header, if it cannot: it must be
/// a header the filter may set and strip, distinct (after folding) from every other header it
/// sets or reads.
fn acting_operator_header_problem(config: &Config) -> Option<String> {
    let name = config.headers.acting_operator.as_str();
    if let Some(problem) = forwarded_name_problem(name) {
        return Some(problem);
    }
    let headers = &config.headers;
    let mut others: Vec<(String, &str)> = vec![
        ("headers.tenant".into(), headers.tenant.as_str()),
        ("headers.user".into(), headers.user.as_str()),
        ("headers.roles".into(), headers.roles.as_str()),
    ];
    others.extend(
        headers
            .claims
            .keys()
            .map(|h| (format!("headers.claims.{h}"), h.as_str())),
    );
    let contexts = std::iter::once(("tenant_context".to_string(), &config.tenant_context)).chain(
        config.routes.iter().enumerate().filter_map(|(i, r)| {
            r.tenant_context
                .as_ref()
                .map(|c| (format!("routes[{i}].tenant_context"), c))
        }),
    );
    for (at, context) in contexts {
        if let Some(header) = &context.header {
            others.push((format!("{at}.header"), header.as_str()));
        }
    }
    for (p, provider) in config.providers.iter().enumerate() {
        for (s, source) in provider.token_sources.iter().enumerate() {
            if let TokenSource::Header { name: token } = source {
                others.push((format!("providers[{p}].token_sources[{s}]"), token.as_str()));
            }
        }
    }
    others
        .into_iter()
        .find(|(_, other)| same_after_folding(other, name))
        .map(|(field, _)| {
            format!(
                "{name:?} is also {field} once frameworks fold `_` to `-` and case: the acting \
                 operator needs a header of its own"
            )
        })
}
