//! The rules a directory entry must follow, checked on write with messages naming the field.
//! They are the filter's own: hosts go through its host syntax, and a tenant IdP is compiled by
//! the filter's configuration compiler as the provider the filter would make of it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use tenantgate_core::config::syntax;

use super::Idp;
use crate::config::Config;

/// Hosts one tenant may own: bounds the document, which every filter fetches.
pub const MAX_HOSTS: usize = 100;
/// Tenant values one tenant may have, all providers together.
pub const MAX_TENANT_VALUES: usize = 100;
/// Longest tenant value (a GUID or an IdP's tenant name is far shorter).
const MAX_VALUE_LEN: usize = 256;

/// Provider members the filter sets itself for a tenant's IdP: refused, with why.
const FIXED_BY_FILTER: &[(&str, &str)] = &[
    ("name", "the filter names a tenant's IdP itself"),
    ("tenant", "the IdP is bound to the tenant whose record holds it"),
    (
        "tenant_claim",
        "an IdP bound to one tenant reads no tenant claim",
    ),
    (
        "tenant_map",
        "an IdP bound to one tenant maps no tenant values (use tenant_values for a shared provider)",
    ),
    (
        "token_sources",
        "the filter takes a tenant IdP's tokens from the bearer header",
    ),
];

/// The hosts, each checked with the filter's host syntax and lower-cased; sorted, no repeats.
pub fn hosts(list: &[String]) -> Result<Vec<String>, String> {
    if list.len() > MAX_HOSTS {
        return Err(format!("hosts: at most {MAX_HOSTS} per tenant"));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in list.iter().enumerate() {
        let host = syntax::dns_name(raw).map_err(|m| format!("hosts[{i}]: {m}"))?;
        if let Some(first) = seen.insert(host.clone(), i) {
            return Err(format!("hosts[{i}]: {host:?} is also hosts[{first}]"));
        }
    }
    Ok(seen.into_keys().collect())
}

/// The tenant values by provider: provider names in the filter's syntax (and among
/// `directory.tenant_value_providers` when configured), values non-empty printable text; sorted,
/// no repeats.
pub fn tenant_values(
    map: &BTreeMap<String, Vec<String>>,
    config: &Config,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let total: usize = map.values().map(Vec::len).sum();
    if total > MAX_TENANT_VALUES {
        return Err(format!(
            "tenant_values: at most {MAX_TENANT_VALUES} values per tenant"
        ));
    }
    let allowed = config.directory.tenant_value_providers.as_deref();
    let mut out = BTreeMap::new();
    for (provider, values) in map {
        let at = format!("tenant_values.{provider}");
        if !syntax::is_provider_name(provider) {
            return Err(format!(
                "tenant_values: {provider:?} is not a provider name (1-64 of a-z 0-9 _ -)"
            ));
        }
        if let Some(allowed) = allowed.filter(|a| !a.contains(provider)) {
            return Err(format!(
                "{at}: not a filter provider with a tenant_map (directory.tenant_value_providers: {})",
                allowed.join(", ")
            ));
        }
        if values.is_empty() {
            return Err(format!(
                "{at}: give at least one value, or leave the provider out"
            ));
        }
        let mut set = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            value_text(&format!("{at}[{i}]"), value)?;
            if !set.insert(value.clone()) {
                return Err(format!("{at}[{i}]: {value:?} is given twice"));
            }
        }
        out.insert(provider.clone(), set.into_iter().collect());
    }
    Ok(out)
}

fn value_text(at: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return Err(format!("{at}: must have 1 to {MAX_VALUE_LEN} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{at}: must not contain control characters"));
    }
    Ok(())
}

