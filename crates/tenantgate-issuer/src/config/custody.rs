//! Key custody (`[keys]`): where private keys are held. Either the issuer holds them (0600 files
//! in `dir`, or sealed in the database with `encryption_key_file`), or they never leave an AWS
//! KMS (`[keys.kms]`) or a PKCS#11 token (`[keys.pkcs11]`) and the issuer only asks it to sign.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::sections::{inv, resolve, ParseError};
use super::KeyStorage;
use crate::validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKms {
    region: Option<String>,
    endpoint: Option<String>,
    message_type: Option<String>,
    deletion_window_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPkcs11 {
    module: Option<String>,
    token_label: Option<String>,
    pin_file: Option<String>,
}

/// How the message to sign is sent to KMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsMessageType {
    /// The SHA-256 digest of the signing input (AWS's `DIGEST`): the token's claims stay here
    /// and there is no size limit.
    Digest,
    /// The signing input itself (`RAW`, at most 4096 bytes), for KMS-compatible servers that
    /// do not implement `DIGEST`.
    Raw,
}

/// `[keys.kms]`: keys created in and used through AWS KMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsSettings {
    /// Else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// Else `AWS_ENDPOINT_URL_KMS`, else `AWS_ENDPOINT_URL`, else the region's public endpoint.
    pub endpoint: Option<String>,
    pub message_type: KmsMessageType,
    /// `PendingWindowInDays` of `ScheduleKeyDeletion` when a key leaves the JWKS (7 to 30).
    pub deletion_window_days: u32,
}

/// `[keys.pkcs11]`: keys generated on and used through a PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Settings {
    /// The token's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label the token was initialised with.
    pub token_label: String,
    /// A 0600 file holding the user PIN.
    pub pin_file: PathBuf,
}

/// The raw `[keys]` custody settings.
pub(super) struct RawCustody<'a> {
    pub dir: &'a Option<String>,
    pub encryption_key_file: &'a Option<String>,
    pub kms: &'a Option<RawKms>,
    pub pkcs11: &'a Option<RawPkcs11>,
}

/// Exactly one custody: `dir`, `encryption_key_file`, `[keys.kms]` or `[keys.pkcs11]`.
pub(super) fn key_storage(raw: RawCustody<'_>, base: &Path) -> Result<KeyStorage, ParseError> {
    match (raw.dir, raw.encryption_key_file, raw.kms, raw.pkcs11) {
        (Some(d), None, None, None) => Ok(KeyStorage::Dir(resolve(base, d))),
        (None, Some(f), None, None) => Ok(KeyStorage::Encrypted {
            key_file: resolve(base, f),
        }),
        (None, None, Some(k), None) => kms(k).map(KeyStorage::Kms),
        (None, None, None, Some(p)) => pkcs11(p, base).map(KeyStorage::Pkcs11),
        _ => Err(inv(
            "keys",
            "set exactly one key custody: `dir` (0600 key files), `encryption_key_file` (keys \
             sealed in the database), `[keys.kms]` (AWS KMS) or `[keys.pkcs11]` (a PKCS#11 token)",
        )),
    }
}

fn kms(raw: &RawKms) -> Result<KmsSettings, ParseError> {
    if let Some(region) = &raw.region {
        let ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(inv(
                "keys.kms.region",
                format!("{region:?} is not an AWS region name, e.g. eu-west-1"),
            ));
        }
    }
    if let Some(endpoint) = &raw.endpoint {
        check_endpoint(endpoint).map_err(|m| inv("keys.kms.endpoint", m))?;
    }
    let message_type = match raw.message_type.as_deref() {
        None | Some("digest") => KmsMessageType::Digest,
        Some("raw") => KmsMessageType::Raw,
        Some(other) => {
            return Err(inv(
                "keys.kms.message_type",
                format!("{other:?}: use \"digest\" (the default) or \"raw\""),
            ))
        }
    };
    let deletion_window_days = raw.deletion_window_days.unwrap_or(30);
    if !(7..=30).contains(&deletion_window_days) {
        return Err(inv(
            "keys.kms.deletion_window_days",
            "must be 7 to 30 (AWS KMS's pending window for ScheduleKeyDeletion)",
        ));
    }
    Ok(KmsSettings {
        region: raw.region.clone(),
        endpoint: raw.endpoint.clone(),
        message_type,
        deletion_window_days,
    })
}

/// An endpoint is `https://host[:port]`, or plain `http://` to a loopback address only (a test
/// server): the requests carry signed credentials and the answers carry signatures.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
        format!("{endpoint:?} is not a URL like https://kms.eu-west-1.amazonaws.com")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{endpoint:?}: give scheme, host and port only, e.g. https://kms.eu-west-1.amazonaws.com"
        ));
    }
    let port = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (_, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{endpoint:?}: unclosed [ in the host"))?;
            (!after.is_empty()).then(|| after.strip_prefix(':').unwrap_or(after))
        }
        None => authority.rsplit_once(':').map(|(_, port)| port),
    };
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(format!("{endpoint:?}: {port:?} is not a port"));
        }
    }
    match scheme {
        "https" => Ok(()),
        "http" if validate::loopback_authority(authority) => Ok(()),
        "http" => Err(format!(
            "{endpoint:?}: plain http only to a loopback address (a test server); use https"
        )),
        _ => Err(format!("{endpoint:?}: the scheme must be https")),
    }
}

