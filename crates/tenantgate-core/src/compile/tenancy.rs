//! The tenancy section: tenant ids, the hosts they own and host templates, compiled into the
//! host table. A host has one owner; every way two tenants could share one is refused here.

use std::collections::BTreeMap;

use super::Compiler;
use crate::config::{syntax, syntax::HostTemplate, Config};
use crate::policy::HostTable;

impl Compiler {
    /// Checks tenants and host templates; returns the host table they make.
    pub(super) fn tenancy(&mut self, config: &Config) -> HostTable {
        let owners = self.tenant_hosts(config);
        let templates = self.host_templates(config);
        // An explicit host that a template gives another tenant has two owners.
        for (host, (owner, path)) in &owners {
            for (k, template) in &templates {
                let Some(tenant) = template.tenant_of(host) else {
                    continue;
                };
                let listed = config.tenants.contains_key(tenant);
                if tenant != *owner && (listed || config.allow_unlisted_tenants) {
                    self.err(
                        path.clone(),
                        format!(
                            "host {host:?} is also the host of tenant {tenant:?} through \
                             host_templates[{k}]: a host has one owner"
                        ),
                    );
                }
            }
        }
        // Two templates may give one host to two listed tenants.
        let mut instances: BTreeMap<String, (&str, usize)> = BTreeMap::new();
        for id in config.tenants.keys().filter(|id| syntax::is_tenant_id(id)) {
            for (k, template) in &templates {
                let host = template.host_for(id);
                match instances.get(&host) {
                    Some((other, first)) if *other != id.as_str() => {
                        let message = format!(
                            "gives host {host:?} to tenant {id:?}, but host_templates[{first}] \
                             gives it to tenant {other:?}: a host has one owner"
                        );
                        self.err(format!("host_templates[{k}]"), message);
                    }
                    _ => {
                        instances.insert(host, (id.as_str(), *k));
                    }
                }
            }
        }

        let no_shared_host = config.shared_hosts.is_empty();
        if config.allow_unlisted_tenants && config.host_templates.is_empty() && no_shared_host {
            self.err(
                "allow_unlisted_tenants",
                "has no effect without host_templates or shared_hosts: unlisted tenants are only \
                 reachable through a host template or a shared host",
            );
        }
        let any_host = config.tenants.values().any(|t| !t.hosts.is_empty());
        if !any_host && config.host_templates.is_empty() && no_shared_host {
            self.err(
                "tenants",
                "no tenant owns a host, so every request would be refused: list hosts under \
                 tenants, or add host_templates or shared_hosts",
            );
        }
        let explicit = owners
            .into_iter()
            .map(|(host, (owner, _))| (host, owner.to_owned()))
            .collect();
        let templates = templates.into_iter().map(|(_, t)| t).collect();
        let tenants = config.tenants.keys().cloned().collect();
        HostTable::new(explicit, templates, tenants, config.allow_unlisted_tenants)
    }

    /// Tenant ids and their explicit hosts: normalized host → (owning tenant, field path).
    fn tenant_hosts<'c>(&mut self, config: &'c Config) -> BTreeMap<String, (&'c str, String)> {
        // Normalized host → (owning tenant, field path), for explicit hosts.
        let mut owners: BTreeMap<String, (&str, String)> = BTreeMap::new();
        for (id, tenant) in &config.tenants {
            let at = format!("tenants.{id}");
            if !syntax::is_tenant_id(id) {
                self.err(
                    at.clone(),
                    format!(
                        "{id:?} is not a valid tenant id: use [a-z0-9][a-z0-9_-]*, at most {} \
                         characters",
                        syntax::MAX_TENANT_ID_LEN
                    ),
                );
            }
            for (h, host) in tenant.hosts.iter().enumerate() {
                let path = format!("{at}.hosts[{h}]");
                let host = match syntax::dns_name(host) {
                    Ok(host) => host,
                    Err(why) => {
                        self.err(path, why);
                        continue;
                    }
                };
                match owners.get(&host) {
                    Some((owner, first)) if *owner == id.as_str() => {
                        let message = format!("duplicate host {host:?} (also {first})");
                        self.err(path, message);
                    }
                    Some((owner, first)) => {
                        let message =
                            format!("host {host:?} is already owned by tenant {owner:?} ({first})");
                        self.err(path, message);
                    }
                    None => {
                        owners.insert(host, (id.as_str(), path));
                    }
                }
            }
        }
        owners
    }

    /// Host templates, parsed, with their index in `host_templates`.
    fn host_templates(&mut self, config: &Config) -> Vec<(usize, HostTemplate)> {
        let mut templates: Vec<(usize, HostTemplate)> = Vec::new();
        for (k, raw) in config.host_templates.iter().enumerate() {
            let path = format!("host_templates[{k}]");
            let template = match HostTemplate::parse(raw) {
                Ok(template) => template,
                Err(why) => {
                    self.err(path, why);
                    continue;
                }
            };
            if let Some((first, _)) = templates.iter().find(|(_, t)| *t == template) {
                self.err(path, format!("duplicate of host_templates[{first}]"));
                continue;
            }
            if config.allow_unlisted_tenants {
                if let Some((first, example)) = templates
                    .iter()
                    .find_map(|(j, t)| overlap(t, &template).map(|host| (*j, host)))
                {
                    self.err(
                        path.clone(),
                        format!(
                            "overlaps host_templates[{first}]: with allow_unlisted_tenants, a \
                             host such as {example:?} would belong to two tenants"
                        ),
                    );
                }
            }
            templates.push((k, template));
        }
        templates
    }
}

/// When two templates can produce the same host (same label count, and each position fixed to
/// the same label or free in one of them), an example of such a host.
fn overlap(a: &HostTemplate, b: &HostTemplate) -> Option<String> {
    let (la, lb) = (a.labels(), b.labels());
    if la.len() != lb.len() {
        return None;
    }
    let mut labels = Vec::with_capacity(la.len());
    for (x, y) in la.iter().zip(lb.iter()) {
        match (x, y) {
            (Some(x), Some(y)) if x != y => return None,
            (Some(x), _) => labels.push(*x),
            (None, Some(y)) => labels.push(*y),
            (None, None) => labels.push("t"),
        }
    }
    // Only a free label holding a valid tenant id makes the host reachable.
    let host = labels.join(".");
    (a.tenant_of(&host).is_some() && b.tenant_of(&host).is_some()).then_some(host)
}