/// The IdP of `tenant` from its JSON form: members the filter fixes are refused, the rest must
/// make a provider the filter's compiler accepts, its issuer must not be this issuer's, and its
/// cluster must be one of `directory.idp_clusters` when those are configured.
pub fn idp(tenant: &str, body: &Value, config: &Config) -> Result<Idp, String> {
    let Some(members) = body.as_object() else {
        return Err("idp: must be a JSON object".into());
    };
    for (member, why) in FIXED_BY_FILTER {
        if members.contains_key(*member) {
            return Err(format!(
                "idp.{member}: not allowed in a tenant's IdP: {why}"
            ));
        }
    }
    if body.pointer("/jwks/inline").is_some() {
        return Err(
            "idp.jwks.inline: not allowed: a tenant's IdP names where its keys are fetched \
             (remote or discovery)"
                .into(),
        );
    }
    let idp: Idp = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            "idp".to_string()
        } else {
            format!("idp.{path}")
        };
        format!("{at}: {}", e.into_inner())
    })?;
    issuer(&idp.issuer, config)?;
    cluster(&idp, config)?;
    compiles(tenant, &idp)?;
    Ok(idp)
}

fn issuer(issuer: &str, config: &Config) -> Result<(), String> {
    if issuer.is_empty() {
        return Err("idp.issuer: must not be empty".into());
    }
    if issuer.contains(syntax::TENANT_PLACEHOLDER) {
        return Err(format!(
            "idp.issuer: must be the exact `iss` of the IdP's tokens; {} templates belong to \
             shared providers in the static configuration",
            syntax::TENANT_PLACEHOLDER
        ));
    }
    if issuer.trim_end_matches('/') == config.issuer {
        return Err(format!(
            "idp.issuer: {issuer:?} is this issuer; a tenant's IdP is another one"
        ));
    }
    Ok(())
}

fn cluster(idp: &Idp, config: &Config) -> Result<(), String> {
    let (Some(allowed), Some(cluster)) = (&config.directory.idp_clusters, idp.jwks.cluster())
    else {
        return Ok(());
    };
    if allowed.iter().any(|c| c == cluster) {
        return Ok(());
    }
    let at = if idp.jwks.remote.is_some() {
        "idp.jwks.remote.cluster"
    } else {
        "idp.jwks.discovery.cluster"
    };
    Err(format!(
        "{at}: {cluster:?} is not one of the filters' directory.idp_clusters ({})",
        allowed.join(", ")
    ))
}