fn pkcs11(raw: &RawPkcs11, base: &Path) -> Result<Pkcs11Settings, ParseError> {
    let module = raw.module.as_deref().ok_or_else(|| {
        inv(
            "keys.pkcs11.module",
            "name the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so",
        )
    })?;
    let token_label = raw
        .token_label
        .clone()
        .filter(|l| !l.is_empty() && l.len() <= 32)
        .ok_or_else(|| {
            inv(
                "keys.pkcs11.token_label",
                "name the token by the label it was initialised with (1 to 32 bytes)",
            )
        })?;
    let pin_file = raw.pin_file.as_deref().ok_or_else(|| {
        inv(
            "keys.pkcs11.pin_file",
            "name a file (mode 0600) that holds the token's user PIN",
        )
    })?;
    Ok(Pkcs11Settings {
        module: resolve(base, module),
        token_label,
        pin_file: resolve(base, pin_file),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, KeyStorage};
    use super::*;

    fn parse(keys: &str) -> Result<KeyStorage, String> {
        let text = format!(
            "issuer = \"https://auth.example.com\"\naudience = \"api\"\n[database]\n\
             sqlite = \"db\"\n[keys]\nmax_token_ttl = \"1h\"\n{keys}"
        );
        Config::parse(&text, Path::new("/etc/tg"))
            .map(|c| c.keys)
            .map_err(|e| match e {
                ParseError::Toml(m) => m,
                ParseError::Invalid(k, m) => format!("{k}: {m}"),
            })
    }

    #[test]
    fn kms_settings_and_their_errors() {
        assert_eq!(
            parse("[keys.kms]\nregion = \"eu-west-1\""),
            Ok(KeyStorage::Kms(KmsSettings {
                region: Some("eu-west-1".into()),
                endpoint: None,
                message_type: KmsMessageType::Digest,
                deletion_window_days: 30,
            }))
        );
        let raw = parse("[keys.kms]\nendpoint = \"http://127.0.0.1:4566\"\nmessage_type = \"raw\"");
        assert!(
            matches!(&raw, Ok(KeyStorage::Kms(k)) if k.message_type == KmsMessageType::Raw),
            "{raw:?}"
        );
        let err = |keys: &str| parse(keys).expect_err(keys);
        assert!(err("[keys.kms]\nregion = \"EU West\"").starts_with("keys.kms.region:"));
        assert!(err("[keys.kms]\nendpoint = \"http://kms.example.com\"")
            .starts_with("keys.kms.endpoint:"));
        assert!(err("[keys.kms]\nmessage_type = \"hash\"").starts_with("keys.kms.message_type:"));
        assert!(err("[keys.kms]\ndeletion_window_days = 3")
            .starts_with("keys.kms.deletion_window_days:"));
        assert!(err("[keys.kms]\nregon = \"x\"").contains("regon"));
        assert!(err("dir = \"keys\"\n[keys.kms]").starts_with("keys:"));
    }

    #[test]
    fn pkcs11_settings_and_their_errors() {
        let ok = parse(
            "[keys.pkcs11]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\n\
             token_label = \"tg\"\npin_file = \"pin\"",
        );
        assert_eq!(
            ok,
            Ok(KeyStorage::Pkcs11(Pkcs11Settings {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                token_label: "tg".into(),
                pin_file: "/etc/tg/pin".into(),
            }))
        );
        let err = |keys: &str| parse(keys).expect_err(keys);
        assert!(err("[keys.pkcs11]\ntoken_label = \"tg\"\npin_file = \"p\"")
            .starts_with("keys.pkcs11.module:"));
        assert!(err("[keys.pkcs11]\nmodule = \"m\"\npin_file = \"p\"")
            .starts_with("keys.pkcs11.token_label:"));
        assert!(err("[keys.pkcs11]\nmodule = \"m\"\ntoken_label = \"tg\"")
            .starts_with("keys.pkcs11.pin_file:"));
        assert!(
            err("[keys.pkcs11]\nmodule = \"m\"\ntoken_label = \"\"\npin_file = \"p\"")
                .starts_with("keys.pkcs11.token_label:")
        );
        assert!(
            err("encryption_key_file = \"k\"\n[keys.pkcs11]\nmodule = \"m\"").starts_with("keys:")
        );
    }

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        assert!(check_endpoint("https://kms.eu-west-1.amazonaws.com").is_ok());
        assert!(check_endpoint("https://kms.eu-west-1.amazonaws.com:443/").is_ok());
        assert!(check_endpoint("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint("http://[::1]:5000").is_ok());
        assert!(check_endpoint("http://[::1]").is_ok());
        assert!(check_endpoint("http://[::1").is_err());
        assert!(check_endpoint("http://[2001:db8::1]:80").is_err());
        assert!(check_endpoint("http://localhost:5000").is_ok());
        assert!(check_endpoint("http://kms.example.com").is_err());
        assert!(check_endpoint("http://10.0.0.1:80").is_err());
        assert!(check_endpoint("ftp://127.0.0.1").is_err());
        assert!(check_endpoint("https://h/path").is_err());
        assert!(check_endpoint("https://h:port").is_err());
        assert!(check_endpoint("kms.example.com").is_err());
    }
}
