//! The `serve` configuration file (TOML). Every CLI command reads the same file so that it works
//! on the same database and keys. Durations are written as `10m`, `168h`, ...; relative paths are
//! resolved against the directory of the config file.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::time::parse_duration;

/// Why a config file cannot be used. Each message names the file and the key to fix.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Parse {
        path: PathBuf,
        message: String,
    },
    Invalid {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config {}: {error}", path.display())
            }
            ConfigError::Parse { path, message } => {
                write!(
                    f,
                    "config {} is not valid TOML for the issuer: {message}",
                    path.display()
                )
            }
            ConfigError::Invalid { path, key, message } => {
                write!(f, "config {}: `{key}`: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

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
    trusted_proxy_hops: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    body_limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantDefaults {
    access_ttl: Option<String>,
    refresh_idle: Option<String>,
    session_absolute: Option<String>,
}

/// Where the durable state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: String,
        schema: Option<String>,
        pool_size: usize,
    },
}

/// How private keys are kept at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStorage {
    /// PKCS#8 files, mode 0600, one per key, in this directory (mode 0700).
    Dir(PathBuf),
    /// AES-256-GCM sealed PKCS#8 in the database; the 32-byte key (base64) is in this file.
    Encrypted { key_file: PathBuf },
}

/// Lifetimes a tenant gets when it is created without its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantDefaults {
    pub access_ttl: i64,
    pub refresh_idle: i64,
    pub session_absolute: i64,
}

impl Default for TenantDefaults {
    fn default() -> Self {
        TenantDefaults {
            access_ttl: 600,
            refresh_idle: 3 * 86_400,
            session_absolute: 30 * 86_400,
        }
    }
}

/// Key rotation timing (seconds). See docs/issuer.md "Keys" for why these relations hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTiming {
    /// How often a new key takes over signing.
    pub rotation_interval: i64,
    /// How long a new key is published before it signs; always more than the JWKS max-age.
    pub publish_lead: i64,
    /// No token outlives this; a retired key stays published this long (plus leeway).
    pub max_token_ttl: i64,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age: i64,
}

