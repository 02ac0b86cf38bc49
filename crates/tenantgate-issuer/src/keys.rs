//! Signing keys: generation, storage at rest, the rotation schedule, the JWKS, and signing.
//!
//! A key's state is derived from timestamps alone, so every replica reading the same rows at the
//! same time agrees without coordination:
//! - **next**: `now < activates_at`; published, signs nothing yet;
//! - **current**: the newest key with `activates_at <= now`; signs;
//! - **retired**: superseded at its successor's `activates_at`; published until every token it
//!   can have signed has expired (`+ max_token_ttl + leeway`), then deleted.
//!
//! A new key is always created `publish_lead` (> JWKS max-age) before it activates, so any JWKS
//! a verifier has cached already lists a key before its first token appears.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ring::aead::{self, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Serialize;
use serde_json::json;

use super::config::{read_secret_file, KeyStorage, KeyTiming, CLOCK_LEEWAY};
use super::storage::{Row, Store, StoreError, Tx, Val};
use super::{b64, b64_decode};
use tenantgate_core::token::claims::{AccessClaims, AccessHeader};

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
    #[serde(skip)]
    pub n: String,
    #[serde(skip)]
    pub e: String,
}

impl KeyInfo {
    pub fn published(&self) -> bool {
        self.state != KeyState::Expired
    }

    pub fn jwk(&self) -> serde_json::Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e})
    }
}

/// Derives each key's state at `now`. `rows` must be sorted by generation.
pub fn classify(rows: &[KeyRow], now: i64, timing: &KeyTiming) -> Vec<KeyInfo> {
    let current = rows.iter().rposition(|r| r.activates_at <= now);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let (state, retired_at, unpublish_at) = match current {
                _ if r.activates_at > now => (KeyState::Next, None, None),
                Some(c) if c == i => (KeyState::Current, None, None),
                _ => {
                    // Activation times grow with the generation, so the successor is next in line.
                    let retired_at = rows.get(i + 1).map_or(now, |s| s.activates_at);
                    let until = retired_at
                        .saturating_add(timing.max_token_ttl)
                        .saturating_add(CLOCK_LEEWAY);
                    let state = if now < until {
                        KeyState::Retired
                    } else {
                        KeyState::Expired
                    };
                    (state, Some(retired_at), Some(until))
                }
            };
            KeyInfo {
                kid: r.kid.clone(),
                generation: r.generation,
                state,
                created_at: r.created_at,
                activates_at: r.activates_at,
                retired_at,
                unpublish_at,
                n: r.n.clone(),
                e: r.e.clone(),
            }
        })
        .collect()
}

/// The RFC 7638 JWK thumbprint of an RSA public key (base64url SHA-256 of the canonical JSON).
pub fn thumbprint(n_b64: &str, e_b64: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// A new RSA key: (PKCS#8 DER, n, e) with n and e base64url.
pub fn generate() -> Result<(Vec<u8>, String, String), KeyError> {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand::rng(), KEY_BITS)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let public = key.to_public_key();
    Ok((
        der.as_bytes().to_vec(),
        b64(&public.n_bytes()),
        b64(&public.e_bytes()),
    ))
}

/// Where private keys rest.
pub enum Vault {
    /// `<dir>/<kid>.pk8`, PKCS#8 DER, mode 0600.
    Dir(PathBuf),
    /// AES-256-GCM with the configured key; the sealed blob is stored in the database row
    /// (so replicas sharing the database and the key file share the keys).
    Sealed(Box<LessSafeKey>),
}

const SEALED_PREFIX: &str = "v1.";

