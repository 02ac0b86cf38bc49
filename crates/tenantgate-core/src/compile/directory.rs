//! The `directory` section: the signing provider, the document's callout, its limits and the
//! clusters a directory IdP may use. Compiled into the callout the glue dispatches.

use std::collections::BTreeSet;
use std::time::Duration;

use super::providers::jwks_uri_target;
use super::{as_u64, Compiler};
use crate::config::{limits, Config, Directory};
use crate::jwks::Callout;

/// The `directory` section compiled: the callout, the signer and the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledDirectory {
    /// Index of the signing provider in `Config::providers`.
    pub provider: usize,
    pub callout: Callout,
    pub refresh_ms: u64,
    pub max_bytes: usize,
    pub max_age_seconds: u64,
}

impl Compiler {
    /// Checks `directory`; returns it compiled, or `None` when absent or wrong.
    pub(super) fn directory(&mut self, config: &Config) -> Option<CompiledDirectory> {
        let directory = config.directory.as_ref()?;
        let mark = self.mark();
        let provider = self.directory_provider(config, directory);
        let remote = &directory.remote;
        if remote.cluster.is_empty() {
            self.err(
                "directory.remote.cluster",
                "must not be empty: name the Envoy cluster that reaches the directory's host",
            );
        }
        let target = match jwks_uri_target(&remote.uri) {
            Ok(target) => Some(target),
            Err(why) => {
                self.err("directory.remote.uri", why.replace("key set", "directory"));
                None
            }
        };
        self.range(
            "directory.remote.timeout_ms",
            remote.timeout_ms,
            limits::FETCH_TIMEOUT_MS,
        );
        self.range(
            "directory.refresh_seconds",
            directory.refresh_seconds,
            limits::DIRECTORY_REFRESH_SECONDS,
        );
        self.range(
            "directory.max_bytes",
            as_u64(directory.max_bytes),
            limits::DIRECTORY_BYTES,
        );
        self.range(
            "directory.max_age_seconds",
            directory.max_age_seconds,
            limits::DIRECTORY_MAX_AGE_SECONDS,
        );
        let mut seen = BTreeSet::new();
        for (k, cluster) in directory.idp_clusters.iter().enumerate() {
            let at = format!("directory.idp_clusters[{k}]");
            if cluster.is_empty() {
                self.err(at, "must not be empty: name an Envoy cluster");
            } else if !seen.insert(cluster.as_str()) {
                self.err(at, format!("duplicate cluster {cluster:?}"));
            }
        }
        let (authority, path) = target?;
        let provider = provider?;
        self.clean_since(mark).then(|| CompiledDirectory {
            provider,
            callout: Callout {
                cluster: remote.cluster.clone(),
                authority,
                path,
                timeout: Duration::from_millis(remote.timeout_ms),
            },
            refresh_ms: directory.refresh_seconds.saturating_mul(1000),
            max_bytes: directory.max_bytes,
            max_age_seconds: directory.max_age_seconds,
        })
    }

    /// The signing provider: configured, with an exact issuer (the document's `iss`).
    fn directory_provider(&mut self, config: &Config, directory: &Directory) -> Option<usize> {
        let name = &directory.provider;
        let Some(index) = config.providers.iter().position(|p| &p.name == name) else {
            self.err(
                "directory.provider",
                format!("{name:?} is not the name of a configured provider"),
            );
            return None;
        };
        let provider = config.providers.get(index)?;
        if provider.issuer_is_template() {
            self.err(
                "directory.provider",
                format!(
                    "provider {name:?} has an issuer template: the directory's `iss` must equal \
                     one exact issuer"
                ),
            );
            return None;
        }
        Some(index)
    }
}
