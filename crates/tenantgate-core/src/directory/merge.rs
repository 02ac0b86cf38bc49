//! Static configuration + directory: entries that collide with the static configuration are
//! dropped (static wins), the rest is added to a copy of the configuration, which goes through
//! the one compile step like any configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::document::Idp;
use super::entries::Checked;
use super::DirectoryError;
use crate::config::{self, syntax::HostTemplate, Config, ConfigError, ConfigErrors, Provider};
use crate::gate::Gate;
use crate::verify::issuer::template_tenant;

/// Why an entry was dropped: what of it the static configuration already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The tenant id is a static tenant.
    StaticTenant,
    /// One of its hosts is a static tenant's (explicitly, or through a host template for its id).
    StaticHost { host: String, owner: String },
    /// One of its hosts is one of `shared_hosts`.
    SharedHost { host: String },
    /// A static host template gives one of its hosts to another tenant.
    TemplateHost {
        host: String,
        template: usize,
        owner: String,
    },
    /// One of its `tenant_values` is already in the provider's static `tenant_map`.
    StaticTenantValue {
        provider: String,
        value: String,
        owner: String,
    },
    /// Its IdP's issuer is (or matches the template of) a static provider's issuer.
    StaticIssuer { issuer: String, provider: String },
    /// The provider name the filter gives its IdP is a static provider's name.
    ProviderName { name: String },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::StaticTenant => f.write_str("the tenant id is a static tenant"),
            Conflict::StaticHost { host, owner } => {
                write!(f, "host {host:?} is a host of static tenant {owner:?}")
            }
            Conflict::SharedHost { host } => write!(f, "host {host:?} is a shared host"),
            Conflict::TemplateHost {
                host,
                template,
                owner,
            } => write!(
                f,
                "host {host:?} is the host of tenant {owner:?} through host_templates[{template}]"
            ),
            Conflict::StaticTenantValue {
                provider,
                value,
                owner,
            } => write!(
                f,
                "value {value:?} is already in the tenant_map of provider {provider:?} (tenant \
                 {owner:?})"
            ),
            Conflict::StaticIssuer { issuer, provider } => write!(
                f,
                "IdP issuer {issuer:?} is the issuer of static provider {provider:?}"
            ),
            Conflict::ProviderName { name } => write!(
                f,
                "its IdP would be provider {name:?}, the name of a static provider"
            ),
        }
    }
}

/// A directory entry left out because it collides with the static configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub tenant: String,
    pub conflict: Conflict,
}

/// The provider name of tenant `id`'s own IdP: `<id>-idp`, or for ids too long for that, a
/// prefix and a hash (provider names have at most 64 characters; ids 63).
pub fn idp_name(id: &str) -> String {
    if id.len() <= 60 {
        return format!("{id}-idp");
    }
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let prefix = id.get(..55).unwrap_or(id);
    format!("{prefix}-{hash:08x}")
}

/// What of the static configuration an entry may collide with, indexed once per document.
struct Statics<'c> {
    config: &'c Config,
    /// Normalized host → its static tenant.
    hosts: BTreeMap<String, &'c str>,
    shared: BTreeSet<String>,
    templates: Vec<HostTemplate>,
    /// Static and directory tenant ids: the tenants a host template can give a host to.
    ids: BTreeSet<&'c str>,
}

