//! Signing keys: the rotation schedule (`schedule.rs`), their custody (`custody.rs`: kept by the
//! issuer in `vault.rs`, or held by AWS KMS in `kms.rs` or a PKCS#11 token in `pkcs11.rs`), and
//! the signer that signs tokens and renders the JWKS (`signer.rs`).
//!
//! A key's state is derived from timestamps alone, so every replica reading the same rows at the
//! same time agrees without coordination:
//! - **next**: `now < activates_at`; published, signs nothing yet;
//! - **current**: the newest key with `activates_at <= now`; signs;
//! - **retired**: superseded at its successor's `activates_at`; published until every token it
//!   can have signed has expired (`+ the longest lifetime in force + leeway`), then deleted. The
//!   longest lifetime in force is `max_token_ttl`, or the longest lifetime the key actually
//!   signed if that is longer (a token signed before `max_token_ttl` was lowered).
//!
//! A new key is always created `publish_lead` (> JWKS max-age) before it activates, so any JWKS
//! a verifier has cached already lists a key before its first token appears.

mod custody;
mod integrity;
mod kms;
mod pkcs11;
mod schedule;
mod signer;
mod sigv4;
mod vault;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::config::KeyTiming;
use super::storage::{Row, Store, StoreError, Tx};

pub use custody::{SigningKey, Vault};
pub use schedule::{classify, Maintenance, Rotation};
pub use signer::{generate, sign, thumbprint};
pub use vault::Local;

/// RSA modulus size of generated keys.
pub const KEY_BITS: usize = 2048;

#[derive(Debug)]
pub enum KeyError {
    Store(StoreError),
    /// No key signs right now (only possible if the clock went backwards past the first key).
    NoCurrentKey,
    Generate(String),
    /// The private key cannot be read, decrypted or parsed.
    Load {
        kid: String,
        message: String,
    },
    /// The key-encryption key or the key directory is unusable.
    Vault(String),
    Sign(String),
    /// A private key does not match its published public key or kid.
    Integrity {
        kid: String,
        message: String,
    },
    /// A failed integrity check stands: nothing is signed until it passes.
    Refused(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Store(e) => e.fmt(f),
            KeyError::NoCurrentKey => {
                f.write_str("no signing key is active; run `keys rotate` or check the system clock")
            }
            KeyError::Generate(m) => write!(f, "key generation failed: {m}"),
            KeyError::Load { kid, message } => write!(f, "signing key {kid}: {message}"),
            KeyError::Vault(m) => f.write_str(m),
            KeyError::Sign(m) => write!(f, "signing failed: {m}"),
            KeyError::Integrity { kid, message } => write!(
                f,
                "signing key {kid}: {message}; restore its key file, sealed key, or KMS or \
                 token key, or run `keys check` to see every key"
            ),
            KeyError::Refused(why) => write!(f, "refusing to sign: {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        KeyError::Store(e)
    }
}

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub generation: i64,
    /// base64url big-endian modulus and exponent (JWK `n`, `e`).
    pub n: String,
    pub e: String,
    pub sealed: Option<String>,
    pub created_at: i64,
    pub activates_at: i64,
    /// The longest lifetime of a token this key signed (recorded before signing it).
    pub longest_ttl: i64,
    /// Where a key held outside the issuer is (`aws-kms:<arn>`, `pkcs11:<id>`).
    pub custody: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Current,
    Retired,
    Expired,
}

/// A key with its derived state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub generation: i64,
    pub state: KeyState,
    pub created_at: i64,
    pub activates_at: i64,
    /// When a successor took over signing.
    pub retired_at: Option<i64>,
    /// When the key leaves the JWKS.
    pub unpublish_at: Option<i64>,
    /// The longest lifetime of a token it signed, in seconds.
    pub longest_token_ttl: i64,
    #[serde(skip)]
    pub n: String,
    #[serde(skip)]
    pub e: String,
    #[serde(skip)]
    pub custody: Option<String>,
}

impl KeyInfo {
    pub fn published(&self) -> bool {
        self.state != KeyState::Expired
    }
}

/// The keys of the issuer: storage, schedule and a cache of parsed private keys.
pub struct KeyRing {
    vault: Vault,
    timing: KeyTiming,
    parsed: Mutex<HashMap<String, Arc<SigningKey>>>,
    /// Why signing is refused, after an integrity check failed at a rotation.
    refused: Mutex<Option<String>>,
}

impl KeyRing {
    pub fn new(vault: Vault, timing: KeyTiming) -> KeyRing {
        KeyRing {
            vault,
            timing,
            parsed: Mutex::new(HashMap::new()),
            refused: Mutex::new(None),
        }
    }

    pub fn timing(&self) -> &KeyTiming {
        &self.timing
    }

    /// Every key with its state, oldest first.
    pub fn list(&self, store: &Store, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
        let rows = store.tx(load_rows)?;
        Ok(classify(&rows, now, &self.timing))
    }
}

fn load_rows(tx: &mut dyn Tx) -> Result<Vec<KeyRow>, StoreError> {
    tx.query(
        "SELECT kid, generation, n, e, sealed_private_key, created_at, activates_at, longest_ttl,
                custody
         FROM signing_keys ORDER BY generation",
        &[],
    )?
    .iter()
    .map(key_from)
    .collect()
}

fn key_from(r: &Row) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        kid: r.text(0)?,
        generation: r.int(1)?,
        n: r.text(2)?,
        e: r.text(3)?,
        sealed: r.opt_text(4)?,
        created_at: r.int(5)?,
        activates_at: r.int(6)?,
        longest_ttl: r.int(7)?,
        custody: r.opt_text(8)?,
    })
}

#[cfg(test)]
mod test_rows {
    use super::KeyRow;

    /// A stored key without key material, created 100 s before it activates.
    pub(super) fn row(generation: i64, activates_at: i64) -> KeyRow {
        KeyRow {
            kid: format!("k{generation}"),
            generation,
            n: String::new(),
            e: String::new(),
            sealed: None,
            created_at: activates_at - 100,
            activates_at,
            longest_ttl: 0,
            custody: None,
        }
    }
}
