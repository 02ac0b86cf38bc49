//! The `serve` configuration file (TOML). Every CLI command reads the same file so that it works
//! on the same database and keys. Durations are written as `10m`, `168h`, ...; relative paths are
//! resolved against the directory of the config file.

mod custody;
mod directory;
mod operators;
mod sections;

pub use self::custody::{check_endpoint, KmsMessageType, KmsSettings, Pkcs11Settings};
pub use self::directory::DirectorySettings;
pub use self::operators::{OperatorSettings, DEFAULT_OPERATOR_TTL};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use self::sections::ParseError;

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
    /// Keys created in AWS KMS; the issuer only holds their ARNs.
    Kms(KmsSettings),
    /// Keys generated on a PKCS#11 token; the issuer only holds their object ids.
    Pkcs11(Pkcs11Settings),
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

/// How the server treats connections (`[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// Time to receive a request's headers; also how long a kept-alive connection may wait idle
    /// for its next request.
    pub header_timeout: std::time::Duration,
    /// Time to receive a request's body once its headers are in.
    pub body_timeout: std::time::Duration,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Open connections per client address at most; more are closed at once.
    pub max_connections_per_client: usize,
}

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
    /// `[sso] public_url`: the issuer's public base URL, from which the SSO callback URL that
    /// IdP clients register is built; `issuer` when unset.
    pub public_url: Option<String>,
    pub sign_in_per_user_per_minute: u32,
    pub sign_in_per_ip_per_minute: u32,
    /// All sign-in attempts together: bounds the password-hashing work under a spread attack.
    pub sign_in_overall_per_minute: u32,
    pub trusted_proxy_hops: usize,
    pub body_limit: usize,
    /// Memory budget of concurrent password hashes (KiB); sign-ins beyond it get 503.
    pub password_hash_memory_kib: u64,
    pub connections: Connections,
    pub audit_path: Option<PathBuf>,
    pub tenant_defaults: TenantDefaults,
    /// `[tokens] permissions`: access tokens carry the catalog permissions of their roles as a
    /// `permissions` claim. Off by default.
    pub emit_permissions: bool,
    /// `[operators]`: who `elevate` may issue break-glass tokens to. None by default.
    pub operators: Option<OperatorSettings>,
    /// `[directory]`: the signed tenant directory (`GET /v1/directory`).
    pub directory: DirectorySettings,
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

    /// Parses the file's text; relative paths resolve against `base`.
    fn parse(text: &str, base: &Path) -> Result<Config, ParseError> {
        sections::parse(text, base)
    }
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
