//! The providers section: names, issuers, audiences, tenant binding, token sources, and each
//! provider's key source compiled into what its fetcher runs on (the inline key set loaded, the
//! remote URI split into the callout's target, the discovery document's callout).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{as_u64, in_range, Compiler, RESERVED_HEADERS};
use crate::config::{
    self, limits, syntax, Config, DiscoveryJwks, Jwks, Provider, RemoteJwks, TokenSource,
};
use crate::jwks::keyset::{KeySet, MAX_RSA_BITS, MIN_RSA_BITS};
use crate::jwks::{callout_target, Callout, CompiledJwks, Discovery, FetchPolicy, JwksSource};

impl Compiler {
    /// Checks every provider; returns their key sources, in order.
    pub(super) fn providers(&mut self, config: &Config) -> Vec<CompiledJwks> {
        if config.providers.is_empty() {
            self.err("providers", "at least one provider is required");
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut issuers: BTreeMap<&str, usize> = BTreeMap::new();
        let mut compiled = Vec::with_capacity(config.providers.len());
        for (i, provider) in config.providers.iter().enumerate() {
            let at = format!("providers[{i}]");
            let name = provider.name.as_str();
            if !syntax::is_provider_name(name) {
                self.err(
                    format!("{at}.name"),
                    format!(
                        "{name:?} is not a valid provider name: use 1 to {} of a-z 0-9 _ -",
                        syntax::MAX_PROVIDER_NAME_LEN
                    ),
                );
            } else if let Some(first) = names.insert(name, i) {
                self.err(
                    format!("{at}.name"),
                    format!("duplicate provider name {name:?} (also providers[{first}].name)"),
                );
            }
            if provider.issuer.is_empty() {
                self.err(format!("{at}.issuer"), "must not be empty");
            } else if let Some(first) = issuers.insert(provider.issuer.as_str(), i) {
                self.err(
                    format!("{at}.issuer"),
                    format!(
                        "{:?} is also the issuer of providers[{first}]: a token's `iss` must \
                         name one provider",
                        provider.issuer
                    ),
                );
            }
            if provider.audiences.is_empty() {
                self.err(
                    format!("{at}.audiences"),
                    "at least one audience is required",
                );
            }
            for (k, audience) in provider.audiences.iter().enumerate() {
                self.not_empty(format!("{at}.audiences[{k}]"), audience);
            }
            self.tenant_binding(&at, provider, config);
            self.provider_claims(&at, provider);
            self.token_sources(&at, provider, config);
            self.range(
                format!("{at}.clock_skew_seconds"),
                provider.clock_skew_seconds,
                limits::CLOCK_SKEW_SECONDS,
            );
            if let Some(lifetime) = provider.max_lifetime_seconds {
                self.range(
                    format!("{at}.max_lifetime_seconds"),
                    lifetime,
                    limits::MAX_LIFETIME_SECONDS,
                );
            }
            compiled.extend(self.jwks(&format!("{at}.jwks"), &provider.jwks, &provider.issuer));
        }
        self.issuer_overlaps(config);
        compiled
    }

    fn tenant_binding(&mut self, at: &str, provider: &Provider, config: &Config) {
        if let Some(tenant) = &provider.tenant {
            if !config.tenants.contains_key(tenant) {
                self.err(
                    format!("{at}.tenant"),
                    format!("{tenant:?} is not a configured tenant (add it under `tenants`)"),
                );
            }
            if provider.tenant_claim.is_some() {
                self.err(
                    format!("{at}.tenant_claim"),
                    "is not allowed together with `tenant`: a provider bound to one tenant \
                     reads no tenant claim",
                );
            }
        }
        if let Some(claim) = &provider.tenant_claim {
            self.not_empty(format!("{at}.tenant_claim"), claim);
        }
    }

    fn token_sources(&mut self, at: &str, provider: &Provider, config: &Config) {
        if provider.token_sources.is_empty() {
            self.err(
                format!("{at}.token_sources"),
                "at least one token source is required",
            );
        }
        let identity = [
            ("headers.tenant", &config.headers.tenant),
            ("headers.user", &config.headers.user),
            ("headers.roles", &config.headers.roles),
        ];
        for (k, source) in provider.token_sources.iter().enumerate() {
            let path = format!("{at}.token_sources[{k}]");
            if let Some(first) = provider
                .token_sources
                .iter()
                .take(k)
                .position(|s| s == source)
            {
                self.err(
                    path.clone(),
                    format!("duplicate token source (also {at}.token_sources[{first}])"),
                );
            }
            match source {
                TokenSource::Bearer => {}
                TokenSource::Header { name } => {
                    let lower = name.to_ascii_lowercase();
                    let message = if !syntax::is_token(name) {
                        Some(format!("{name:?} is not a valid HTTP header name"))
                    } else if lower == "authorization" {
                        Some("use {\"type\": \"bearer\"} for the Authorization header".into())
                    } else if lower == "cookie" {
                        Some("use {\"type\": \"cookie\", \"name\": ...} to read a cookie".into())
                    } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                        Some(format!(
                            "{name:?} is a reserved header and cannot carry a token"
                        ))
                    } else {
                        identity
                            .iter()
                            .find(|(_, id)| crate::policy::headers::same_after_folding(id, name))
                            .map(|(field, _)| {
                                format!(
                                    "{name:?} is the identity header {field}, which the filter \
                                     strips from every request"
                                )
                            })
                    };
                    if let Some(message) = message {
                        self.err(format!("{path}.name"), message);
                    }
                }
                TokenSource::Cookie { name } => {
                    if !syntax::is_token(name) {
                        self.err(
                            format!("{path}.name"),
                            format!("{name:?} is not a valid cookie name (an RFC 6265 token)"),
                        );
                    }
                }
            }
        }
    }

