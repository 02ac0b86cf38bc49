//! Key custody: who holds each private key. The issuer itself (`vault.rs`: 0600 files or sealed
//! in the database), AWS KMS (`kms.rs`) or a PKCS#11 token (`pkcs11.rs`). The schedule, the
//! JWKS and the integrity checks see one interface: create a key, load it (verified against its
//! published public key and kid), sign with it, release it.

use std::sync::Mutex;

use ring::signature::RsaKeyPair;

use super::integrity::{parse_verified, verify_held};
use super::kms::{self, Kms};
use super::pkcs11::{self, Token};
use super::vault::Local;
use super::{generate, KeyError, KeyRow};
use crate::b64;
use crate::config::KeyStorage;

/// Where new keys are created and existing ones are used.
pub enum Vault {
    Local(Local),
    Kms(Box<Kms>),
    Pkcs11(Token),
}

/// A key just created, not yet stored: its public parts and where its private half is.
pub(super) struct NewKey {
    pub n: String,
    pub e: String,
    /// The sealed private key (sealed local custody).
    pub sealed: Option<String>,
    /// The key's reference in a KMS or token (`aws-kms:<arn>`, `pkcs11:<id>`).
    pub custody: Option<String>,
}

/// A key ready to sign, checked against its published public key.
pub enum SigningKey {
    Local(RsaKeyPair),
    /// Held elsewhere: every signature it returns is verified with the published key.
    Held {
        custody: String,
        n: Vec<u8>,
        e: Vec<u8>,
        /// Why the last signature failed, until one succeeds (for `/healthz`).
        failing: Mutex<Option<String>>,
    },
}

impl SigningKey {
    fn held(custody: &str, n: Vec<u8>, e: Vec<u8>) -> SigningKey {
        SigningKey::Held {
            custody: custody.to_string(),
            n,
            e,
            failing: Mutex::new(None),
        }
    }
}

impl Vault {
    pub fn open(storage: &KeyStorage) -> Result<Vault, KeyError> {
        if let Some(local) = Local::open(storage)? {
            return Ok(Vault::Local(local));
        }
        match storage {
            KeyStorage::Kms(settings) => Ok(Vault::Kms(Box::new(Kms::open(settings)?))),
            KeyStorage::Pkcs11(settings) => Ok(Vault::Pkcs11(Token::open(settings)?)),
            KeyStorage::Dir(_) | KeyStorage::Encrypted { .. } => Err(KeyError::Vault(
                "internal: local key storage not opened".into(),
            )),
        }
    }

    /// Creates a new key in this custody.
    pub(super) fn create(&self) -> Result<NewKey, KeyError> {
        match self {
            Vault::Local(local) => {
                let (pkcs8, n, e) = generate()?;
                let sealed = local.put(&super::thumbprint(&n, &e), &pkcs8)?;
                Ok(NewKey {
                    n,
                    e,
                    sealed,
                    custody: None,
                })
            }
            Vault::Kms(kms) => {
                let arn = kms.create()?;
                let custody = format!("{}{arn}", kms::PREFIX);
                let parts = kms.public_key(&arn).and_then(|k| spki_parts(&k.spki));
                match parts {
                    Ok((n, e)) => Ok(NewKey {
                        n: b64(&n),
                        e: b64(&e),
                        sealed: None,
                        custody: Some(custody),
                    }),
                    Err(err) => {
                        self.discard("", Some(&custody));
                        Err(err)
                    }
                }
            }
            Vault::Pkcs11(token) => {
                let (id, parts) = token.create()?;
                Ok(NewKey {
                    n: b64(&parts.n),
                    e: b64(&parts.e),
                    sealed: None,
                    custody: Some(format!("{}{}", pkcs11::PREFIX, pkcs11::hex(&id))),
                })
            }
        }
    }

    /// The key of `row`, proven to be the one its public key and kid describe.
    pub(super) fn load(&self, row: &KeyRow) -> Result<SigningKey, KeyError> {
        let load = |message: String| KeyError::Load {
            kid: row.kid.clone(),
            message,
        };
        match (self, row.custody.as_deref()) {
            (Vault::Local(local), None) => {
                Ok(SigningKey::Local(parse_verified(row, &local.get(row)?)?))
            }
            (Vault::Kms(kms), Some(custody)) if kms_arn(custody).is_some() => {
                let arn = kms_arn(custody).unwrap_or_default();
                let (n, e) = spki_parts(&kms.public_key(arn)?.spki)?;
                verify_held(row, custody, &n, &e, |m| kms.sign(arn, m))?;
                Ok(SigningKey::held(custody, n, e))
            }
            (Vault::Pkcs11(token), Some(custody)) if custody.starts_with(pkcs11::PREFIX) => {
                let id =
                    pkcs11_id(custody).ok_or_else(|| load(format!("bad reference {custody}")))?;
                let parts = token.public_key(&id)?;
                verify_held(row, custody, &parts.n, &parts.e, |m| token.sign(&id, m))?;
                Ok(SigningKey::held(custody, parts.n, parts.e))
            }
            (_, custody) => Err(load(format!(
                "held by {}, not by the configured key custody; configure {}",
                describe(custody),
                configure(custody)
            ))),
        }
    }