/// Allowance for clocks of verifiers that run behind the issuer's.
pub const CLOCK_LEEWAY: i64 = 300;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub issuer: String,
    pub audience: Vec<String>,
    pub database: Database,
    pub keys: KeyStorage,
    pub timing: KeyTiming,
    pub admin_token_file: Option<PathBuf>,
    pub cookie_name: String,
    pub cookie_domain: Option<String>,
    pub sign_in_per_user_per_minute: u32,
    pub sign_in_per_ip_per_minute: u32,
    pub trusted_proxy_hops: usize,
    pub body_limit: usize,
    pub audit_path: Option<PathBuf>,
    pub tenant_defaults: TenantDefaults,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| match e {
            ParseError::Toml(message) => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            ParseError::Invalid(key, message) => ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                message,
            },
        })
    }

    fn parse(text: &str, base: &Path) -> Result<Config, ParseError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
        let inv = |key: &'static str, m: String| ParseError::Invalid(key, m);
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let dur =
            |key: &'static str, v: &Option<String>, default: i64| -> Result<i64, ParseError> {
                match v {
                    None => Ok(default),
                    Some(s) => match parse_duration(s) {
                        Ok(0) => Err(inv(key, "must be more than 0".into())),
                        Ok(n) => Ok(n),
                        Err(m) => Err(inv(key, m)),
                    },
                }
            };

        let listen_text = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen_text.parse().map_err(|_| {
            inv(
                "listen",
                format!("{listen_text:?} is not an ip:port address"),
            )
        })?;

        let issuer = raw.issuer.trim_end_matches('/').to_string();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) || issuer.len() < 9 {
            return Err(inv(
                "issuer",
                "must be the issuer's base URL, e.g. https://auth.example.com".into(),
            ));
        }

        let audience = match raw.audience {
            RawAudience::One(a) => vec![a],
            RawAudience::Many(list) => list,
        };
        if audience.is_empty() || audience.iter().any(|a| a.is_empty()) {
            return Err(inv(
                "audience",
                "give one or more non-empty audience strings".into(),
            ));
        }

        let database =
            match (raw.database.sqlite, raw.database.postgres) {
                (Some(p), None) => {
                    if raw.database.schema.is_some() || raw.database.pool_size.is_some() {
                        return Err(inv(
                            "database",
                            "`schema` and `pool_size` apply to postgres only".into(),
                        ));
                    }
                    Database::Sqlite { path: resolve(&p) }
                }
                (None, Some(url)) => {
                    if let Some(s) = &raw.database.schema {
                        let ok = !s.is_empty()
                            && s.len() <= 63
                            && s.bytes()
                                .next()
                                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                            && s.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                        if !ok {
                            return Err(inv(
                            "database.schema",
                            "lower-case letters, digits and '_' (1-63), not starting with a digit"
                                .into(),
                        ));
                        }
                    }
                    let pool_size = raw.database.pool_size.unwrap_or(4);
                    if !(1..=64).contains(&pool_size) {
                        return Err(inv("database.pool_size", "must be 1 to 64".into()));
                    }
                    Database::Postgres {
                        url,
                        schema: raw.database.schema,
                        pool_size,
                    }
                }
                _ => return Err(inv(
                    "database",
                    "set exactly one of `sqlite = \"<file>\"` or `postgres = \"postgres://...\"`"
                        .into(),
                )),
            };

        let keys = match (raw.keys.dir, raw.keys.encryption_key_file) {
            (Some(d), None) => KeyStorage::Dir(resolve(&d)),
            (None, Some(f)) => KeyStorage::Encrypted { key_file: resolve(&f) },
            _ => {
                return Err(inv(
                    "keys",
                    "set exactly one of `dir` (0600 key files) or `encryption_key_file` (keys sealed in the database)".into(),
                ))
            }
        };

        let jwks_max_age = dur("jwks.max_age", &raw.jwks.max_age, 300)?;
        let timing = KeyTiming {
            rotation_interval: dur(
                "keys.rotation_interval",
                &raw.keys.rotation_interval,
                168 * 3600,
            )?,
            publish_lead: dur(
                "keys.publish_lead",
                &raw.keys.publish_lead,
                (3 * jwks_max_age).max(900),
            )?,
            max_token_ttl: dur("keys.max_token_ttl", &raw.keys.max_token_ttl, 24 * 3600)?,
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
                "must be longer than keys.publish_lead".into(),
            ));
        }

        let d = TenantDefaults::default();
        let tenant_defaults = TenantDefaults {
            access_ttl: dur(
                "tenant_defaults.access_ttl",
                &raw.tenant_defaults.access_ttl,
                d.access_ttl,
            )?,
            refresh_idle: dur(
                "tenant_defaults.refresh_idle",
                &raw.tenant_defaults.refresh_idle,
                d.refresh_idle,
            )?,
            session_absolute: dur(
                "tenant_defaults.session_absolute",
                &raw.tenant_defaults.session_absolute,
                d.session_absolute,
            )?,
        };
        if tenant_defaults.access_ttl > timing.max_token_ttl {
            return Err(inv(
                "tenant_defaults.access_ttl",
                "must not exceed keys.max_token_ttl".into(),
            ));
        }

        let cookie_name = raw.cookie.name.unwrap_or_else(|| "tg_refresh".into());
        let cookie_ok = !cookie_name.is_empty()
            && cookie_name.len() <= 64
            && cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !cookie_ok {
            return Err(inv(
                "cookie.name",
                "1-64 letters, digits, '_' or '-'".into(),
            ));
        }
        if let Some(domain) = &raw.cookie.domain {
            if domain.is_empty()
                || !domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
            {
                return Err(inv("cookie.domain", "must be a host name".into()));
            }
        }

        let body_limit = raw.http.body_limit.unwrap_or(16 * 1024);
        if !(1024..=1024 * 1024).contains(&body_limit) {
            return Err(inv(
                "http.body_limit",
                "must be 1024 to 1048576 bytes".into(),
            ));
        }
        let per_user = raw.rate_limit.sign_in_per_user_per_minute.unwrap_or(10);
        let per_ip = raw.rate_limit.sign_in_per_ip_per_minute.unwrap_or(60);
        if per_user == 0 || per_ip == 0 {
            return Err(inv(
                "rate_limit",
                "limits must be at least 1 per minute".into(),
            ));
        }

        Ok(Config {
            listen,
            issuer,
            audience,
            database,
            keys,
            timing,
            admin_token_file: raw.admin.token_file.as_deref().map(resolve),
            cookie_name,
            cookie_domain: raw.cookie.domain,
            sign_in_per_user_per_minute: per_user,
            sign_in_per_ip_per_minute: per_ip,
            trusted_proxy_hops: raw.rate_limit.trusted_proxy_hops.unwrap_or(0),
            body_limit,
            audit_path: raw.audit.path.as_deref().map(resolve),
            tenant_defaults,
        })
    }
}