    /// Checks the key source of the provider with this `issuer` and compiles it; `None` when it
    /// has a problem (each one recorded).
    pub(super) fn jwks(&mut self, at: &str, jwks: &Jwks, issuer: &str) -> Option<CompiledJwks> {
        let mark = self.mark();
        let given = [
            jwks.remote.is_some(),
            jwks.inline.is_some(),
            jwks.discovery.is_some(),
        ];
        match given.iter().filter(|&&g| g).count() {
            0 => self.err(
                at,
                "exactly one of `remote`, `inline` and `discovery` is required",
            ),
            1 => {}
            _ => self.err(
                at,
                "`remote`, `inline` and `discovery` are mutually exclusive: configure one of them",
            ),
        }
        let remote = jwks.remote.as_ref().and_then(|r| self.remote(at, r));
        let inline = jwks
            .inline
            .as_ref()
            .and_then(|doc| self.inline_keys(&format!("{at}.inline"), doc));
        let discovery = jwks
            .discovery
            .as_ref()
            .and_then(|d| self.discovery(&format!("{at}.discovery"), d, issuer));
        self.fetch_limits(at, jwks);
        let source = match (remote, inline, discovery) {
            (Some(callout), None, None) => JwksSource::Remote(callout),
            (None, Some(keys), None) => JwksSource::Inline(keys),
            (None, None, Some(discovery)) => JwksSource::Discovery(discovery),
            // None or several: an error is recorded above.
            _ => return None,
        };
        self.clean_since(mark).then(|| CompiledJwks {
            policy: FetchPolicy::from_config(jwks),
            source,
        })
    }

    /// The refresh clamp, response size, refetch rate and backoff of a key source.
    fn fetch_limits(&mut self, at: &str, jwks: &Jwks) {
        let (min, default, max) = (
            jwks.refresh_min_seconds,
            jwks.refresh_default_seconds,
            jwks.refresh_max_seconds,
        );
        self.range(
            format!("{at}.refresh_min_seconds"),
            min,
            limits::REFRESH_SECONDS,
        );
        self.range(
            format!("{at}.refresh_max_seconds"),
            max,
            limits::REFRESH_SECONDS,
        );
        let bounds_ok =
            in_range(min, limits::REFRESH_SECONDS) && in_range(max, limits::REFRESH_SECONDS);
        if bounds_ok && min > max {
            self.err(
                format!("{at}.refresh_min_seconds"),
                format!("must not exceed refresh_max_seconds ({max}) (got {min})"),
            );
        } else if bounds_ok && !(min..=max).contains(&default) {
            self.err(
                format!("{at}.refresh_default_seconds"),
                format!(
                    "must be between refresh_min_seconds ({min}) and refresh_max_seconds ({max}) \
                     (got {default}){}",
                    if default == config::default_refresh_seconds() {
                        "; that is its default, so set it too when lowering refresh_max_seconds"
                    } else {
                        ""
                    }
                ),
            );
        }
        self.range(
            format!("{at}.max_response_bytes"),
            as_u64(jwks.max_response_bytes),
            limits::JWKS_RESPONSE_BYTES,
        );
        self.range(
            format!("{at}.unknown_kid_refetch_seconds"),
            jwks.unknown_kid_refetch_seconds,
            limits::UNKNOWN_KID_REFETCH_SECONDS,
        );
        let (initial, backoff_max) = (jwks.backoff_initial_ms, jwks.backoff_max_ms);
        self.range(
            format!("{at}.backoff_initial_ms"),
            initial,
            limits::BACKOFF_MS,
        );
        self.range(
            format!("{at}.backoff_max_ms"),
            backoff_max,
            limits::BACKOFF_MS,
        );
        if in_range(initial, limits::BACKOFF_MS)
            && in_range(backoff_max, limits::BACKOFF_MS)
            && initial > backoff_max
        {
            self.err(
                format!("{at}.backoff_initial_ms"),
                format!("must not exceed backoff_max_ms ({backoff_max}) (got {initial})"),
            );
        }
    }

