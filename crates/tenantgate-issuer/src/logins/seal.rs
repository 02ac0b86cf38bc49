//! Sealing of secrets at rest (SSO client secrets, TOTP secrets) with the issuer's
//! key-encryption key: the one `keys.encryption_key_file` names and the signing keys are sealed
//! with, loaded by the same [`Vault::open`]. AES-256-GCM, a random 96-bit nonce per secret, and
//! associated data naming what the secret belongs to, so a sealed value copied to another row
//! (another tenant, another user) does not open.

use ring::aead::{self, LessSafeKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::Config;
use crate::keys::Local;
use crate::{b64, b64_decode};

const PREFIX: &str = "v1.";

/// Why a secret cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// No key-encryption key is configured (keys kept as files).
    NoKey,
    /// The key file cannot be read.
    Key(String),
    /// The sealed value is malformed or was sealed with another key or for another owner.
    Open,
    Rng,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealError::NoKey => f.write_str(
                "storing this secret needs keys.encryption_key_file in the issuer's \
                 configuration (the key that seals the signing keys seals it too)",
            ),
            SealError::Key(m) => write!(f, "the key-encryption key cannot be used: {m}"),
            SealError::Open => f.write_str(
                "a sealed secret does not open: keys.encryption_key_file is not the key it \
                 was sealed with, or the stored value was altered",
            ),
            SealError::Rng => f.write_str("random generator failed"),
        }
    }
}

impl std::error::Error for SealError {}

/// The key-encryption key of `config`.
pub struct Sealer {
    /// The issuer's own key storage: `None` where keys are held by a KMS or token.
    local: Option<Local>,
}

impl Sealer {
    pub fn open(config: &Config) -> Result<Sealer, SealError> {
        let local = Local::open(&config.keys).map_err(|e| SealError::Key(e.to_string()))?;
        Ok(Sealer { local })
    }

    fn key(&self) -> Result<&LessSafeKey, SealError> {
        match &self.local {
            Some(Local::Sealed(key)) => Ok(key),
            _ => Err(SealError::NoKey),
        }
    }

    /// Seals `secret` for `owner` (e.g. `sso-client-secret:acme:client-id`).
    pub fn seal(&self, owner: &str, secret: &[u8]) -> Result<String, SealError> {
        let key = self.key()?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Rng)?;
        let mut buf = secret.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(owner.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SealError::Rng)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", b64(&out)))
    }

    /// Opens what [`Sealer::seal`] sealed for the same `owner`.
    pub fn open_secret(&self, owner: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let key = self.key()?;
        let mut raw = sealed
            .strip_prefix(PREFIX)
            .and_then(b64_decode)
            .filter(|r| r.len() > aead::NONCE_LEN)
            .ok_or(SealError::Open)?;
        let mut body = raw.split_off(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(&raw).map_err(|_| SealError::Open)?;
        let plain = key
            .open_in_place(nonce, aead::Aad::from(owner.as_bytes()), &mut body)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

/// The owner an SSO client secret is sealed for: the tenant and the client id.
pub fn sso_owner(tenant: &str, client_id: &str) -> String {
    format!("sso-client-secret:{tenant}:{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyStorage;
    use std::os::unix::fs::PermissionsExt;

    fn sealer(dir: &std::path::Path, key_b64: &str) -> Sealer {
        let path = dir.join("kek");
        std::fs::write(&path, key_b64).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let local = Local::open(&KeyStorage::Encrypted { key_file: path }).expect("vault");
        Sealer { local }
    }

    #[test]
    fn sealed_secrets_open_only_for_their_owner_and_key() {
        let dir = tempfile::tempdir().expect("dir");
        let a = sealer(dir.path(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        let sealed = a.seal("sso-client-secret:acme:c", b"s3cret").expect("seal");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            a.open_secret("sso-client-secret:acme:c", &sealed),
            Ok(b"s3cret".to_vec())
        );
        assert_eq!(
            a.open_secret("sso-client-secret:globex:c", &sealed),
            Err(SealError::Open)
        );
        let b = sealer(dir.path(), "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=");
        assert_eq!(
            b.open_secret("sso-client-secret:acme:c", &sealed),
            Err(SealError::Open)
        );
    }

    #[test]
    fn without_a_key_file_nothing_is_sealed() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Sealer {
            local: Local::open(&KeyStorage::Dir(dir.path().join("keys"))).expect("vault"),
        };
        assert_eq!(s.seal("x", b"y"), Err(SealError::NoKey));
    }
}
