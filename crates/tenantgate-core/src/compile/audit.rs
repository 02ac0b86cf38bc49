//! `headers.would_deny`: the header audit mode sets upstream. The filter strips every client
//! copy of it under any folded spelling, so it must not be a name the filter or the client
//! needs for anything else.

use crate::config::Config;
use crate::policy::headers::same_after_folding;

use super::headers::{forwarded_name_problem, token_header_clash};
use super::Compiler;

impl Compiler {
    pub(super) fn would_deny_header(&mut self, config: &Config) {
        let name = &config.headers.would_deny;
        let message = forwarded_name_problem(name)
            .or_else(|| forwarded_clash(config, name))
            .or_else(|| token_header_clash(config, name))
            .or_else(|| tenant_header_clash(config, name));
        if let Some(message) = message {
            self.err("headers.would_deny", message);
        }
    }
}

/// Another header the filter sets upstream under a name that folds into `name`.
fn forwarded_clash(config: &Config, name: &str) -> Option<String> {
    let headers = &config.headers;
    let identity = [
        ("headers.tenant".to_string(), &headers.tenant),
        ("headers.user".to_string(), &headers.user),
        ("headers.roles".to_string(), &headers.roles),
    ];
    let claims = headers
        .claims
        .keys()
        .map(|header| (format!("headers.claims.{header}"), header));
    identity
        .into_iter()
        .chain(claims)
        .find(|(_, other)| same_after_folding(other, name))
        .map(|(field, other)| {
            format!("{name:?} is also {field} ({other:?}): the audit header needs its own name")
        })
}

/// A tenant context header: its client copies are what the filter compares, so stripping them
/// would make the source vanish.
fn tenant_header_clash(config: &Config, name: &str) -> Option<String> {
    let global = std::iter::once(("tenant_context.header".to_string(), &config.tenant_context));
    let routes = config.routes.iter().enumerate().filter_map(|(i, route)| {
        let context = route.tenant_context.as_ref()?;
        Some((format!("routes[{i}].tenant_context.header"), context))
    });
    global.chain(routes).find_map(|(field, context)| {
        let header = context.header.as_deref()?;
        same_after_folding(header, name)
            .then(|| format!("{name:?} is {field}, which clients send and the filter reads"))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn errors(extra: serde_json::Value) -> Vec<(String, String)> {
        let config = json!({
            "providers": [{
                "name": "idp", "issuer": "https://idp", "audiences": ["api"],
                "token_sources": [{"type": "bearer"}, {"type": "header", "name": "x-token"}],
                "jwks": {"remote": {"cluster": "idp", "uri": "https://idp/jwks"}}
            }],
            "tenants": {"acme": {"hosts": ["acme.test"]}},
            "tenant_context": {"header": "x-tenant"},
            "routes": [{"path": {"prefix": "/a"}, "require": "public",
                        "tenant_context": {"header": "x-org"}}]
        });
        crate::compile::tests::errors_of(&crate::config::tests::merged(config, extra))
    }

    #[test]
    fn the_default_and_a_custom_name_compile() {
        assert_eq!(errors(json!({})), []);
        assert_eq!(errors(json!({"headers": {"would_deny": "x-dry-run"}})), []);
    }

    #[test]
    fn names_that_clash_are_refused_at_their_path() {
        let cases = [
            ("Authorization", "not a lower-case HTTP header name"),
            ("cookie", "reserved header"),
            (":path", "pseudo-header"),
            ("x_tenant_id", "is also headers.tenant"),
            ("x-user-roles", "is also headers.roles"),
            ("x_plan", "is also headers.claims.x-plan"),
            ("x-token", "token header of providers[0].token_sources[1]"),
            ("x_tenant", "is tenant_context.header"),
            ("x-org", "is routes[0].tenant_context.header"),
        ];
        for (name, wanted) in cases {
            let errors = errors(json!({"headers": {
                "would_deny": name, "claims": {"x-plan": "plan"}
            }}));
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            assert_eq!(errors[0].0, "headers.would_deny", "{name}");
            assert!(errors[0].1.contains(wanted), "{name}: {}", errors[0].1);
        }
    }
}
