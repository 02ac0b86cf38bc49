//! The verified-token cache of one worker.
//!
//! Keyed on the exact token, compared in full on every match: a hash collision can never serve
//! one token's outcome for another. Only tokens that passed the credential checks go in
//! ([`Checked`]), so a lookup with a raw credential that hits is one that passed them.
//!
//! The hash is foldhash (a folded multiply, several times cheaper than SipHash over a token of
//! a kilobyte), keyed per cache with a 64-bit seed from the host's randomness, so that clients
//! cannot compute which tokens share a bucket. It does not claim resistance against an attacker
//! who learns the seed (by timing, say); what colliding tokens could then do is bounded: each
//! entry costs the filter a signature verification to make (a forged token is remembered only
//! after it failed one), the maps are bounded by entries and bytes, so a lookup probes at most
//! the whole bounded map, and colliding entries can only evict others, never pass for them.
//!
//! Lookups borrow the token: no allocation on a miss, and a hit hands out the shared entry (an
//! `Arc`), not a copy. Bounded by entries and bytes; when full, expired entries go first, then
//! an arbitrary sixteenth of the rest (one O(n) pass per n/16 inserts).
//!
//! A hit is only used while the token is unexpired and the key that verified it is still the
//! key its provider's set holds under that `kid` (same material, not only the same name).
//! Refusals are cached too (a flood of one bad token costs one RSA operation), but only those
//! that time cannot undo.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::config::CacheConfig;
use crate::denial::Denial;
use crate::token::extract::Checked;

use super::{key_still_trusted, KeySource, VerifiedToken};

/// How long a refusal is remembered (seconds). Bounded, so that a key-set change on the
/// provider's side (the same `kid` with new material) is eventually seen.
pub const NEGATIVE_TTL_SECONDS: i64 = 300;

/// Approximate bookkeeping cost of one entry beyond its strings (map slot, lengths, times).
const ENTRY_OVERHEAD: usize = 96;
const ROLE_OVERHEAD: usize = 24;
/// Per claim of the kept payload, beyond its name and value (map node, `Value` tags).
const CLAIM_OVERHEAD: usize = 64;

/// Verified tokens and remembered refusals.
#[derive(Debug)]
pub struct TokenCache {
    verified: Bounded<Arc<VerifiedToken>>,
    refused: Bounded<Denial>,
    /// The latest `now` seen: `insert_verified` has no clock of its own.
    clock: i64,
}

impl TokenCache {
    /// A cache keyed with a seed from the process's randomness (std's, as `HashMap` uses).
    pub fn new(cfg: &CacheConfig) -> TokenCache {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        TokenCache::seeded(cfg, seed)
    }

    /// `max_entries` 0 turns the cache off; `negative_max_entries` 0 turns off refusals only.
    /// Refusals get an eighth of `max_bytes` on top of it. `seed` keys the hash: random, and
    /// never shown to clients.
    pub fn seeded(cfg: &CacheConfig, seed: u64) -> TokenCache {
        let negative_entries = if cfg.max_entries == 0 {
            0
        } else {
            cfg.negative_max_entries
        };
        TokenCache {
            verified: Bounded::new(cfg.max_entries, cfg.max_bytes, seed),
            refused: Bounded::new(negative_entries, cfg.max_bytes / 8, seed.rotate_left(32)),
            clock: 0,
        }
    }

    /// The cached outcome for `token` at `now` (unix seconds), if any: `Ok` for a token that
    /// verified, is unexpired and whose key is still trusted; `Err` for a remembered refusal.
    /// `token` may be unchecked: only checked tokens are ever held, so a hit is one.
    pub fn lookup(
        &mut self,
        token: &str,
        keys: &dyn KeySource,
        now: u64,
    ) -> Option<Result<Arc<VerifiedToken>, Denial>> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.clock = self.clock.max(now);
        if let Some(entry) = self.verified.get(token) {
            if now < entry.value.valid_until && key_still_trusted(keys, &entry.value) {
                return Some(Ok(Arc::clone(&entry.value)));
            }
            self.verified.remove(token);
            return None;
        }
        if let Some(entry) = self.refused.get(token) {
            if now < entry.expires {
                return Some(Err(entry.value));
            }
            self.refused.remove(token);
        }
        None
    }

    /// Remember a successful verification until the token expires.
    pub fn insert_verified(&mut self, token: Checked<'_>, verified: &Arc<VerifiedToken>) {
        let token = token.as_str();
        self.refused.remove(token);
        let size = ENTRY_OVERHEAD
            + token.len()
            + verified.tenant.len()
            + verified.subject.len()
            + verified.kid.as_ref().map_or(0, String::len)
            + verified
                .roles
                .iter()
                .map(|r| r.len() + ROLE_OVERHEAD)
                .sum::<usize>()
            + verified
                .kept
                .iter()
                .map(|(name, value)| CLAIM_OVERHEAD + name.len() + value_size(value))
                .sum::<usize>();
        self.verified.insert(
            token,
            Arc::clone(verified),
            verified.valid_until,
            size,
            self.clock,
        );
    }

    /// Remember a refusal, if it is one that cannot change with time or key rotation.
    pub fn insert_refused(&mut self, token: Checked<'_>, denial: Denial, now: u64) {
        let token = token.as_str();
        if !worth_remembering(denial) {
            return;
        }
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.clock = self.clock.max(now);
        self.verified.remove(token);
        let size = ENTRY_OVERHEAD + token.len();
        self.refused.insert(
            token,
            denial,
            now.saturating_add(NEGATIVE_TTL_SECONDS),
            size,
            now,
        );
    }

    /// Verified tokens held.
    pub fn len(&self) -> usize {
        self.verified.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.verified.map.is_empty()
    }

    /// Refusals held.
    pub fn refused_len(&self) -> usize {
        self.refused.map.len()
    }

    /// Approximate bytes held, verified tokens and refusals together.
    pub fn bytes(&self) -> usize {
        self.verified.bytes + self.refused.bytes
    }

    pub fn clear(&mut self) {
        self.verified.clear();
        self.refused.clear();
    }
}