impl<'c> Statics<'c> {
    fn new(config: &'c Config, checked: &'c [Checked<'_>]) -> Statics<'c> {
        let normal = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
        let hosts = config
            .tenants
            .iter()
            .flat_map(|(id, t)| t.hosts.iter().map(move |h| (normal(h), id.as_str())))
            .collect();
        Statics {
            config,
            hosts,
            shared: config.shared_hosts.iter().map(|h| normal(h)).collect(),
            // The static configuration compiled, so its templates parse.
            templates: config
                .host_templates
                .iter()
                .filter_map(|t| HostTemplate::parse(t).ok())
                .collect(),
            ids: config
                .tenants
                .keys()
                .map(String::as_str)
                .chain(checked.iter().map(|c| c.id))
                .collect(),
        }
    }

    /// The first way `c` collides with the static configuration, if any.
    fn conflict(&self, c: &Checked<'_>) -> Option<Conflict> {
        if self.config.tenants.contains_key(c.id) {
            return Some(Conflict::StaticTenant);
        }
        self.host_conflict(c)
            .or_else(|| self.value_conflict(c))
            .or_else(|| self.idp_conflict(c))
    }

    fn host_conflict(&self, c: &Checked<'_>) -> Option<Conflict> {
        let static_host = |host: &str| {
            self.hosts.get(host).map(|owner| Conflict::StaticHost {
                host: host.to_owned(),
                owner: (*owner).to_owned(),
            })
        };
        for host in &c.hosts {
            if let Some(conflict) = static_host(host) {
                return Some(conflict);
            }
            if self.shared.contains(host) {
                return Some(Conflict::SharedHost { host: host.clone() });
            }
            for (k, template) in self.templates.iter().enumerate() {
                let Some(owner) = template.tenant_of(host) else {
                    continue;
                };
                let listed = self.ids.contains(owner) || self.config.allow_unlisted_tenants;
                if owner != c.id && listed {
                    return Some(Conflict::TemplateHost {
                        host: host.clone(),
                        template: k,
                        owner: owner.to_owned(),
                    });
                }
            }
        }
        // A template gives the new tenant a host a static tenant lists.
        self.templates
            .iter()
            .find_map(|template| static_host(&template.host_for(c.id)))
    }

    fn value_conflict(&self, c: &Checked<'_>) -> Option<Conflict> {
        for (provider, values) in &c.entry.tenant_values {
            let map = self
                .config
                .providers
                .iter()
                .find(|p| &p.name == provider)
                .and_then(|p| p.tenant_map.as_ref());
            for value in values {
                if let Some(owner) = map.and_then(|m| m.get(value)) {
                    return Some(Conflict::StaticTenantValue {
                        provider: provider.clone(),
                        value: value.clone(),
                        owner: owner.clone(),
                    });
                }
            }
        }
        None
    }

    fn idp_conflict(&self, c: &Checked<'_>) -> Option<Conflict> {
        let idp = c.entry.idp.as_ref()?;
        let providers = &self.config.providers;
        let same_issuer = providers.iter().find(|p| {
            p.issuer == idp.issuer
                || (p.issuer_is_template() && template_tenant(&p.issuer, &idp.issuer).is_some())
        });
        if let Some(p) = same_issuer {
            return Some(Conflict::StaticIssuer {
                issuer: idp.issuer.clone(),
                provider: p.name.clone(),
            });
        }
        let name = idp_name(c.id);
        providers
            .iter()
            .any(|p| p.name == name)
            .then_some(Conflict::ProviderName { name })
    }
}

/// Drops the entries that collide with `config`, merges the others into a copy of it and
/// compiles that. Errors of the compile step are named by directory path where they can be.
pub(super) fn merge(
    config: &Config,
    checked: &[Checked<'_>],
) -> Result<(Gate, Vec<Dropped>, usize), DirectoryError> {
    let statics = Statics::new(config, checked);
    let mut merged = config.clone();
    let mut dropped = Vec::new();
    // Directory IdPs, after the static providers, by tenant id: provider index → tenant.
    let mut idp_tenants: Vec<&str> = Vec::new();
    for c in checked {
        if let Some(conflict) = statics.conflict(c) {
            dropped.push(Dropped {
                tenant: c.id.to_owned(),
                conflict,
            });
            continue;
        }
        let hosts = c.hosts.clone();
        merged
            .tenants
            .insert(c.id.to_owned(), config::Tenant { hosts });
        for (provider, values) in &c.entry.tenant_values {
            let map = merged
                .providers
                .iter_mut()
                .find(|p| &p.name == provider)
                .and_then(|p| p.tenant_map.as_mut());
            if let Some(map) = map {
                for value in values {
                    map.insert(value.clone(), c.id.to_owned());
                }
            }
        }
        if let Some(idp) = &c.entry.idp {
            merged.providers.push(idp_provider(c.id, idp));
            idp_tenants.push(c.id);
        }
    }
    let adopted = checked.len() - dropped.len();
    let statics = config.providers.len();
    let gate = Gate::new(merged)
        .map_err(|errors| DirectoryError::Compile(rename(errors, statics, &idp_tenants)))?;
    Ok((gate, dropped, adopted))
}

/// A static provider bound to tenant `id`, from its directory IdP.
fn idp_provider(id: &str, idp: &Idp) -> Provider {
    Provider {
        name: idp_name(id),
        issuer: idp.issuer.clone(),
        audiences: idp.audiences.clone(),
        tenant: Some(id.to_owned()),
        tenant_claim: None,
        roles_claim: idp
            .roles_claim
            .clone()
            .unwrap_or_else(config::default_roles_claim),
        permissions_claim: idp.permissions_claim.clone(),
        subject_claim: idp.subject_claim.clone(),
        scopes_claim: idp.scopes_claim.clone(),
        audience_claim: idp.audience_claim.clone(),
        tenant_map: None,
        token_sources: config::default_token_sources(),
        clock_skew_seconds: idp
            .clock_skew_seconds
            .unwrap_or_else(config::default_clock_skew_seconds),
        max_lifetime_seconds: idp.max_lifetime_seconds,
        jwks: idp.jwks.clone(),
    }
}

/// `providers[i]` of a directory IdP becomes `tenants.<id>.idp`.
fn rename(errors: ConfigErrors, statics: usize, idp_tenants: &[&str]) -> ConfigErrors {
    let errors = errors
        .errors
        .into_iter()
        .map(|e| {
            let renamed = e.path.strip_prefix("providers[").and_then(|rest| {
                let (index, tail) = rest.split_once(']')?;
                let tenant = idp_tenants.get(index.parse::<usize>().ok()?.checked_sub(statics)?)?;
                Some(format!("tenants.{tenant}.idp{tail}"))
            });
            ConfigError::new(renamed.unwrap_or(e.path), e.message)
        })
        .collect();
    ConfigErrors { errors }
}
