//! Semantic validation: everything serde cannot say about a configuration. Collects every error
//! rather than stopping at the first, so one `tenantgate check` run shows them all; they come in
//! the order of the fields of [`Config`], then of the list or map entries.

use std::collections::BTreeMap;

use super::syntax::{self, HostTemplate};
use super::{
    limits, Config, ConfigError, ConfigErrors, Jwks, Provider, Requirement, Route, TokenSource,
};
use crate::jwks::keyset::{KeySet, MAX_RSA_BITS, MIN_RSA_BITS};
use crate::policy::routes::{path_kind, PathMatcher};

/// Headers the filter must never read a token from nor overwrite with an identity: they carry
/// credentials, routing or message framing. Pseudo-headers are not tokens and fail earlier.
const RESERVED_HEADERS: [&str; 14] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "host",
    "connection",
    "content-length",
    "content-type",
    "expect",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks a parsed configuration; `Err` holds every problem found.
pub fn validate(config: &Config) -> Result<(), ConfigErrors> {
    let mut v = Validator::default();
    v.realm(&config.realm);
    v.range(
        "max_token_bytes",
        as_u64(config.max_token_bytes),
        limits::MAX_TOKEN_BYTES,
    );
    v.providers(config);
    v.tenancy(config);
    v.routes(&config.routes);
    v.requirement("default_requirement", &config.default_requirement);
    v.headers(config);
    v.range("jwks_wait_ms", config.jwks_wait_ms, limits::JWKS_WAIT_MS);
    v.range(
        "retry_after_seconds",
        config.retry_after_seconds,
        limits::RETRY_AFTER_SECONDS,
    );
    let cache = &config.cache;
    v.range(
        "cache.max_entries",
        as_u64(cache.max_entries),
        limits::CACHE_ENTRIES,
    );
    v.range(
        "cache.max_bytes",
        as_u64(cache.max_bytes),
        limits::CACHE_BYTES,
    );
    v.range(
        "cache.negative_max_entries",
        as_u64(cache.negative_max_entries),
        limits::CACHE_ENTRIES,
    );
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors { errors: v.errors })
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    fn range(&mut self, path: impl Into<String>, value: u64, (min, max): (u64, u64)) {
        if value < min || value > max {
            self.err(
                path,
                format!("must be between {min} and {max} (got {value})"),
            );
        }
    }

    fn not_empty(&mut self, path: impl Into<String>, value: &str) {
        if value.is_empty() {
            self.err(path, "must not be empty");
        }
    }

    fn realm(&mut self, realm: &str) {
        let printable = realm.bytes().all(|b| (b' '..=b'~').contains(&b));
        if realm.is_empty() || realm.len() > 128 || !printable || realm.contains(['"', '\\']) {
            self.err(
                "realm",
                "must be 1 to 128 printable ASCII characters without '\"' or '\\' (it is quoted \
                 in WWW-Authenticate)",
            );
        }
    }

    fn providers(&mut self, config: &Config) {
        if config.providers.is_empty() {
            self.err("providers", "at least one provider is required");
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut issuers: BTreeMap<&str, usize> = BTreeMap::new();
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
            self.not_empty(format!("{at}.roles_claim"), &provider.roles_claim);
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
            self.jwks(&format!("{at}.jwks"), &provider.jwks);
        }
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
                            .find(|(_, id)| id.eq_ignore_ascii_case(name))
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

    fn jwks(&mut self, at: &str, jwks: &Jwks) {
        match (&jwks.remote, &jwks.inline) {
            (None, None) => self.err(at, "exactly one of `remote` and `inline` is required"),
            (Some(_), Some(_)) => self.err(
                at,
                "`remote` and `inline` are mutually exclusive: configure one of them",
            ),
            _ => {}
        }
        if let Some(remote) = &jwks.remote {
            if remote.cluster.is_empty() {
                self.err(
                    format!("{at}.remote.cluster"),
                    "must not be empty: name the Envoy cluster that reaches the JWKS host",
                );
            }
            if let Err(why) = check_jwks_uri(&remote.uri) {
                self.err(format!("{at}.remote.uri"), why);
            }
            self.range(
                format!("{at}.remote.timeout_ms"),
                remote.timeout_ms,
                limits::FETCH_TIMEOUT_MS,
            );
        }
        if let Some(inline) = &jwks.inline {
            self.inline_keys(&format!("{at}.inline"), inline);
        }
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
                    if default == super::default_refresh_seconds() {
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

    /// An inline key set is loaded exactly as the filter loads it, so a set the filter would
    /// refuse at `on_configure` (no RSA key usable for RS256) is refused here, at its path.
    fn inline_keys(&mut self, at: &str, inline: &serde_json::Value) {
        let Some(doc) = inline.as_object() else {
            self.err(at, "must be a JWKS object: {\"keys\": [...]}");
            return;
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
            Some(_) => {
                if let Err(why) = KeySet::from_value(inline) {
                    self.err(format!("{at}.keys"), why.to_string());
                }
            }
        }
    }

    fn tenancy(&mut self, config: &Config) {
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

        if config.allow_unlisted_tenants && config.host_templates.is_empty() {
            self.err(
                "allow_unlisted_tenants",
                "has no effect without host_templates: unlisted tenants are only reachable \
                 through a host template",
            );
        }
        let any_host = config.tenants.values().any(|t| !t.hosts.is_empty());
        if !any_host && config.host_templates.is_empty() {
            self.err(
                "tenants",
                "no tenant owns a host, so every request would be refused: list hosts under \
                 tenants or add host_templates",
            );
        }
    }

    fn routes(&mut self, routes: &[Route]) {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, route) in routes.iter().enumerate() {
            let at = format!("routes[{i}]");
            if let Some(name) = &route.name {
                if name.is_empty() {
                    self.err(format!("{at}.name"), "must not be empty (omit it instead)");
                } else if let Some(first) = names.insert(name, i) {
                    self.err(
                        format!("{at}.name"),
                        format!("duplicate route name {name:?} (also routes[{first}].name)"),
                    );
                }
            }
            if let Err(why) = PathMatcher::compile(&route.path) {
                self.err(format!("{at}.path.{}", path_kind(&route.path)), why);
            }
            if let Some(methods) = &route.methods {
                if methods.is_empty() {
                    self.err(
                        format!("{at}.methods"),
                        "an empty list matches no request; omit `methods` to match every method",
                    );
                }
                for (m, method) in methods.iter().enumerate() {
                    let path = format!("{at}.methods[{m}]");
                    if !syntax::is_token(method) || method.bytes().any(|b| b.is_ascii_lowercase()) {
                        self.err(
                            path,
                            format!("{method:?} is not an upper-case HTTP method, e.g. \"GET\""),
                        );
                    } else if methods.iter().take(m).any(|x| x == method) {
                        self.err(path, format!("duplicate method {method:?}"));
                    }
                }
            }
            if let Some(hosts) = &route.hosts {
                if hosts.is_empty() {
                    self.err(
                        format!("{at}.hosts"),
                        "an empty list matches no request; omit `hosts` to match every host",
                    );
                }
                for (h, host) in hosts.iter().enumerate() {
                    if let Err(why) = syntax::dns_name(host) {
                        self.err(format!("{at}.hosts[{h}]"), why);
                    }
                }
            }
            self.requirement(&format!("{at}.require"), &route.require);
        }
    }

    fn requirement(&mut self, at: &str, requirement: &Requirement) {
        let Requirement::Roles(roles) = requirement else {
            return;
        };
        if roles.any_of.is_empty() && roles.all_of.is_empty() {
            self.err(
                format!("{at}.roles"),
                "name at least one role in `any_of` or `all_of`",
            );
        }
        for (list, names) in [("any_of", &roles.any_of), ("all_of", &roles.all_of)] {
            for (k, name) in names.iter().enumerate() {
                self.not_empty(format!("{at}.roles.{list}[{k}]"), name);
            }
        }
    }

    fn headers(&mut self, config: &Config) {
        let headers = &config.headers;
        let fields = [
            ("tenant", &headers.tenant),
            ("user", &headers.user),
            ("roles", &headers.roles),
        ];
        for (i, (field, name)) in fields.iter().enumerate() {
            let path = format!("headers.{field}");
            let message = if name.starts_with(':') {
                Some(format!(
                    "{name:?} is a pseudo-header and cannot carry an identity"
                ))
            } else if !syntax::is_token(name) || name.bytes().any(|b| b.is_ascii_uppercase()) {
                Some(format!("{name:?} is not a lower-case HTTP header name"))
            } else if RESERVED_HEADERS.contains(&name.as_str()) {
                Some(format!(
                    "{name:?} is a reserved header: the filter must not strip or overwrite it"
                ))
            } else {
                fields
                    .iter()
                    .take(i)
                    .find(|(_, other)| other == name)
                    .map(|(other, _)| {
                        format!(
                            "{name:?} is also headers.{other}: each identity header needs its \
                             own name"
                        )
                    })
            };
            if let Some(message) = message {
                self.err(path, message);
            }
        }
    }
}

fn in_range(value: u64, (min, max): (u64, u64)) -> bool {
    (min..=max).contains(&value)
}

/// `http(s)://authority/path`: what the callout needs, and a path (a JWKS is never the root
/// document of a host by accident).
fn check_jwks_uri(uri: &str) -> Result<(), String> {
    crate::jwks::fetch::callout_target(uri).map_err(|e| e.to_string())?;
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
    Ok(())
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
