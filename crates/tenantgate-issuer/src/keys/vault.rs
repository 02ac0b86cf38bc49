//! Where the private keys the issuer holds itself rest: owner-only PKCS#8 files, or AES-256-GCM
//! sealed blobs in the database (bound to their kid) for replicas that share the database and
//! the key file. (Keys held by a KMS or a PKCS#11 token: `custody.rs`.)

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::aead::{self, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::{KeyError, KeyRow};
use crate::config::{read_secret_file, KeyStorage};
use crate::{b64, b64_decode};

/// Where the private keys the issuer holds rest.
pub enum Local {
    /// `<dir>/<kid>.pk8`, PKCS#8 DER, mode 0600.
    Dir(PathBuf),
    /// AES-256-GCM with the configured key; the sealed blob is stored in the database row
    /// (so replicas sharing the database and the key file share the keys).
    Sealed(Box<LessSafeKey>),
}

const SEALED_PREFIX: &str = "v1.";

impl Local {
    /// `None` for a custody outside the issuer.
    pub fn open(storage: &KeyStorage) -> Result<Option<Local>, KeyError> {
        Ok(Some(match storage {
            KeyStorage::Dir(dir) => {
                if !dir.exists() {
                    std::fs::create_dir_all(dir)
                        .and_then(|()| {
                            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                        })
                        .map_err(|e| {
                            KeyError::Vault(format!(
                                "cannot create key directory {}: {e}",
                                dir.display()
                            ))
                        })?;
                }
                Local::Dir(dir.clone())
            }
            KeyStorage::Encrypted { key_file } => {
                let text = read_secret_file(key_file).map_err(KeyError::Vault)?;
                let raw = decode_any_base64(&text).filter(|k| k.len() == 32).ok_or_else(|| {
                    KeyError::Vault(format!(
                        "{} must hold 32 random bytes in base64 (e.g. `head -c 32 /dev/urandom | base64`)",
                        key_file.display()
                    ))
                })?;
                let key = UnboundKey::new(&aead::AES_256_GCM, &raw)
                    .map_err(|_| KeyError::Vault("cannot use the key-encryption key".into()))?;
                Local::Sealed(Box::new(LessSafeKey::new(key)))
            }
            KeyStorage::Kms(_) | KeyStorage::Pkcs11(_) => return Ok(None),
        }))
    }

    /// Stores a new private key; returns the sealed blob to keep in the database, if any.
    pub(super) fn put(&self, kid: &str, pkcs8: &[u8]) -> Result<Option<String>, KeyError> {
        match self {
            Local::Dir(dir) => {
                write_private_file(&key_path(dir, kid), pkcs8)
                    .map_err(|e| KeyError::Vault(format!("cannot write key {kid}: {e}")))?;
                Ok(None)
            }
            Local::Sealed(key) => {
                let mut nonce = [0u8; aead::NONCE_LEN];
                SystemRandom::new()
                    .fill(&mut nonce)
                    .map_err(|_| KeyError::Vault("random generator failed".into()))?;
                let mut buf = pkcs8.to_vec();
                key.seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key(nonce),
                    aead::Aad::from(kid.as_bytes()),
                    &mut buf,
                )
                .map_err(|_| KeyError::Vault("sealing failed".into()))?;
                let mut out = nonce.to_vec();
                out.extend_from_slice(&buf);
                Ok(Some(format!("{SEALED_PREFIX}{}", b64(&out))))
            }
        }
    }

    pub(super) fn get(&self, row: &KeyRow) -> Result<Vec<u8>, KeyError> {
        let fail = |message: String| KeyError::Load {
            kid: row.kid.clone(),
            message,
        };
        match (self, &row.sealed) {
            (Local::Dir(dir), None) => {
                let path = key_path(dir, &row.kid);
                let meta = std::fs::metadata(&path)
                    .map_err(|e| fail(format!("{}: {e}", path.display())))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(fail(format!(
                        "{} is readable by others; run `chmod 600` on it",
                        path.display()
                    )));
                }
                std::fs::read(&path).map_err(|e| fail(format!("{}: {e}", path.display())))
            }
            (Local::Sealed(key), Some(blob)) => {
                let mut raw = blob
                    .strip_prefix(SEALED_PREFIX)
                    .and_then(b64_decode)
                    .filter(|r| r.len() > aead::NONCE_LEN)
                    .ok_or_else(|| fail("sealed key is malformed".into()))?;
                let body = raw.split_off(aead::NONCE_LEN);
                let nonce = aead::Nonce::try_assume_unique_for_key(&raw)
                    .map_err(|_| fail("bad nonce".into()))?;
                let mut body = body;
                let plain = key
                    .open_in_place(nonce, aead::Aad::from(row.kid.as_bytes()), &mut body)
                    .map_err(|_| fail("cannot decrypt: keys.encryption_key_file is not the key it was sealed with".into()))?;
                Ok(plain.to_vec())
            }
            (Local::Dir(_), Some(_)) => Err(fail(
                "sealed in the database; configure keys.encryption_key_file".into(),
            )),
            (Local::Sealed(_), None) => Err(fail("kept as a file; configure keys.dir".into())),
        }
    }

    pub(super) fn remove(&self, kid: &str) {
        if let Local::Dir(dir) = self {
            let _ = std::fs::remove_file(key_path(dir, kid));
        }
    }
}

fn decode_any_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let t = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(t)
                .ok()
        })
        .or_else(|| b64_decode(t))
}

fn key_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.pk8"))
}

/// Writes `data` to `path` with mode 0600 atomically (temp file, fsync, rename, fsync dir).
fn write_private_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::super::test_rows::row;
    use super::*;

    #[test]
    fn sealed_vault_round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let kek = dir.path().join("kek");
        let write_kek = |byte: u8| {
            use base64::Engine;
            std::fs::write(
                &kek,
                base64::engine::general_purpose::STANDARD.encode([byte; 32]),
            )
            .expect("write");
            std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        };
        write_kek(7);
        let vault = Local::open(&KeyStorage::Encrypted {
            key_file: kek.clone(),
        })
        .expect("vault")
        .expect("local");
        let sealed = vault.put("kid1", b"secret pkcs8").expect("seal");
        let mut r = row(1, 0);
        r.kid = "kid1".into();
        r.sealed = sealed;
        assert_eq!(vault.get(&r).expect("open"), b"secret pkcs8");
        let mut other = r.clone();
        other.kid = "kid2".into(); // bound to its kid
        assert!(vault.get(&other).is_err());
        write_kek(8);
        let wrong = Local::open(&KeyStorage::Encrypted {
            key_file: kek.clone(),
        })
        .expect("vault")
        .expect("local");
        assert!(matches!(wrong.get(&r), Err(KeyError::Load { .. })));
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(
            Local::open(&KeyStorage::Encrypted { key_file: kek }).is_err(),
            "world-readable key file refused"
        );
    }

    #[test]
    fn dir_vault_writes_owner_only_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = dir.path().join("keys");
        let vault = Local::open(&KeyStorage::Dir(keys.clone()))
            .expect("vault")
            .expect("local");
        assert_eq!(vault.put("kid1", b"der").expect("put"), None);
        let mode = std::fs::metadata(keys.join("kid1.pk8"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&keys).expect("dir").permissions().mode() & 0o777,
            0o700
        );
        let mut r = row(1, 0);
        r.kid = "kid1".into();
        assert_eq!(vault.get(&r).expect("get"), b"der");
    }
}
