//! PKCS#11 custody: RSA-2048 key pairs generated on a token (an HSM; SoftHSM2 in the tests) as
//! sensitive, non-extractable objects. The issuer keeps their CKA_ID and asks the token to sign
//! (CKM_SHA256_RSA_PKCS). One logged-in session, used by one caller at a time.

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::{KeyError, KEY_BITS};
use crate::config::{read_secret_file, Pkcs11Settings};

/// The prefix of a token key's custody reference (the rest is its CKA_ID in hex).
pub const PREFIX: &str = "pkcs11:";
/// CKA_LABEL of the objects this issuer creates.
const LABEL: &[u8] = b"tenantgate-issuer";

pub struct Token {
    session: Mutex<Session>,
    label: String,
}

/// Modulus and public exponent, big-endian without leading zeros.
pub struct PublicParts {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl Token {
    pub fn open(settings: &Pkcs11Settings) -> Result<Token, KeyError> {
        let vault = |field: &str, m: String| KeyError::Vault(format!("keys.pkcs11.{field}: {m}"));
        let pkcs11 = Pkcs11::new(&settings.module)
            .map_err(|e| vault("module", format!("{}: {e}", settings.module.display())))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(vault("module", format!("C_Initialize: {e}"))),
        }
        let slots = pkcs11
            .get_slots_with_token()
            .map_err(|e| vault("module", format!("C_GetSlotList: {e}")))?;
        let slot = slots
            .into_iter()
            .find(|s| {
                pkcs11
                    .get_token_info(*s)
                    .is_ok_and(|i| i.label() == settings.token_label)
            })
            .ok_or_else(|| {
                vault(
                    "token_label",
                    format!(
                        "no token labelled {:?} (initialise one, e.g. `softhsm2-util --init-token \
                         --free --label {}`)",
                        settings.token_label, settings.token_label
                    ),
                )
            })?;
        let pin = read_secret_file(&settings.pin_file).map_err(|m| vault("pin_file", m))?;
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(|e| vault("token_label", format!("C_OpenSession: {e}")))?;
        match session.login(UserType::User, Some(&AuthPin::from(pin))) {
            // Login is per application: another context of this process may have logged in.
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => {
                return Err(vault(
                    "pin_file",
                    format!("the token refused the user PIN: {e}"),
                ))
            }
        }
        Ok(Token {
            session: Mutex::new(session),
            label: settings.token_label.clone(),
        })
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Generates a key pair on the token; returns its CKA_ID and public parts.
    pub fn create(&self) -> Result<(Vec<u8>, PublicParts), KeyError> {
        let fail = |e: Error| KeyError::Generate(format!("PKCS#11 token {:?}: {e}", self.label));
        let session = self.session();
        let id = session.generate_random_vec(16).map_err(fail)?;
        let bits = u64::try_from(KEY_BITS).unwrap_or(2048);
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            Attribute::Id(id.clone()),
            Attribute::Label(LABEL.to_vec()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Id(id.clone()),
            Attribute::Label(LABEL.to_vec()),
        ];
        let (_, handle) = session
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .map_err(fail)?;
        let parts = public_parts(&session, handle).map_err(fail)?;
        Ok((id, parts))
    }

    /// The public parts of the private key with `id`, as the token reports them.
    pub fn public_key(&self, id: &[u8]) -> Result<PublicParts, KeyError> {
        let session = self.session();
        let handle = self.private_key(&session, id)?;
        public_parts(&session, handle).map_err(|e| self.load_error(id, e.to_string()))
    }

    /// The RS256 signature of `message` by the private key with `id`.
    pub fn sign(&self, id: &[u8], message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let session = self.session();
        let handle = self.private_key(&session, id)?;
        session
            .sign(&Mechanism::Sha256RsaPkcs, handle, message)
            .map_err(|e| KeyError::Sign(format!("PKCS#11 token {:?}: {e}", self.label)))
    }

    /// Destroys both halves of the key pair with `id`.
    pub fn destroy(&self, id: &[u8]) -> Result<(), KeyError> {
        let session = self.session();
        let objects = session
            .find_objects(&[Attribute::Id(id.to_vec()), Attribute::KeyType(KeyType::RSA)])
            .map_err(|e| self.load_error(id, e.to_string()))?;
        for object in objects {
            session
                .destroy_object(object)
                .map_err(|e| self.load_error(id, format!("C_DestroyObject: {e}")))?;
        }
        Ok(())
    }

    fn private_key(&self, session: &Session, id: &[u8]) -> Result<ObjectHandle, KeyError> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(|e| self.load_error(id, e.to_string()))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(self.load_error(id, "no such private key on the token".into())),
            _ => Err(self.load_error(id, "more than one private key has this id".into())),
        }
    }

    fn load_error(&self, id: &[u8], message: String) -> KeyError {
        KeyError::Vault(format!(
            "PKCS#11 token {:?}, key id {}: {message}",
            self.label,
            hex(id)
        ))
    }
}

fn public_parts(session: &Session, handle: ObjectHandle) -> Result<PublicParts, Error> {
    let attributes = session.get_attributes(
        handle,
        &[AttributeType::Modulus, AttributeType::PublicExponent],
    )?;
    let (mut n, mut e) = (Vec::new(), Vec::new());
    for attribute in attributes {
        match attribute {
            Attribute::Modulus(v) => n = strip_zeros(v),
            Attribute::PublicExponent(v) => e = strip_zeros(v),
            _ => {}
        }
    }
    Ok(PublicParts { n, e })
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let id = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&id), "0001abff");
        assert_eq!(unhex("0001abff"), Some(id.to_vec()));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(strip_zeros(vec![0, 0, 1, 0]), vec![1, 0]);
    }
}