    /// The RS256 signature of `message`. A signature from outside the issuer is verified with
    /// the published key before it is used.
    pub(super) fn sign(&self, key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let (custody, n, e, failing) = match key {
            SigningKey::Local(kp) => return super::signer::sign_local(kp, message),
            SigningKey::Held {
                custody,
                n,
                e,
                failing,
            } => (custody, n, e, failing),
        };
        let result = self.sign_held(custody, n, e, message);
        *failing.lock().unwrap_or_else(|p| p.into_inner()) =
            result.as_ref().err().map(KeyError::to_string);
        result
    }

    /// Whether `key` can sign: a held key whose last signature failed must sign a probe.
    pub(super) fn health(&self, key: &SigningKey) -> Result<(), KeyError> {
        let SigningKey::Held { failing, .. } = key else {
            return Ok(());
        };
        let failed = failing.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if failed {
            self.sign(key, b"tenantgate-issuer health probe")?;
        }
        Ok(())
    }

    fn sign_held(
        &self,
        custody: &str,
        n: &[u8],
        e: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let signature = match self {
            Vault::Kms(kms) => {
                let arn = kms_arn(custody)
                    .ok_or_else(|| KeyError::Sign(format!("bad reference {custody}")))?;
                kms.sign(arn, message)?
            }
            Vault::Pkcs11(token) => {
                let id = pkcs11_id(custody)
                    .ok_or_else(|| KeyError::Sign(format!("bad reference {custody}")))?;
                token.sign(&id, message)?
            }
            Vault::Local(_) => {
                return Err(KeyError::Sign(format!(
                    "{custody} is not held by the issuer"
                )))
            }
        };
        if !tenantgate_core::verify::rs256::verify_components(n, e, message, &signature) {
            return Err(KeyError::Sign(format!(
                "{custody} returned a signature that the published key does not verify"
            )));
        }
        Ok(signature)
    }

    /// Releases a key that left the JWKS, or was created and not stored: deletes its file,
    /// schedules its deletion in KMS, destroys it on the token. A sealed key goes with its row.
    pub(super) fn release(&self, kid: &str, custody: Option<&str>) -> Result<(), KeyError> {
        match (self, custody) {
            (Vault::Local(local), None) => {
                local.remove(kid);
                Ok(())
            }
            (Vault::Kms(kms), Some(c)) => match kms_arn(c) {
                Some(arn) => kms.schedule_deletion(arn),
                None => Ok(()),
            },
            (Vault::Pkcs11(token), Some(c)) => match pkcs11_id(c) {
                Some(id) => token.destroy(&id),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// `release`, logging instead of failing: the key is no longer published, so a leftover
    /// in a KMS or token costs storage, not trust.
    pub(super) fn discard(&self, kid: &str, custody: Option<&str>) {
        if let Err(e) = self.release(kid, custody) {
            eprintln!(
                "{}",
                serde_json::json!({
                    "level": "warn",
                    "msg": "could not release a signing key that is no longer published",
                    "kid": kid,
                    "custody": custody,
                    "error": e.to_string(),
                })
            );
        }
    }
}

fn kms_arn(custody: &str) -> Option<&str> {
    custody
        .strip_prefix(kms::PREFIX)
        .filter(|arn| !arn.is_empty())
}

fn pkcs11_id(custody: &str) -> Option<Vec<u8>> {
    custody
        .strip_prefix(pkcs11::PREFIX)
        .and_then(pkcs11::unhex)
        .filter(|id| !id.is_empty())
}

fn describe(custody: Option<&str>) -> String {
    match custody {
        None => "the issuer (a key file or a sealed key)".into(),
        Some(c) => c.to_string(),
    }
}

fn configure(custody: Option<&str>) -> &'static str {
    match custody {
        None => "keys.dir or keys.encryption_key_file",
        Some(c) if c.starts_with(kms::PREFIX) => "[keys.kms]",
        Some(c) if c.starts_with(pkcs11::PREFIX) => "[keys.pkcs11]",
        Some(_) => "the custody that created it",
    }
}

/// Modulus and exponent of an RSA SubjectPublicKeyInfo (DER).
fn spki_parts(spki: &[u8]) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPublicKey::from_public_key_der(spki).map_err(|e| {
        KeyError::Vault(format!("AWS KMS returned an unusable RSA public key: {e}"))
    })?;
    Ok((key.n_bytes().to_vec(), key.e_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_parts_read_the_modulus_and_exponent() {
        use rsa::pkcs8::EncodePublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rand::rng(), 2048).expect("key");
        let public = key.to_public_key();
        let der = public.to_public_key_der().expect("der");
        let (n, e) = spki_parts(der.as_bytes()).expect("parts");
        assert_eq!(n, public.n_bytes().to_vec());
        assert_eq!(e, vec![1, 0, 1]);
        assert!(spki_parts(b"garbage").is_err());
    }

    #[test]
    fn references_name_their_custody() {
        assert_eq!(pkcs11_id("pkcs11:00ff"), Some(vec![0, 0xff]));
        assert_eq!(pkcs11_id("pkcs11:"), None);
        assert_eq!(configure(Some("aws-kms:arn:aws:kms:x")), "[keys.kms]");
        assert_eq!(configure(None), "keys.dir or keys.encryption_key_file");
    }
}
