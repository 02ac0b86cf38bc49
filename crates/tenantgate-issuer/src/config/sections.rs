//! The sections of the config file: their raw TOML shapes and one checking function each, which
//! applies the defaults and returns the first problem with the key that has it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Config, Connections, Database, KeyTiming, TenantDefaults};
use crate::time::parse_duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    issuer: String,
    audience: RawAudience,
    database: RawDatabase,
    keys: RawKeys,
    #[serde(default)]
    jwks: RawJwks,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    cookie: RawCookie,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    tenant_defaults: RawTenantDefaults,
    #[serde(default)]
    tokens: RawTokens,
    operators: Option<super::operators::RawOperators>,
    #[serde(default)]
    directory: super::directory::RawDirectory,
    #[serde(default)]
    sso: RawSso,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSso {
    public_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawAudience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    sqlite: Option<String>,
    postgres: Option<String>,
    schema: Option<String>,
    pool_size: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    dir: Option<String>,
    encryption_key_file: Option<String>,
    kms: Option<super::custody::RawKms>,
    pkcs11: Option<super::custody::RawPkcs11>,
    rotation_interval: Option<String>,
    publish_lead: Option<String>,
    max_token_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwks {
    max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    token_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCookie {
    name: Option<String>,
    domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    sign_in_per_user_per_minute: Option<u32>,
    sign_in_per_ip_per_minute: Option<u32>,
    sign_in_overall_per_minute: Option<u32>,
    trusted_proxy_hops: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    body_limit: Option<usize>,
    password_hash_memory_mib: Option<u64>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_client: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    /// Emit the catalog permissions of a token's roles as its `permissions` claim.
    #[serde(default)]
    permissions: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantDefaults {
    access_ttl: Option<String>,
    refresh_idle: Option<String>,
    session_absolute: Option<String>,
}

/// Parses the file's text; relative paths resolve against `base`. The sections are checked one
/// after another; the first problem found is reported.
pub(super) fn parse(text: &str, base: &Path) -> Result<Config, ParseError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
    let listen = listen(raw.listen.as_deref())?;
    let issuer = issuer(&raw.issuer)?;
    let audience = audience(raw.audience)?;
    let database = database(raw.database, base)?;
    let keys = super::custody::key_storage(
        super::custody::RawCustody {
            dir: &raw.keys.dir,
            encryption_key_file: &raw.keys.encryption_key_file,
            kms: &raw.keys.kms,
            pkcs11: &raw.keys.pkcs11,
        },
        base,
    )?;
    let timing = key_timing(&raw.keys, &raw.jwks)?;
    let tenant_defaults = tenant_defaults(&raw.tenant_defaults, &timing)?;
    let (cookie_name, cookie_domain) = cookie(raw.cookie)?;
    let body_limit = body_limit(&raw.http)?;
    let limits = rate_limit(&raw.rate_limit)?;
    let operators = super::operators::operators(raw.operators, &timing)?;
    let directory = super::directory::directory(raw.directory)?;
    Ok(Config {
        listen,
        issuer,
        audience,
        database,
        keys,
        timing,
        admin_token_file: raw.admin.token_file.as_deref().map(|p| resolve(base, p)),
        cookie_name,
        cookie_domain,
        public_url: raw.sso.public_url.as_deref().map(public_url).transpose()?,
        sign_in_per_user_per_minute: limits.per_user,
        sign_in_per_ip_per_minute: limits.per_ip,
        sign_in_overall_per_minute: limits.overall,
        trusted_proxy_hops: limits.trusted_proxy_hops,
        body_limit,
        password_hash_memory_kib: password_hash_memory(&raw.http)?,
        connections: connections(&raw.http, limits.trusted_proxy_hops)?,
        audit_path: raw.audit.path.as_deref().map(|p| resolve(base, p)),
        tenant_defaults,
        emit_permissions: raw.tokens.permissions,
        operators,
        directory,
    })
}

pub(super) enum ParseError {
    Toml(String),
    Invalid(&'static str, String),
}

pub(super) fn inv(key: &'static str, message: impl Into<String>) -> ParseError {
    ParseError::Invalid(key, message.into())
}

/// `p` as written when absolute, else relative to the config file's directory.
pub(super) fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// A positive duration (`10m`, `168h`), or `default` when the key is absent.
pub(super) fn duration(
    key: &'static str,
    v: &Option<String>,
    default: i64,
) -> Result<i64, ParseError> {
    match v {
        None => Ok(default),
        Some(s) => match parse_duration(s) {
            Ok(0) => Err(inv(key, "must be more than 0")),
            Ok(n) => Ok(n),
            Err(m) => Err(inv(key, m)),
        },
    }
}

fn listen(text: Option<&str>) -> Result<SocketAddr, ParseError> {
    let text = text.unwrap_or("127.0.0.1:8080");
    text.parse()
        .map_err(|_| inv("listen", format!("{text:?} is not an ip:port address")))
}

/// `[sso] public_url`: an http(s) base URL without query or fragment.
fn public_url(raw: &str) -> Result<String, ParseError> {
    let url = raw.trim_end_matches('/').to_string();
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > 8
        && !url.contains(['?', '#', ' ']);
    if ok {
        Ok(url)
    } else {
        Err(inv(
            "sso.public_url",
            format!("{raw:?} must be the issuer's public base URL, like https://auth.example.com"),
        ))
    }
}

fn issuer(raw: &str) -> Result<String, ParseError> {
    let issuer = raw.trim_end_matches('/').to_string();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) || issuer.len() < 9 {
        return Err(inv(
            "issuer",
            "must be the issuer's base URL, e.g. https://auth.example.com",
        ));
    }
    Ok(issuer)
}

fn audience(raw: RawAudience) -> Result<Vec<String>, ParseError> {
    let audience = match raw {
        RawAudience::One(a) => vec![a],
        RawAudience::Many(list) => list,
    };
    if audience.is_empty() || audience.iter().any(|a| a.is_empty()) {
        return Err(inv(
            "audience",
            "give one or more non-empty audience strings",
        ));
    }
    Ok(audience)
}

/// `[database]`: exactly one of `sqlite` and `postgres`; `schema` and `pool_size` for postgres.
fn database(raw: RawDatabase, base: &Path) -> Result<Database, ParseError> {
    match (raw.sqlite, raw.postgres) {
        (Some(p), None) => {
            if raw.schema.is_some() || raw.pool_size.is_some() {
                return Err(inv(
                    "database",
                    "`schema` and `pool_size` apply to postgres only",
                ));
            }
            Ok(Database::Sqlite {
                path: resolve(base, &p),
            })
        }
        (None, Some(url)) => {
            if let Some(s) = &raw.schema {
                if !is_schema_name(s) {
                    return Err(inv(
                        "database.schema",
                        "lower-case letters, digits and '_' (1-63), not starting with a digit",
                    ));
                }
            }
            let pool_size = raw.pool_size.unwrap_or(4);
            if !(1..=64).contains(&pool_size) {
                return Err(inv("database.pool_size", "must be 1 to 64"));
            }
            Ok(Database::Postgres {
                url,
                schema: raw.schema,
                pool_size,
            })
        }
        _ => Err(inv(
            "database",
            "set exactly one of `sqlite = \"<file>\"` or `postgres = \"postgres://...\"`",
        )),
    }
}

/// A PostgreSQL identifier that needs no quoting.
fn is_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `[keys]` timing and `[jwks] max_age`, which the publish lead must exceed.
fn key_timing(keys: &RawKeys, jwks: &RawJwks) -> Result<KeyTiming, ParseError> {
    let jwks_max_age = duration("jwks.max_age", &jwks.max_age, 300)?;
    let timing = KeyTiming {
        rotation_interval: duration(
            "keys.rotation_interval",
            &keys.rotation_interval,
            168 * 3600,
        )?,
        publish_lead: duration(
            "keys.publish_lead",
            &keys.publish_lead,
            (3 * jwks_max_age).max(900),
        )?,
        max_token_ttl: duration("keys.max_token_ttl", &keys.max_token_ttl, 24 * 3600)?,
        jwks_max_age,
    };
    if timing.publish_lead <= timing.jwks_max_age {
        return Err(inv(
            "keys.publish_lead",
            format!(
                "must be longer than jwks.max_age ({}s) so that every cached JWKS holds a key before it signs",
                timing.jwks_max_age
            ),
        ));
    }
    if timing.rotation_interval <= timing.publish_lead {
        return Err(inv(
            "keys.rotation_interval",
            "must be longer than keys.publish_lead",
        ));
    }
    Ok(timing)
}

/// `[tenant_defaults]`; no access token may outlive `keys.max_token_ttl`.
fn tenant_defaults(
    raw: &RawTenantDefaults,
    timing: &KeyTiming,
) -> Result<TenantDefaults, ParseError> {
    let d = TenantDefaults::default();
    let defaults = TenantDefaults {
        access_ttl: duration("tenant_defaults.access_ttl", &raw.access_ttl, d.access_ttl)?,
        refresh_idle: duration(
            "tenant_defaults.refresh_idle",
            &raw.refresh_idle,
            d.refresh_idle,
        )?,
        session_absolute: duration(
            "tenant_defaults.session_absolute",
            &raw.session_absolute,
            d.session_absolute,
        )?,
    };
    if defaults.access_ttl > timing.max_token_ttl {
        return Err(inv(
            "tenant_defaults.access_ttl",
            "must not exceed keys.max_token_ttl",
        ));
    }
    Ok(defaults)
}

/// `[cookie]`: the refresh cookie's name and optional domain.
fn cookie(raw: RawCookie) -> Result<(String, Option<String>), ParseError> {
    let name = raw.name.unwrap_or_else(|| "tg_refresh".into());
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !name_ok {
        return Err(inv("cookie.name", "1-64 letters, digits, '_' or '-'"));
    }
    if let Some(domain) = &raw.domain {
        if domain.is_empty()
            || !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        {
            return Err(inv("cookie.domain", "must be a host name"));
        }
    }
    Ok((name, raw.domain))
}

fn body_limit(raw: &RawHttp) -> Result<usize, ParseError> {
    let body_limit = raw.body_limit.unwrap_or(16 * 1024);
    if !(1024..=1024 * 1024).contains(&body_limit) {
        return Err(inv("http.body_limit", "must be 1024 to 1048576 bytes"));
    }
    Ok(body_limit)
}

/// Memory for concurrent password hashes, in KiB. Default: two hashes per CPU (hashing is
/// CPU-bound, so more at once only queues them in memory).
fn password_hash_memory(raw: &RawHttp) -> Result<u64, ParseError> {
    let one = crate::password::HASH_MEMORY_KIB;
    let Some(mib) = raw.password_hash_memory_mib else {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Ok(one * 2 * u64::try_from(cpus).unwrap_or(1));
    };
    let kib = mib.saturating_mul(1024);
    if kib < one {
        return Err(inv(
            "http.password_hash_memory_mib",
            "must hold at least one Argon2id hash (19 MiB)",
        ));
    }
    Ok(kib)
}

/// The timeouts and caps of `[http]` that keep one client from starving the others.
fn connections(raw: &RawHttp, trusted_proxy_hops: usize) -> Result<Connections, ParseError> {
    let secs = |v: i64| std::time::Duration::from_secs(u64::try_from(v).unwrap_or(10));
    let max_connections = raw.max_connections.unwrap_or(1024);
    if max_connections == 0 {
        return Err(inv("http.max_connections", "must be at least 1"));
    }
    // Behind a trusted proxy every connection comes from the proxy: no per-address cap then.
    let per_client = match raw.max_connections_per_client {
        Some(0) => {
            return Err(inv(
                "http.max_connections_per_client",
                "must be at least 1 (leave it out to use the default)",
            ))
        }
        Some(n) => n,
        None if trusted_proxy_hops > 0 => max_connections,
        None => 64.min(max_connections),
    };
    Ok(Connections {
        header_timeout: secs(duration("http.header_timeout", &raw.header_timeout, 10)?),
        body_timeout: secs(duration("http.body_timeout", &raw.body_timeout, 10)?),
        max_connections,
        max_connections_per_client: per_client,
    })
}

/// `[rate_limit]` with its defaults applied.
struct RateLimits {
    per_user: u32,
    per_ip: u32,
    overall: u32,
    trusted_proxy_hops: usize,
}

fn rate_limit(raw: &RawRateLimit) -> Result<RateLimits, ParseError> {
    let per_user = raw.sign_in_per_user_per_minute.unwrap_or(10);
    let per_ip = raw.sign_in_per_ip_per_minute.unwrap_or(60);
    let overall = raw.sign_in_overall_per_minute.unwrap_or(3000);
    if per_user == 0 || per_ip == 0 || overall == 0 {
        return Err(inv("rate_limit", "limits must be at least 1 per minute"));
    }
    Ok(RateLimits {
        per_user,
        per_ip,
        overall,
        trusted_proxy_hops: raw.trusted_proxy_hops.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of<T>(r: Result<T, ParseError>) -> Option<&'static str> {
        match r {
            Err(ParseError::Invalid(key, _)) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn each_section_names_its_key() {
        assert_eq!(key_of(listen(Some("localhost"))), Some("listen"));
        assert_eq!(
            key_of(cookie(RawCookie {
                name: Some("a b".into()),
                domain: None
            })),
            Some("cookie.name")
        );
        assert_eq!(
            key_of(cookie(RawCookie {
                name: None,
                domain: Some("x/y".into())
            })),
            Some("cookie.domain")
        );
        assert_eq!(
            key_of(body_limit(&RawHttp {
                body_limit: Some(10),
                ..RawHttp::default()
            })),
            Some("http.body_limit")
        );
        assert_eq!(
            key_of(password_hash_memory(&RawHttp {
                password_hash_memory_mib: Some(18),
                ..RawHttp::default()
            })),
            Some("http.password_hash_memory_mib")
        );
        let no_ip = RawRateLimit {
            sign_in_per_ip_per_minute: Some(0),
            ..RawRateLimit::default()
        };
        assert_eq!(key_of(rate_limit(&no_ip)), Some("rate_limit"));
        let long_access = RawTenantDefaults {
            access_ttl: Some("2h".into()),
            ..RawTenantDefaults::default()
        };
        let timing = KeyTiming {
            rotation_interval: 7200,
            publish_lead: 1800,
            max_token_ttl: 3600,
            jwks_max_age: 300,
        };
        assert_eq!(
            key_of(tenant_defaults(&long_access, &timing)),
            Some("tenant_defaults.access_ttl")
        );
        assert!(is_schema_name("_tg1") && !is_schema_name("1tg") && !is_schema_name(""));
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        assert_eq!(
            resolve(Path::new("/etc/tg"), "keys"),
            PathBuf::from("/etc/tg/keys")
        );
        assert_eq!(
            resolve(Path::new("/etc/tg"), "/var/keys"),
            PathBuf::from("/var/keys")
        );
    }
}
