//! The one step from a parsed configuration to what the gate runs on. Every check serde cannot
//! express (ranges, names, hosts, route patterns, key sets, callout targets) is made while the
//! compiled value it guards is built, so each is made once, and whatever compiles is used as is:
//! nothing downstream checks again or has an error path of its own.
//!
//! Every error is collected rather than stopping at the first, so one `tenantgate check` run
//! shows them all. They come in the order of the fields of [`Config`], then of the list or map
//! entries, each with its JSON path.
//!
//! Dependencies run one way: this module reads [`crate::config`] and builds [`crate::policy`]
//! and [`crate::jwks`] values; [`crate::gate`] calls it.

mod audit;
mod claims;
mod context;
mod directory;
mod headers;
mod operators;
mod providers;
mod requirement;
mod routes;
mod tenancy;

use crate::config::{limits, Config, ConfigError, ConfigErrors};
use crate::jwks::CompiledJwks;
use crate::policy::Policy;

pub use directory::CompiledDirectory;

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

/// A configuration compiled: the host and route tables, and each provider's key source.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub policy: Policy,
    /// One per provider, in `Config::providers` order.
    pub jwks: Vec<CompiledJwks>,
    /// The `directory` section, when configured.
    pub directory: Option<CompiledDirectory>,
}

/// Checks a parsed configuration and compiles it; `Err` holds every problem found.
pub fn compile(config: &Config) -> Result<Compiled, ConfigErrors> {
    let mut c = Compiler::default();
    c.realm(&config.realm);
    c.range(
        "max_token_bytes",
        as_u64(config.max_token_bytes),
        limits::MAX_TOKEN_BYTES,
    );
    let jwks = c.providers(config);
    let hosts = c.tenancy(config);
    let shared = c.shared_hosts(config, &hosts);
    c.permission_sources(config);
    let routes = c.routes(&config.routes);
    let context = c.context(config, shared);
    c.requirement("default_requirement", &config.default_requirement);
    c.headers(config);
    c.claim_headers(config);
    c.would_deny_header(config);
    c.operators(config);
    let directory = c.directory(config);
    c.range("jwks_wait_ms", config.jwks_wait_ms, limits::JWKS_WAIT_MS);
    c.range(
        "retry_after_seconds",
        config.retry_after_seconds,
        limits::RETRY_AFTER_SECONDS,
    );
    let cache = &config.cache;
    c.range(
        "cache.max_entries",
        as_u64(cache.max_entries),
        limits::CACHE_ENTRIES,
    );
    c.range(
        "cache.max_bytes",
        as_u64(cache.max_bytes),
        limits::CACHE_BYTES,
    );
    c.range(
        "cache.negative_max_entries",
        as_u64(cache.negative_max_entries),
        limits::CACHE_ENTRIES,
    );
    if c.errors.is_empty() {
        Ok(Compiled {
            policy: Policy::new(hosts, routes).with_context(context),
            jwks,
            directory,
        })
    } else {
        Err(ConfigErrors { errors: c.errors })
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn in_range(value: u64, (min, max): (u64, u64)) -> bool {
    (min..=max).contains(&value)
}

/// The errors found so far; each section appends to them and returns what it compiled (which
/// is only used when, in the end, there are none).
#[derive(Default)]
struct Compiler {
    errors: Vec<ConfigError>,
    /// Whether any token could hold a permission (a provider's `permissions_claim`, or
    /// `role_permissions`): a `permissions` rule is refused otherwise.
    permissions_possible: bool,
}

impl Compiler {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// A mark to tell, with [`Self::clean_since`], whether a part found any problem.
    fn mark(&self) -> usize {
        self.errors.len()
    }

    fn clean_since(&self, mark: usize) -> bool {
        self.errors.len() == mark
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

    fn headers(&mut self, config: &Config) {
        let headers = &config.headers;
        let fields = [
            ("tenant", &headers.tenant),
            ("user", &headers.user),
            ("roles", &headers.roles),
        ];
        for (i, (field, name)) in fields.iter().enumerate() {
            let path = format!("headers.{field}");
            let message = headers::forwarded_name_problem(name).or_else(|| {
                fields
                    .iter()
                    .take(i)
                    .find(|(_, other)| crate::policy::headers::same_after_folding(other, name))
                    .map(|(other, _)| {
                        format!(
                            "{name:?} is also headers.{other}: each identity header needs its \
                             own name"
                        )
                    })
            });
            if let Some(message) = message {
                self.err(path, message);
            }
        }
    }
}

/// One provider's key source compiled on its own, for tests of what consumes it.
#[cfg(test)]
pub(crate) fn jwks_for_tests(jwks: &crate::config::Jwks) -> CompiledJwks {
    let mut c = Compiler::default();
    let compiled = c.jwks("jwks", jwks, "https://idp.example.com");
    match compiled {
        Some(compiled) if c.errors.is_empty() => compiled,
        _ => panic!("invalid jwks: {:?}", c.errors),
    }
}

/// The host table of a configuration's tenancy section alone, for the table's own tests.
#[cfg(test)]
pub(crate) fn host_table_for_tests(config: &Config) -> crate::policy::HostTable {
    let mut c = Compiler::default();
    let table = c.tenancy(config);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    table
}

#[cfg(test)]
mod tests;
