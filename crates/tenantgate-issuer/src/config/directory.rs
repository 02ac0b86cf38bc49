//! `[directory]`: whether `GET /v1/directory` serves the signed tenant directory, and what the
//! filters that read it accept, so that a tenant entry they would refuse is refused on write
//! (one bad entry makes a filter refuse the whole document).

use serde::Deserialize;

use super::sections::{inv, ParseError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirectory {
    enabled: Option<bool>,
    idp_clusters: Option<Vec<String>>,
    tenant_value_providers: Option<Vec<String>>,
}

/// The directory settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySettings {
    /// Serve `GET /v1/directory` (default true). The document names tenant ids and hosts (and
    /// tenants' IdP issuers) but holds no secret.
    pub enabled: bool,
    /// The filters' `directory.idp_clusters`: when given, a tenant IdP must use one of them.
    pub idp_clusters: Option<Vec<String>>,
    /// The filters' providers that carry a `tenant_map`: when given, `tenant_values` may only
    /// name these.
    pub tenant_value_providers: Option<Vec<String>>,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            enabled: true,
            idp_clusters: None,
            tenant_value_providers: None,
        }
    }
}

pub(super) fn directory(raw: RawDirectory) -> Result<DirectorySettings, ParseError> {
    if let Some(clusters) = &raw.idp_clusters {
        if clusters.iter().any(String::is_empty) {
            return Err(inv(
                "directory.idp_clusters",
                "cluster names must not be empty",
            ));
        }
    }
    if let Some(providers) = &raw.tenant_value_providers {
        if let Some(bad) = providers
            .iter()
            .find(|p| !tenantgate_core::config::syntax::is_provider_name(p))
        {
            return Err(inv(
                "directory.tenant_value_providers",
                format!("{bad:?} is not a provider name (1-64 of a-z 0-9 _ -)"),
            ));
        }
    }
    Ok(DirectorySettings {
        enabled: raw.enabled.unwrap_or(true),
        idp_clusters: raw.idp_clusters,
        tenant_value_providers: raw.tenant_value_providers,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    const MINIMAL: &str = "issuer = \"https://auth.example.com/\"\naudience = \"api\"\n\
                           [database]\nsqlite = \"issuer.db\"\n[keys]\ndir = \"keys\"\n";

    fn parse(section: &str) -> Result<DirectorySettings, String> {
        let text = format!("{MINIMAL}{section}");
        match Config::parse(&text, Path::new("/etc/tg")) {
            Ok(config) => Ok(config.directory),
            Err(ParseError::Toml(m)) => Err(m),
            Err(ParseError::Invalid(k, m)) => Err(format!("{k}: {m}")),
        }
    }

    #[test]
    fn served_by_default_and_switchable() {
        assert_eq!(parse(""), Ok(DirectorySettings::default()));
        assert!(
            !parse("[directory]\nenabled = false")
                .expect("valid")
                .enabled
        );
        let s =
            parse("[directory]\nidp_clusters = [\"egress\"]\ntenant_value_providers = [\"entra\"]")
                .expect("valid");
        assert_eq!(s.idp_clusters, Some(vec!["egress".to_string()]));
        assert_eq!(s.tenant_value_providers, Some(vec!["entra".to_string()]));
    }

    #[test]
    fn each_mistake_names_its_key() {
        for (section, needle) in [
            (
                "[directory]\nidp_clusters = [\"\"]",
                "directory.idp_clusters",
            ),
            (
                "[directory]\ntenant_value_providers = [\"Entra\"]",
                "directory.tenant_value_providers",
            ),
            ("[directory]\nenable = true", "enable"),
        ] {
            let error = parse(section).expect_err(section);
            assert!(error.contains(needle), "{section}: {error}");
        }
    }
}