impl Vault {
    pub fn open(storage: &KeyStorage) -> Result<Vault, KeyError> {
        match storage {
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
                Ok(Vault::Dir(dir.clone()))
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
                Ok(Vault::Sealed(Box::new(LessSafeKey::new(key))))
            }
        }
    }

    /// Stores a new private key; returns the sealed blob to keep in the database, if any.
    fn put(&self, kid: &str, pkcs8: &[u8]) -> Result<Option<String>, KeyError> {
        match self {
            Vault::Dir(dir) => {
                write_private_file(&key_path(dir, kid), pkcs8)
                    .map_err(|e| KeyError::Vault(format!("cannot write key {kid}: {e}")))?;
                Ok(None)
            }
            Vault::Sealed(key) => {
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

    fn get(&self, row: &KeyRow) -> Result<Vec<u8>, KeyError> {
        let fail = |message: String| KeyError::Load {
            kid: row.kid.clone(),
            message,
        };
        match (self, &row.sealed) {
            (Vault::Dir(dir), None) => {
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
            (Vault::Sealed(key), Some(blob)) => {
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
            (Vault::Dir(_), Some(_)) => Err(fail(
                "sealed in the database; configure keys.encryption_key_file".into(),
            )),
            (Vault::Sealed(_), None) => Err(fail("kept as a file; configure keys.dir".into())),
        }
    }

    fn remove(&self, kid: &str) {
        if let Vault::Dir(dir) = self {
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

/// Result of a rotation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    Created(KeyInfo),
    /// A next key already waits for its activation (rotating again would not make it sooner),
    /// or another replica created the key first: that key stands.
    AlreadyPending(KeyInfo),
}

/// What a maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub created: Option<KeyInfo>,
    /// The created key is the very first one.
    pub bootstrap: bool,
    pub removed: Vec<String>,
}

/// The keys of the issuer: storage, schedule and a cache of parsed private keys.
pub struct KeyRing {
    vault: Vault,
    timing: KeyTiming,
    parsed: Mutex<HashMap<String, Arc<RsaKeyPair>>>,
}

impl KeyRing {
    pub fn new(vault: Vault, timing: KeyTiming) -> KeyRing {
        KeyRing {
            vault,
            timing,
            parsed: Mutex::new(HashMap::new()),
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

    /// The keys to publish: current first, then next, then retired.
    pub fn published(&self, store: &Store, now: i64) -> Result<Vec<KeyInfo>, KeyError> {
        let mut keys: Vec<KeyInfo> = self
            .list(store, now)?
            .into_iter()
            .filter(KeyInfo::published)
            .collect();
        keys.sort_by_key(|k| {
            (
                k.state != KeyState::Current,
                k.state != KeyState::Next,
                -k.generation,
            )
        });
        Ok(keys)
    }

    pub fn jwks(&self, store: &Store, now: i64) -> Result<serde_json::Value, KeyError> {
        let keys: Vec<_> = self
            .published(store, now)?
            .iter()
            .map(KeyInfo::jwk)
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// Creates the first key (active at once: nobody can have cached a JWKS yet), schedules the
    /// next key when the current one is due, and deletes keys whose tokens have all expired.
    pub fn maintain(&self, store: &Store, now: i64) -> Result<Maintenance, KeyError> {
        let keys = self.list(store, now)?;
        let mut report = Maintenance::default();
        let current = keys.iter().find(|k| k.state == KeyState::Current);
        let has_next = keys.iter().any(|k| k.state == KeyState::Next);
        let activate_at = match current {
            None if !has_next => Some(now),
            Some(c)
                if !has_next
                    && now
                        >= c.activates_at.saturating_add(
                            self.timing.rotation_interval - self.timing.publish_lead,
                        ) =>
            {
                Some(
                    now.saturating_add(self.timing.publish_lead)
                        .max(c.activates_at.saturating_add(self.timing.rotation_interval)),
                )
            }
            _ => None,
        };
        if let Some(at) = activate_at {
            if let Rotation::Created(k) = self.create(store, now, at)? {
                report.bootstrap = keys.is_empty();
                report.created = Some(k);
            }
        }
        let expired: Vec<String> = keys
            .iter()
            .filter(|k| k.state == KeyState::Expired)
            .map(|k| k.kid.clone())
            .collect();
        for kid in &expired {
            let deleted = store.tx(|tx| {
                tx.exec(
                    "DELETE FROM signing_keys WHERE kid = $1",
                    &[kid.as_str().into()],
                )
            })?;
            if deleted == 1 {
                self.vault.remove(kid);
                report.removed.push(kid.clone());
            }
            self.parsed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(kid);
        }
        Ok(report)
    }

    /// `keys rotate`: publishes a new key now that takes over signing after `publish_lead`.
    pub fn rotate(&self, store: &Store, now: i64) -> Result<Rotation, KeyError> {
        if self.list(store, now)?.is_empty() {
            return self.create(store, now, now);
        }
        self.create(store, now, now.saturating_add(self.timing.publish_lead))
    }

    fn create(&self, store: &Store, now: i64, activates_at: i64) -> Result<Rotation, KeyError> {
        if let Some(next) = self
            .list(store, now)?
            .into_iter()
            .find(|k| k.state == KeyState::Next)
        {
            return Ok(Rotation::AlreadyPending(next));
        }
        // Generation takes a while: outside any transaction.
        let (pkcs8, n, e) = generate()?;
        let kid = thumbprint(&n, &e);
        let sealed = self.vault.put(&kid, &pkcs8)?;
        let row = KeyRow {
            kid: kid.clone(),
            generation: 0,
            n,
            e,
            sealed,
            created_at: now,
            activates_at,
        };
        // Only the very first key may sign at once; nobody can have cached a JWKS without it.
        let bootstrap = activates_at <= now;
        let inserted = store.tx(|tx| {
            let rows = load_rows(tx)?;
            let infos = classify(&rows, now, &self.timing);
            let pending = infos.iter().position(|k| k.state == KeyState::Next);
            // Another replica was faster: its key stands.
            if let Some(i) = pending.or(if bootstrap { infos.len().checked_sub(1) } else { None }) {
                return Ok(Err(infos[i].clone()));
            }
            let generation = rows.last().map_or(1, |r| r.generation + 1);
            let activates_at = rows.last().map_or(activates_at, |r| activates_at.max(r.activates_at));
            tx.exec(
                "INSERT INTO signing_keys (kid, generation, n, e, sealed_private_key, created_at, activates_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    row.kid.as_str().into(),
                    generation.into(),
                    row.n.as_str().into(),
                    row.e.as_str().into(),
                    Val::from(row.sealed.clone()),
                    now.into(),
                    activates_at.into(),
                ],
            )?;
            Ok(Ok(()))
        });
        match inserted {
            Ok(Ok(())) => {}
            Ok(Err(next)) => {
                self.vault.remove(&kid);
                return Ok(Rotation::AlreadyPending(next));
            }
            Err(StoreError::Conflict(_)) => {
                // Lost a race on the generation number; the winner's key stands.
                self.vault.remove(&kid);
                let keys = self.list(store, now)?;
                let winner = keys
                    .iter()
                    .find(|k| k.state == KeyState::Next)
                    .or_else(|| keys.iter().find(|k| k.state == KeyState::Current));
                return winner
                    .cloned()
                    .map(Rotation::AlreadyPending)
                    .ok_or_else(|| KeyError::Generate("concurrent rotation; retry".into()));
            }
            Err(e) => {
                self.vault.remove(&kid);
                return Err(e.into());
            }
        }
        let info = self
            .list(store, now)?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::Store(StoreError::Corrupt("new key vanished".into())))?;
        Ok(Rotation::Created(info))
    }

    /// The key that signs at `now`.
    pub fn signer(&self, store: &Store, now: i64) -> Result<(String, Arc<RsaKeyPair>), KeyError> {
        let rows = store.tx(load_rows)?;
        let infos = classify(&rows, now, &self.timing);
        let current = infos
            .iter()
            .find(|k| k.state == KeyState::Current)
            .ok_or(KeyError::NoCurrentKey)?;
        let row = rows
            .iter()
            .find(|r| r.kid == current.kid)
            .ok_or(KeyError::NoCurrentKey)?;
        if let Some(kp) = self
            .parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&row.kid)
        {
            return Ok((row.kid.clone(), kp.clone()));
        }
        let der = self.vault.get(row)?;
        let kp = RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError::Load {
            kid: row.kid.clone(),
            message: format!("not a usable RSA PKCS#8 key: {e}"),
        })?;
        let kp = Arc::new(kp);
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.kid.clone(), kp.clone());
        Ok((row.kid.clone(), kp))
    }

    /// Signs `claims` with the current key.
    pub fn sign(&self, store: &Store, claims: &AccessClaims, now: i64) -> Result<String, KeyError> {
        let (kid, kp) = self.signer(store, now)?;
        sign(&kp, &kid, claims)
    }

    /// Verifies one of this issuer's own access tokens (signature by a published key, `iss`,
    /// time window), e.g. for sign-out with a bearer token.
    pub fn verify(
        &self,
        store: &Store,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<Option<AccessClaims>, KeyError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let header: Option<AccessHeader> =
            b64_decode(h).and_then(|b| serde_json::from_slice(&b).ok());
        let Some(header) = header.filter(|h| h.alg == "RS256") else {
            return Ok(None);
        };
        let Some(key) = self
            .published(store, now)?
            .into_iter()
            .find(|k| k.kid == header.kid)
        else {
            return Ok(None);
        };
        let (Some(n), Some(e), Some(sig)) = (b64_decode(&key.n), b64_decode(&key.e), b64_decode(s))
        else {
            return Ok(None);
        };
        let message = &token.as_bytes()[..h.len() + 1 + p.len()];
        if !tenantgate_core::verify::rs256::verify_components(&n, &e, message, &sig) {
            return Ok(None);
        }
        let claims: Option<AccessClaims> =
            b64_decode(p).and_then(|b| serde_json::from_slice(&b).ok());
        Ok(claims.filter(|c| c.iss == issuer && c.exp > now && c.nbf <= now + CLOCK_LEEWAY))
    }
}

fn load_rows(tx: &mut dyn Tx) -> Result<Vec<KeyRow>, StoreError> {
    tx.query(
        "SELECT kid, generation, n, e, sealed_private_key, created_at, activates_at FROM signing_keys ORDER BY generation",
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
    })
}

/// A compact JWS: base64url(header).base64url(claims).base64url(RS256 signature).
pub fn sign(kp: &RsaKeyPair, kid: &str, claims: &AccessClaims) -> Result<String, KeyError> {
    let header =
        serde_json::to_vec(&AccessHeader::rs256(kid)).map_err(|e| KeyError::Sign(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
    let input = format!("{}.{}", b64(&header), b64(&payload));
    let mut sig = vec![0u8; kp.public().modulus_len()];
    kp.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| KeyError::Sign("RSA signing failed".into()))?;
    Ok(format!("{input}.{}", b64(&sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> KeyTiming {
        KeyTiming {
            rotation_interval: 1000,
            publish_lead: 100,
            max_token_ttl: 50,
            jwks_max_age: 10,
        }
    }

    fn row(generation: i64, activates_at: i64) -> KeyRow {
        KeyRow {
            kid: format!("k{generation}"),
            generation,
            n: String::new(),
            e: String::new(),
            sealed: None,
            created_at: activates_at - 100,
            activates_at,
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn states_follow_the_clock() {
        let t = timing();
        let rows = [row(1, 0), row(2, 1000)];
        let at = |now| {
            classify(&rows, now, &t)
                .iter()
                .map(|k| k.state)
                .collect::<Vec<_>>()
        };
        assert_eq!(at(500), [KeyState::Current, KeyState::Next]);
        assert_eq!(at(1000), [KeyState::Retired, KeyState::Current]);
        // Retired stays published for max_token_ttl + leeway after its successor took over.
        assert_eq!(
            at(1000 + 50 + CLOCK_LEEWAY - 1),
            [KeyState::Retired, KeyState::Current]
        );
        assert_eq!(
            at(1000 + 50 + CLOCK_LEEWAY),
            [KeyState::Expired, KeyState::Current]
        );
        let info = &classify(&rows, 1001, &t)[0];
        assert_eq!(info.retired_at, Some(1000));
        assert_eq!(info.unpublish_at, Some(1000 + 50 + CLOCK_LEEWAY));
    }

    #[test]
    fn sign_produces_a_token_the_filter_core_verifies() {
        let (der, n, e) = generate().expect("key");
        let kp = RsaKeyPair::from_pkcs8(&der).expect("ring accepts rsa's PKCS#8");
        let kid = thumbprint(&n, &e);
        let claims = AccessClaims {
            iss: "https://issuer.test".into(),
            sub: "u1".into(),
            aud: tenantgate_core::token::claims::Audience::One("api".into()),
            tenant_id: "acme".into(),
            roles: vec!["admin".into()],
            iat: 10,
            nbf: 10,
            exp: 20,
            jti: "j".into(),
            sid: Some("s".into()),
        };
        let token = sign(&kp, &kid, &claims).expect("sign");
        let jws = tenantgate_core::token::jws::parse(&token).expect("strict JWS parser accepts it");
        let _ = jws;
        let (h, rest) = token.split_once('.').expect("dots");
        let (p, s) = rest.split_once('.').expect("dots");
        let message = format!("{h}.{p}");
        let (nb, eb, sb) = (
            b64_decode(&n).expect("n"),
            b64_decode(&e).expect("e"),
            b64_decode(s).expect("sig"),
        );
        assert!(tenantgate_core::verify::rs256::verify_components(
            &nb,
            &eb,
            message.as_bytes(),
            &sb
        ));
        let header: AccessHeader =
            serde_json::from_slice(&b64_decode(h).expect("h")).expect("header");
        assert_eq!(header, AccessHeader::rs256(kid));
        let back: AccessClaims =
            serde_json::from_slice(&b64_decode(p).expect("p")).expect("claims");
        assert_eq!(back, claims);
    }

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
        let vault = Vault::open(&KeyStorage::Encrypted {
            key_file: kek.clone(),
        })
        .expect("vault");
        let sealed = vault.put("kid1", b"secret pkcs8").expect("seal");
        let mut r = row(1, 0);
        r.kid = "kid1".into();
        r.sealed = sealed;
        assert_eq!(vault.get(&r).expect("open"), b"secret pkcs8");
        let mut other = r.clone();
        other.kid = "kid2".into(); // bound to its kid
        assert!(vault.get(&other).is_err());
        write_kek(8);
        let wrong = Vault::open(&KeyStorage::Encrypted {
            key_file: kek.clone(),
        })
        .expect("vault");
        assert!(matches!(wrong.get(&r), Err(KeyError::Load { .. })));
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(
            Vault::open(&KeyStorage::Encrypted { key_file: kek }).is_err(),
            "world-readable key file refused"
        );
    }

    #[test]
    fn dir_vault_writes_owner_only_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let keys = dir.path().join("keys");
        let vault = Vault::open(&KeyStorage::Dir(keys.clone())).expect("vault");
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