enum ParseError {
    Toml(String),
    Invalid(&'static str, String),
}

/// Reads a secret file, refusing it when group or others may read it (so a secret is never
/// silently world-readable). Surrounding whitespace is trimmed.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by group or others; run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        issuer = "https://auth.example.com/"
        audience = "api"
        [database]
        sqlite = "issuer.db"
        [keys]
        dir = "keys"
    "#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/tg")).map_err(|e| match e {
            ParseError::Toml(m) => m,
            ParseError::Invalid(k, m) => format!("{k}: {m}"),
        })
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL).expect("valid");
        assert_eq!(c.issuer, "https://auth.example.com");
        assert_eq!(c.audience, vec!["api".to_string()]);
        assert_eq!(
            c.database,
            Database::Sqlite {
                path: "/etc/tg/issuer.db".into()
            }
        );
        assert_eq!(c.keys, KeyStorage::Dir("/etc/tg/keys".into()));
        assert_eq!(c.timing.rotation_interval, 168 * 3600);
        assert_eq!(c.timing.jwks_max_age, 300);
        assert!(c.timing.publish_lead > c.timing.jwks_max_age);
        assert_eq!(c.tenant_defaults.access_ttl, 600);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn refuses_inconsistent_settings() {
        let both = MINIMAL.replace(
            "[keys]\n        dir",
            "[keys]\n        encryption_key_file = \"k\"\n        dir",
        );
        assert!(parse(&both).unwrap_err().starts_with("keys:"));
        let lead = MINIMAL.replace(
            "dir = \"keys\"",
            "dir = \"keys\"\n publish_lead = \"1m\"\n[jwks]\nmax_age = \"5m\"",
        );
        assert!(parse(&lead).unwrap_err().starts_with("keys.publish_lead"));
        let unknown = format!("{MINIMAL}\n[http]\nbody_limits = 5");
        assert!(parse(&unknown).unwrap_err().contains("body_limits"));
        let bad_dur = MINIMAL.replace(
            "dir = \"keys\"",
            "dir = \"keys\"\nrotation_interval = \"weekly\"",
        );
        assert!(parse(&bad_dur)
            .unwrap_err()
            .starts_with("keys.rotation_interval"));
        let no_db = MINIMAL.replace("sqlite = \"issuer.db\"", "");
        assert!(parse(&no_db).unwrap_err().starts_with("database"));
        let bad_iss = MINIMAL.replace("https://auth.example.com/", "auth");
        assert!(parse(&bad_iss).unwrap_err().starts_with("issuer"));
    }

    #[test]
    fn postgres_settings() {
        let pg = MINIMAL.replace(
            "sqlite = \"issuer.db\"",
            "postgres = \"postgres://u@127.0.0.1/db\"\nschema = \"tg\"\npool_size = 2",
        );
        let c = parse(&pg).expect("valid");
        assert_eq!(
            c.database,
            Database::Postgres {
                url: "postgres://u@127.0.0.1/db".into(),
                schema: Some("tg".into()),
                pool_size: 2
            }
        );
        assert!(parse(&pg.replace("\"tg\"", "\"Bad-Name\"")).is_err());
    }
}