/// Approximate memory held by a kept claim value: its strings plus a node overhead each. Its
/// depth is bounded by the JSON parser's recursion limit.
fn value_size(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    ROLE_OVERHEAD
        + match value {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(value_size).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
}

/// Refusals worth remembering: those that cost a signature verification to reach, and that
/// depend only on the token's bytes and the configuration (which does not change during a
/// cache's life), or that time only makes worse. Not: refusals found by parsing alone (malformed,
/// algorithm, `crit`, untrusted issuer), which cost less to find again than the space they would
/// take from the expensive ones in a flood; not-yet-valid and issued-in-the-future (time cures
/// them); key-not-found and keys-unavailable (a refetch cures them); anything that depends on the
/// request rather than the token.
pub fn worth_remembering(denial: Denial) -> bool {
    matches!(
        denial,
        Denial::SignatureInvalid
            | Denial::AudienceMismatch
            | Denial::TokenExpired
            | Denial::TokenLifetimeExceeded
            | Denial::ClaimMissing
            | Denial::ClaimInvalid
            | Denial::TenantMissing
    )
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// Unix seconds from which the entry is dead.
    expires: i64,
    size: usize,
}

/// A map bounded by entry count and approximate bytes.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<Box<str>, Entry<V>, FixedState>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<V> Bounded<V> {
    fn new(max_entries: usize, max_bytes: usize, seed: u64) -> Self {
        Bounded {
            map: HashMap::with_hasher(FixedState::with_seed(seed)),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn get(&self, key: &str) -> Option<&Entry<V>> {
        self.map.get(key)
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(old.size);
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    fn insert(&mut self, key: &str, value: V, expires: i64, size: usize, now: i64) {
        if self.max_entries == 0 || size > self.max_bytes || expires <= now {
            return;
        }
        self.remove(key);
        if self.map.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            self.evict(now, size);
        }
        self.bytes += size;
        self.map.insert(
            key.into(),
            Entry {
                value,
                expires,
                size,
            },
        );
    }

    /// Make room for one entry of `size` bytes: drop the expired; if that is not enough, drop
    /// arbitrary entries (iteration order is randomized per map) until a sixteenth is gone and
    /// the new one fits.
    fn evict(&mut self, now: i64, size: usize) {
        let Bounded {
            map,
            bytes,
            max_entries,
            max_bytes,
        } = self;
        map.retain(|_, entry| {
            if entry.expires <= now {
                *bytes = bytes.saturating_sub(entry.size);
                return false;
            }
            true
        });
        if map.len() < *max_entries && map_fits(*bytes, size, *max_bytes) {
            return;
        }
        let mut batch = (map.len() / 16).max(1);
        map.retain(|_, entry| {
            if batch > 0 || !map_fits(*bytes, size, *max_bytes) {
                batch = batch.saturating_sub(1);
                *bytes = bytes.saturating_sub(entry.size);
                return false;
            }
            true
        });
    }
}

fn map_fits(bytes: usize, extra: usize, max: usize) -> bool {
    bytes.saturating_add(extra) <= max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::keyset::tests::jwk;
    use crate::jwks::keyset::{KeySet, RsaKey};
    use crate::token::extract;

    struct Keys(Option<KeySet>);

    impl KeySource for Keys {
        fn key_set(&self, _provider: usize) -> Option<&KeySet> {
            self.0.as_ref()
        }
    }

    fn keys(kids: &[&str]) -> Keys {
        let list: Vec<_> = kids.iter().map(|k| jwk(k, 2048)).collect();
        let doc = serde_json::json!({ "keys": list });
        Keys(Some(KeySet::from_value(&doc).expect("valid")))
    }

    /// `token` as the cache takes it: checked.
    fn tok(token: &str) -> Checked<'_> {
        extract::check(token, usize::MAX).expect("a token68 test token")
    }

    /// A token verified by the 2048-bit test key named `kid`.
    fn verified(kid: &str, valid_until: i64) -> VerifiedToken {
        let key = keys(&[kid])
            .0
            .and_then(|set| set.find(Some(kid)).map(RsaKey::fingerprint));
        VerifiedToken {
            provider: 0,
            tenant: "acme".into(),
            subject: "alice".into(),
            roles: vec!["admin".into()],
            expires_at: valid_until - 60,
            valid_until,
            kid: Some(kid.into()),
            key,
            kept: serde_json::Map::new(),
        }
    }

    /// A set with one key of `bits` (different bits, different material) under `kid`.
    fn one_key(kid: Option<&str>, bits: usize) -> Keys {
        let mut key = jwk("unused", bits);
        match kid {
            Some(kid) => key["kid"] = kid.into(),
            None => drop(key.as_object_mut().and_then(|k| k.remove("kid"))),
        }
        let doc = serde_json::json!({ "keys": [key] });
        Keys(Some(KeySet::from_value(&doc).expect("valid")))
    }

    fn config(max_entries: usize, max_bytes: usize, negative: usize) -> CacheConfig {
        CacheConfig {
            max_entries,
            max_bytes,
            negative_max_entries: negative,
        }
    }

    #[test]
    fn a_verified_token_is_served_until_it_expires() {
        let mut cache = TokenCache::new(&CacheConfig::default());
        let ks = keys(&["k1"]);
        assert_eq!(cache.lookup("t1", &ks, 100), None);
        cache.insert_verified(tok("t1"), &Arc::new(verified("k1", 200)));
        assert_eq!(
            cache.lookup("t1", &ks, 199),
            Some(Ok(Arc::new(verified("k1", 200))))
        );
        assert_eq!(cache.lookup("t2", &ks, 199), None, "exact token only");
        assert_eq!(cache.lookup("t1x", &ks, 199), None);
        assert_eq!(cache.lookup("t1", &ks, 200), None, "expired with the token");
        assert_eq!(cache.len(), 0, "expired entries are dropped on sight");
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_hit_needs_the_same_key_material_under_its_kid() {
        let mut cache = TokenCache::new(&CacheConfig::default());
        cache.insert_verified(tok("t1"), &Arc::new(verified("k1", 1_000)));
        assert!(cache
            .lookup("t1", &one_key(Some("k1"), 2048), 100)
            .is_some());
        assert_eq!(
            cache.lookup("t1", &one_key(Some("k1"), 3072), 101),
            None,
            "the issuer reused the kid for a new key"
        );
        assert_eq!(cache.len(), 0);

        // An issuer that signs without a kid: the set's only key must still be the one.
        let mut unnamed = verified("k1", 1_000);
        unnamed.kid = None;
        cache.insert_verified(tok("t2"), &Arc::new(unnamed));
        assert!(cache.lookup("t2", &one_key(None, 2048), 102).is_some());
        assert_eq!(cache.lookup("t2", &one_key(None, 3072), 103), None);

        // Claims taken as signed (no key) are never served from the cache.
        let mut unsigned = verified("k1", 1_000);
        unsigned.key = None;
        cache.insert_verified(tok("t3"), &Arc::new(unsigned));
        assert_eq!(cache.lookup("t3", &one_key(Some("k1"), 2048), 104), None);
    }

    #[test]
    fn a_hit_needs_the_key_still_in_the_set() {
        let mut cache = TokenCache::new(&CacheConfig::default());
        cache.insert_verified(tok("t1"), &Arc::new(verified("k1", 1_000)));
        assert!(cache.lookup("t1", &keys(&["k1", "k2"]), 100).is_some());
        assert_eq!(
            cache.lookup("t1", &keys(&["k2"]), 101),
            None,
            "key rotated out"
        );
        assert_eq!(cache.len(), 0);
        cache.insert_verified(tok("t1"), &Arc::new(verified("k1", 1_000)));
        assert_eq!(cache.lookup("t1", &Keys(None), 102), None);
    }

    #[test]
    fn only_costly_permanent_refusals_are_remembered() {
        let mut cache = TokenCache::new(&CacheConfig::default());
        let ks = keys(&["k1"]);
        for (i, denial) in Denial::ALL.into_iter().enumerate() {
            let token = format!("bad{i}");
            cache.insert_refused(tok(&token), denial, 100);
            let cached = cache.lookup(&token, &ks, 101);
            if worth_remembering(denial) {
                assert_eq!(cached, Some(Err(denial)));
            } else {
                assert_eq!(cached, None, "{denial:?} must not be cached");
            }
        }
        for transient in [
            Denial::TokenNotYetValid,
            Denial::TokenIssuedInFuture,
            Denial::KeyNotFound,
            Denial::KeysUnavailable,
        ] {
            assert!(!worth_remembering(transient));
        }
        for cheap in [
            Denial::TokenMalformed,
            Denial::AlgorithmNotAllowed,
            Denial::CriticalHeaderUnsupported,
            Denial::IssuerNotTrusted,
        ] {
            assert!(
                !worth_remembering(cheap),
                "{cheap:?} is found by parsing alone"
            );
        }
        cache.insert_refused(tok("bad"), Denial::SignatureInvalid, 100);
        assert_eq!(
            cache.lookup("bad", &ks, 100 + NEGATIVE_TTL_SECONDS as u64),
            None,
            "refusals age out"
        );
    }

    #[test]
    fn a_success_replaces_a_refusal_and_back() {
        let mut cache = TokenCache::new(&CacheConfig::default());
        let ks = keys(&["k1"]);
        cache.insert_refused(tok("t"), Denial::SignatureInvalid, 10);
        cache.insert_verified(tok("t"), &Arc::new(verified("k1", 1_000)));
        assert!(matches!(cache.lookup("t", &ks, 11), Some(Ok(_))));
        assert_eq!(cache.refused_len(), 0);
        cache.insert_refused(tok("t"), Denial::TokenExpired, 12);
        assert_eq!(cache.lookup("t", &ks, 13), Some(Err(Denial::TokenExpired)));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn zero_entries_disables_the_cache() {
        let mut cache = TokenCache::new(&config(0, 1 << 20, 100));
        let ks = keys(&["k1"]);
        cache.insert_verified(tok("t"), &Arc::new(verified("k1", 1_000)));
        cache.insert_refused(tok("u"), Denial::SignatureInvalid, 1);
        assert_eq!(cache.lookup("t", &ks, 2), None);
        assert_eq!(cache.lookup("u", &ks, 2), None);
        assert!(cache.is_empty() && cache.refused_len() == 0 && cache.bytes() == 0);
    }

    #[test]
    fn entry_and_byte_bounds_hold() {
        let ks = keys(&["k1"]);
        let mut cache = TokenCache::new(&config(100, 1 << 20, 10));
        for i in 0..1_000 {
            cache.insert_verified(
                tok(&format!("token-{i}")),
                &Arc::new(verified("k1", 10_000)),
            );
            cache.insert_refused(tok(&format!("bad-{i}")), Denial::SignatureInvalid, 1);
            assert!(cache.len() <= 100 && cache.refused_len() <= 10);
        }
        // The latest insert is always kept.
        assert!(cache.lookup("token-999", &ks, 2).is_some());
        assert!(cache.lookup("bad-999", &ks, 2).is_some());

        let one = ENTRY_OVERHEAD
            + "token-00".len()
            + "acme".len()
            + "alice".len()
            + 2
            + 5
            + ROLE_OVERHEAD;
        let mut cache = TokenCache::new(&config(1_000, one * 10, 0));
        for i in 0..100 {
            cache.insert_verified(
                tok(&format!("token-{i:02}")),
                &Arc::new(verified("k1", 10_000)),
            );
            assert!(
                cache.bytes() <= one * 10,
                "{} > {}",
                cache.bytes(),
                one * 10
            );
        }
        assert!(cache.len() <= 10);
        // An entry larger than the whole budget is not cached (and evicts nothing).
        let before = cache.len();
        cache.insert_verified(
            tok(&"x".repeat(one * 10)),
            &Arc::new(verified("k1", 10_000)),
        );
        assert_eq!(cache.len(), before);
    }

    #[test]
    fn eviction_prefers_expired_entries() {
        let ks = keys(&["k1"]);
        let mut cache = TokenCache::new(&config(64, 1 << 20, 0));
        for i in 0..63 {
            cache.insert_verified(tok(&format!("old-{i}")), &Arc::new(verified("k1", 50)));
        }
        cache.insert_verified(tok("live"), &Arc::new(verified("k1", 10_000)));
        assert_eq!(
            cache.lookup("live", &ks, 60),
            Some(Ok(Arc::new(verified("k1", 10_000))))
        );
        cache.insert_verified(tok("new"), &Arc::new(verified("k1", 10_000)));
        assert!(cache.lookup("live", &ks, 61).is_some() && cache.lookup("new", &ks, 61).is_some());
        assert_eq!(cache.len(), 2, "every expired entry went in one pass");
    }
}