/// Compiles the provider a filter would make of this IdP, with the filter's compiler: what it
/// refuses is refused here, at the same member.
fn compiles(tenant: &str, idp: &Idp) -> Result<(), String> {
    let mut provider = serde_json::to_value(idp).map_err(|e| format!("idp: {e}"))?;
    provider["name"] = "idp".into();
    provider["tenant"] = tenant.into();
    // The tenant needs a host for the configuration to be usable; `.invalid` is reserved.
    let probe = json!({
        "providers": [provider],
        "tenants": { tenant: { "hosts": ["directory-probe.invalid"] } }
    });
    let errors = tenantgate_core::config::parse(probe.to_string().as_bytes())
        .and_then(|c| tenantgate_core::compile::compile(&c).map(|_| ()))
        .err();
    let Some(errors) = errors else {
        return Ok(());
    };
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            let path = e.path.replacen("providers[0]", "idp", 1);
            format!("{path}: {}", e.message)
        })
        .collect();
    Err(messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "issuer = \"https://auth.example.com\"\naudience = \"api\"\n[database]\n\
             sqlite = \"x.db\"\n[keys]\ndir = \"k\"\n{extra}"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("issuer.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path).expect("valid config")
    }

    fn okta() -> Value {
        json!({
            "issuer": "https://acme.okta.com/oauth2/default",
            "audiences": ["api://gateway"],
            "jwks": { "discovery": { "cluster": "egress" } }
        })
    }

    #[test]
    fn hosts_are_normalized_and_checked() {
        let list = vec![
            "Portal.Acme.IO".to_string(),
            "acme.example.com.".to_string(),
        ];
        assert_eq!(
            hosts(&list),
            Ok(vec!["acme.example.com".into(), "portal.acme.io".into()])
        );
        for (bad, needle) in [
            (vec!["a.example.com:443".to_string()], "hosts[0]:"),
            (vec!["*.example.com".to_string()], "wildcards"),
            (vec!["a.io".to_string(), "A.io".to_string()], "hosts[1]:"),
            (vec!["-a.io".to_string()], "hosts[0]:"),
        ] {
            let e = hosts(&bad).expect_err("refused");
            assert!(e.contains(needle), "{e}");
        }
        assert!(hosts(&vec!["a.io".to_string(); MAX_HOSTS + 1]).is_err());
    }

    #[test]
    fn tenant_values_are_checked() {
        let c = config("");
        let map = |p: &str, v: &[&str]| {
            BTreeMap::from([(p.to_string(), v.iter().map(|s| s.to_string()).collect())])
        };
        assert_eq!(
            tenant_values(&map("entra", &["b", "a"]), &c),
            Ok(map("entra", &["a", "b"]))
        );
        for (bad, needle) in [
            (map("Entra", &["a"]), "not a provider name"),
            (map("entra", &[]), "tenant_values.entra:"),
            (map("entra", &["a", "a"]), "tenant_values.entra[1]"),
            (map("entra", &[""]), "tenant_values.entra[0]"),
        ] {
            let e = tenant_values(&bad, &c).expect_err("refused");
            assert!(e.contains(needle), "{e}");
        }
        let only = config("[directory]\ntenant_value_providers = [\"entra\"]");
        assert!(tenant_values(&map("entra", &["a"]), &only).is_ok());
        let e = tenant_values(&map("okta", &["a"]), &only).expect_err("refused");
        assert!(e.starts_with("tenant_values.okta:"), "{e}");
    }

    #[test]
    fn a_valid_idp_round_trips() {
        let c = config("");
        let idp = idp("acme", &okta(), &c).expect("valid");
        assert_eq!(serde_json::to_value(&idp).expect("json"), okta());
        let mut remote = okta();
        remote["jwks"] = json!({"remote": {"cluster": "egress", "uri": "https://acme.okta.com/keys", "timeout_ms": 2000}});
        remote["roles_claim"] = json!(["/realm_access/roles", "groups"]);
        remote["max_lifetime_seconds"] = 3600.into();
        assert!(super::idp("acme", &remote, &c).is_ok());
    }

    #[test]
    fn idp_mistakes_name_the_member() {
        let c = config("[directory]\nidp_clusters = [\"egress\"]");
        let with = |pointer: &str, v: Value| {
            let mut body = okta();
            if let Some(slot) = body.pointer_mut(pointer) {
                *slot = v;
            } else {
                let key = pointer.trim_start_matches('/');
                body[key] = v;
            }
            body
        };
        let cases = [
            (with("/tenant_map", json!({"x": "acme"})), "idp.tenant_map:"),
            (with("/name", json!("x")), "idp.name:"),
            (
                with("/jwks", json!({"inline": {"keys": []}})),
                "idp.jwks.inline:",
            ),
            (with("/jwks", json!({})), "idp.jwks"),
            (
                with(
                    "/jwks",
                    json!({"discovery": {"cluster": "egress"}, "remote": {"cluster": "egress", "uri": "https://x/k"}}),
                ),
                "idp.jwks",
            ),
            (
                with("/jwks/discovery/cluster", json!("other")),
                "idp.jwks.discovery.cluster:",
            ),
            (
                with("/issuer", json!("https://{tenant}.okta.com")),
                "idp.issuer:",
            ),
            (
                with("/issuer", json!("https://auth.example.com/")),
                "idp.issuer:",
            ),
            (with("/issuer", json!("not a url")), "idp.jwks.discovery"),
            (with("/audiences", json!([])), "idp.audiences"),
            (
                with("/clock_skew_seconds", json!(100_000)),
                "idp.clock_skew_seconds",
            ),
            (with("/roles_claim", json!([])), "idp.roles_claim"),
            (with("/audiences", json!("api")), "idp.audiences:"),
            (with("/extra", json!(1)), "extra"),
        ];
        for (body, needle) in cases {
            let e = idp("acme", &body, &c).expect_err(&body.to_string());
            assert!(e.contains(needle), "{body}: {e}");
        }
    }
}
