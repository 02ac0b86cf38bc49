//! Argon2id password hashes (PHC strings) with the argon2 crate's defaults, which follow the
//! OWASP recommendation (19 MiB, 2 passes, 1 lane).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};

/// Why a password could not be hashed.
#[derive(Debug)]
pub enum PasswordError {
    Random,
    Hash(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::Random => f.write_str("the system random generator failed"),
            PasswordError::Hash(m) => write!(f, "password hashing failed: {m}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Memory one Argon2id hash or verification takes, in KiB (the crate's default `m`).
pub const HASH_MEMORY_KIB: u64 = argon2::Params::DEFAULT_M_COST as u64;

/// Bounds how many hashes run at once, so that their memory (permits × [`HASH_MEMORY_KIB`])
/// stays within a budget: a burst of sign-ins beyond it is refused at once instead of growing
/// the process (the allocator rarely gives such blocks back).
pub struct HashGate {
    permits: usize,
    in_use: AtomicUsize,
}

/// One running hash; frees its place when dropped.
pub struct HashPermit<'a>(&'a AtomicUsize);

impl Drop for HashPermit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// As many concurrent hashes as `memory_kib` holds (at least one).
    pub fn with_memory(memory_kib: u64) -> HashGate {
        let permits = usize::try_from(memory_kib / HASH_MEMORY_KIB).unwrap_or(usize::MAX);
        HashGate {
            permits: permits.max(1),
            in_use: AtomicUsize::new(0),
        }
    }

    pub fn permits(&self) -> usize {
        self.permits
    }

    /// A place for one hash, or `None` when every place is taken.
    pub fn try_acquire(&self) -> Option<HashPermit<'_>> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.permits).then_some(n + 1)
            })
            .ok()
            .map(|_| HashPermit(&self.in_use))
    }
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for storage.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Random)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Spends the same work as [`verify`] for an unknown user, so that response time does not tell
/// which emails exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash("tenantgate-dummy-password").ok()) {
        let _ = verify(password, phc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_holds_as_many_hashes_as_the_memory_allows() {
        let gate = HashGate::with_memory(2 * HASH_MEMORY_KIB + 1);
        assert_eq!(gate.permits(), 2);
        let a = gate.try_acquire();
        let b = gate.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(gate.try_acquire().is_none(), "full");
        drop(a);
        assert!(gate.try_acquire().is_some(), "a place was freed");
        assert_eq!(HashGate::with_memory(0).permits(), 1, "at least one");
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a phc string"));
        assert_ne!(h, hash("correct horse").expect("hash"), "salts differ");
    }
}
