//! The tenant context: shared hosts, and the path templates, header and required sources of
//! `tenant_context` (global and per route), compiled into the policy's [`ContextPolicy`].

use std::collections::BTreeSet;

use super::{Compiler, RESERVED_HEADERS};
use crate::config::{
    syntax, syntax::HostTemplate, Config, ContextSource, TenantContext, TokenSource,
};
use crate::policy::context::{ContextPolicy, PathTemplate, Sources};
use crate::policy::HostTable;

impl Compiler {
    /// Checks `shared_hosts` against the tenants' hosts, and the global `tenant_context`.
    pub(super) fn shared_hosts(&mut self, config: &Config, hosts: &HostTable) -> BTreeSet<String> {
        let templates: Vec<HostTemplate> = config
            .host_templates
            .iter()
            .filter_map(|t| HostTemplate::parse(t).ok())
            .collect();
        let mut shared = BTreeSet::new();
        for (h, host) in config.shared_hosts.iter().enumerate() {
            let path = format!("shared_hosts[{h}]");
            let host = match syntax::dns_name(host) {
                Ok(host) => host,
                Err(why) => {
                    self.err(path, why);
                    continue;
                }
            };
            let template = templates.iter().position(|t| t.tenant_of(&host).is_some());
            if let Some(owner) = hosts.owner(&host) {
                let message = format!(
                    "host {host:?} is tenant {owner:?}'s: a shared host names no tenant, so it \
                     cannot also be a tenant's host"
                );
                self.err(path, message);
            } else if let Some(k) = template {
                let message = format!(
                    "host {host:?} has the shape of host_templates[{k}], which names a tenant \
                     with it: a shared host names none"
                );
                self.err(path, message);
            } else if !shared.insert(host.clone()) {
                self.err(path, format!("duplicate shared host {host:?}"));
            }
        }
        shared
    }

    /// Checks every `tenant_context` (global, then each route's) and compiles them, with the
    /// shared hosts, into the context policy.
    pub(super) fn context(&mut self, config: &Config, shared: BTreeSet<String>) -> ContextPolicy {
        let global = self.sources(config, "tenant_context", &config.tenant_context);
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let own = route.tenant_context.as_ref()?;
                Some(self.sources(config, &format!("routes[{i}].tenant_context"), own))
            })
            .collect();
        ContextPolicy::new(global, routes, shared)
    }

    fn sources(&mut self, config: &Config, at: &str, context: &TenantContext) -> Sources {
        let mut paths: Vec<PathTemplate> = Vec::with_capacity(context.paths.len());
        for (k, raw) in context.paths.iter().enumerate() {
            let path = format!("{at}.paths[{k}]");
            match PathTemplate::parse(raw) {
                Ok(template) => match paths.iter().position(|t| *t == template) {
                    Some(first) => self.err(path, format!("duplicate of {at}.paths[{first}]")),
                    None => paths.push(template),
                },
                Err(why) => self.err(path, why),
            }
        }
        if let Some(name) = &context.header {
            if let Some(why) = tenant_header_problem(config, name) {
                self.err(format!("{at}.header"), why);
            }
        }
        for (k, source) in context.required.iter().enumerate() {
            let path = format!("{at}.required[{k}]");
            let configured = match source {
                ContextSource::Host => true,
                ContextSource::Path => !context.paths.is_empty(),
                ContextSource::Header => context.header.is_some(),
            };
            if context.required.iter().take(k).any(|s| s == source) {
                self.err(path, format!("duplicate source {:?}", source.as_str()));
            } else if !configured {
                let field = if *source == ContextSource::Path {
                    "paths"
                } else {
                    "header"
                };
                self.err(
                    path,
                    format!(
                        "{:?} is required but {at}.{field} is not set, so every request would \
                         be refused",
                        source.as_str()
                    ),
                );
            }
        }
        Sources {
            paths,
            header: context.header.clone(),
            required: context.required.clone(),
        }
    }
}

/// Why a header name cannot carry the tenant context, if it cannot: it must be a lower-case
/// header name that the filter neither sets (identity headers), nor reads a token from, nor
/// must leave alone (credentials, routing, framing).
fn tenant_header_problem(config: &Config, name: &str) -> Option<String> {
    let identity = [
        ("tenant", &config.headers.tenant),
        ("user", &config.headers.user),
        ("roles", &config.headers.roles),
    ];
    let token_source = config.providers.iter().enumerate().find_map(|(p, provider)| {
        provider.token_sources.iter().position(
            |source| matches!(source, TokenSource::Header { name: n } if n.eq_ignore_ascii_case(name)),
        ).map(|s| (p, s))
    });
    if name.starts_with(':') {
        Some(format!(
            "{name:?} is a pseudo-header and cannot name a tenant"
        ))
    } else if !syntax::is_token(name) || name.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(format!("{name:?} is not a lower-case HTTP header name"))
    } else if RESERVED_HEADERS.contains(&name) {
        Some(format!(
            "{name:?} is a reserved header (credentials, routing or framing), not a tenant source"
        ))
    } else if let Some((field, _)) = identity.iter().find(|(_, h)| h.as_str() == name) {
        Some(format!(
            "{name:?} is headers.{field}, an identity header the filter sets itself: name the \
             client's tenant header differently (e.g. \"x-tenant\")"
        ))
    } else {
        token_source.map(|(p, s)| {
            format!("{name:?} carries tokens (providers[{p}].token_sources[{s}]), not a tenant")
        })
    }
}
