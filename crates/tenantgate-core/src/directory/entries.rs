//! Steps 6 and 7: each entry on its own (tenant id, hosts, the IdP's issuer and cluster, the
//! providers of `tenant_values`), then the document as a whole (a host, a tenant value or an
//! IdP issuer given to two tenants). Any failure refuses the whole document, naming the entry.

use std::collections::BTreeMap;

use super::document::{Entry, Idp};
use super::DirectoryError;
use crate::config::{self, syntax, Config};

/// An entry checked on its own: its hosts normalized.
#[derive(Debug, Clone)]
pub(super) struct Checked<'d> {
    pub id: &'d str,
    pub entry: &'d Entry,
    pub hosts: Vec<String>,
}

/// Step 6, every entry; then step 7 on what they claim together.
pub(super) fn check<'d>(
    tenants: &'d BTreeMap<String, Entry>,
    config: &Config,
    idp_clusters: &[String],
) -> Result<Vec<Checked<'d>>, DirectoryError> {
    let mut checked = Vec::with_capacity(tenants.len());
    for (id, entry) in tenants {
        checked.push(check_entry(id, entry, config, idp_clusters)?);
    }
    consistent(&checked)?;
    Ok(checked)
}

fn entry_error(path: String, message: String) -> DirectoryError {
    DirectoryError::Entry { path, message }
}

fn check_entry<'d>(
    id: &'d str,
    entry: &'d Entry,
    config: &Config,
    idp_clusters: &[String],
) -> Result<Checked<'d>, DirectoryError> {
    let at = format!("tenants.{id}");
    if !syntax::is_tenant_id(id) {
        return Err(entry_error(
            at,
            format!(
                "{id:?} is not a valid tenant id: use [a-z0-9][a-z0-9_-]*, at most {} characters",
                syntax::MAX_TENANT_ID_LEN
            ),
        ));
    }
    let mut hosts: Vec<String> = Vec::with_capacity(entry.hosts.len());
    for (h, host) in entry.hosts.iter().enumerate() {
        let path = format!("{at}.hosts[{h}]");
        let host = syntax::dns_name(host).map_err(|why| entry_error(path.clone(), why))?;
        if hosts.contains(&host) {
            return Err(entry_error(path, format!("duplicate host {host:?}")));
        }
        hosts.push(host);
    }
    for (provider, values) in &entry.tenant_values {
        let path = format!("{at}.tenant_values.{provider}");
        let mapped = config
            .providers
            .iter()
            .find(|p| &p.name == provider)
            .map(|p| p.tenant_map.is_some());
        match mapped {
            None => {
                let message = format!("{provider:?} is not a provider of the filter");
                return Err(entry_error(path, message));
            }
            Some(false) => {
                let message = format!(
                    "provider {provider:?} has no tenant_map, so no token value maps to a tenant"
                );
                return Err(entry_error(path, message));
            }
            Some(true) => {}
        }
        if let Some(k) = values.iter().position(String::is_empty) {
            let message = "must not be empty".to_owned();
            return Err(entry_error(format!("{path}[{k}]"), message));
        }
    }
    if let Some(idp) = &entry.idp {
        check_idp(&format!("{at}.idp"), idp, idp_clusters)?;
    }
    Ok(Checked { id, entry, hosts })
}

/// The IdP's issuer is exact, and its keys come through a cluster the filter allows.
fn check_idp(at: &str, idp: &Idp, idp_clusters: &[String]) -> Result<(), DirectoryError> {
    if idp.issuer.is_empty() {
        return Err(entry_error(
            format!("{at}.issuer"),
            "must not be empty".into(),
        ));
    }
    if idp.issuer.contains(syntax::TENANT_PLACEHOLDER) {
        let message = "must be an exact issuer: a tenant's IdP is bound to it, no {tenant} \
                       template"
            .to_owned();
        return Err(entry_error(format!("{at}.issuer"), message));
    }
    let jwks: &config::Jwks = &idp.jwks;
    if jwks.inline.is_some() {
        let message = "is not allowed in the directory: use `remote` or `discovery`".to_owned();
        return Err(entry_error(format!("{at}.jwks.inline"), message));
    }
    let cluster = match (&jwks.remote, &jwks.discovery) {
        (Some(remote), None) => Some(("remote.cluster", &remote.cluster)),
        (None, Some(discovery)) => Some(("discovery.cluster", &discovery.cluster)),
        _ => None,
    };
    let Some((field, cluster)) = cluster else {
        let message = "exactly one of `remote` and `discovery` is required".to_owned();
        return Err(entry_error(format!("{at}.jwks"), message));
    };
    if !idp_clusters.contains(cluster) {
        let message = format!(
            "cluster {cluster:?} is not in the filter's directory.idp_clusters {idp_clusters:?}"
        );
        return Err(entry_error(format!("{at}.jwks.{field}"), message));
    }
    Ok(())
}

/// Step 7: one owner per host, per (provider, tenant value) and per IdP issuer.
fn consistent(checked: &[Checked<'_>]) -> Result<(), DirectoryError> {
    let inconsistent =
        |path: String, message: String| DirectoryError::Inconsistent { path, message };
    let mut hosts: BTreeMap<&str, &str> = BTreeMap::new();
    let mut values: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let mut issuers: BTreeMap<&str, &str> = BTreeMap::new();
    for c in checked {
        for (h, host) in c.hosts.iter().enumerate() {
            if let Some(other) = hosts.insert(host, c.id) {
                let message = format!("host {host:?} is also a host of tenant {other:?}");
                return Err(inconsistent(
                    format!("tenants.{}.hosts[{h}]", c.id),
                    message,
                ));
            }
        }
        for (provider, list) in &c.entry.tenant_values {
            for (k, value) in list.iter().enumerate() {
                match values.insert((provider, value), c.id) {
                    Some(other) if other != c.id => {
                        let message = format!(
                            "value {value:?} of provider {provider:?} also maps to tenant {other:?}"
                        );
                        let path = format!("tenants.{}.tenant_values.{provider}[{k}]", c.id);
                        return Err(inconsistent(path, message));
                    }
                    Some(_) => {
                        let message = format!("duplicate value {value:?}");
                        let path = format!("tenants.{}.tenant_values.{provider}[{k}]", c.id);
                        return Err(inconsistent(path, message));
                    }
                    None => {}
                }
            }
        }
        if let Some(idp) = &c.entry.idp {
            if let Some(other) = issuers.insert(&idp.issuer, c.id) {
                let message = format!(
                    "issuer {:?} is also the IdP issuer of tenant {other:?}",
                    idp.issuer
                );
                return Err(inconsistent(
                    format!("tenants.{}.idp.issuer", c.id),
                    message,
                ));
            }
        }
    }
    Ok(())
}