    /// The callout that fetches a remote key set.
    fn remote(&mut self, at: &str, remote: &RemoteJwks) -> Option<Callout> {
        let mark = self.mark();
        if remote.cluster.is_empty() {
            self.err(
                format!("{at}.remote.cluster"),
                "must not be empty: name the Envoy cluster that reaches the JWKS host",
            );
        }
        let target = match jwks_uri_target(&remote.uri) {
            Ok(target) => Some(target),
            Err(why) => {
                self.err(format!("{at}.remote.uri"), why);
                None
            }
        };
        self.range(
            format!("{at}.remote.timeout_ms"),
            remote.timeout_ms,
            limits::FETCH_TIMEOUT_MS,
        );
        let (authority, path) = target?;
        self.clean_since(mark).then(|| Callout {
            cluster: remote.cluster.clone(),
            authority,
            path,
            timeout: Duration::from_millis(remote.timeout_ms),
        })
    }

    /// The discovery of `issuer`'s key set: the issuer must be a plain `http(s)` URL.
    fn discovery(&mut self, at: &str, d: &DiscoveryJwks, issuer: &str) -> Option<Discovery> {
        let mark = self.mark();
        if d.cluster.is_empty() {
            self.err(
                format!("{at}.cluster"),
                "must not be empty: name the Envoy cluster that reaches the issuer's host",
            );
        }
        self.range(
            format!("{at}.timeout_ms"),
            d.timeout_ms,
            limits::FETCH_TIMEOUT_MS,
        );
        let discovery =
            match Discovery::new(issuer, &d.cluster, Duration::from_millis(d.timeout_ms)) {
                Ok(discovery) => Some(discovery),
                Err(why) => {
                    self.err(at, why.to_string());
                    None
                }
            };
        discovery.filter(|_| self.clean_since(mark))
    }

    /// An inline key set is loaded exactly as the filter loads it, so a set the filter would
    /// refuse at `on_configure` (no RSA key usable for RS256) is refused here, at its path.
    fn inline_keys(&mut self, at: &str, inline: &serde_json::Value) -> Option<KeySet> {
        let Some(doc) = inline.as_object() else {
            self.err(at, "must be a JWKS object: {\"keys\": [...]}");
            return None;
        };
        match doc.get("keys").and_then(serde_json::Value::as_array) {
            None => self.err(format!("{at}.keys"), "must be an array of JWKs"),
            Some(keys) if keys.is_empty() => self.err(
                format!("{at}.keys"),
                format!(
                    "must hold at least one RSA public key usable for RS256 (kty \"RSA\", \
                     {MIN_RSA_BITS} to {MAX_RSA_BITS} bits): a provider without keys verifies \
                     nothing"
                ),
            ),
            Some(_) => match KeySet::from_value(inline) {
                Ok(keys) => return Some(keys),
                Err(why) => self.err(format!("{at}.keys"), why.to_string()),
            },
        }
        None
    }
}

/// `http(s)://authority/path` split into the callout's `:authority` and `:path`; the path must be
/// given (a JWKS is never the root document of a host by accident).
pub(super) fn jwks_uri_target(uri: &str) -> Result<(String, String), String> {
    let target = callout_target(uri).map_err(|e| e.to_string())?;
    let after_scheme = uri.split_once("://").map_or("", |(_, rest)| rest);
    let has_path = after_scheme
        .find(['/', '?'])
        .and_then(|at| after_scheme.get(at..))
        .is_some_and(|rest| rest.starts_with('/'));
    if !has_path {
        return Err(format!(
            "must include the path of the key set, e.g. \
             https://idp.example.com/.well-known/jwks.json (got {uri:?})"
        ));
    }
    Ok(target)
}
