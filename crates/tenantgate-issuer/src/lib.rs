//! tenantgate-issuer: the identity edge that signs the tokens the filter verifies.
//!
//! Per-tenant email/password sign-in, short-lived RS256 access tokens built from the one claim
//! schema ([`tenantgate_core::token::claims`]), rotating refresh tokens with theft detection, and a JWKS
//! whose keys rotate without a failed request. Everything durable lives in [`storage`] (SQLite by
//! default, PostgreSQL for replicas). The session flows ([`flows`]: sign-in, refresh, sign-out,
//! `mint`) and the administrative operations ([`ops`]) hold the behaviour; [`entries`] holds what the
//! signed tenant directory (`GET /v1/directory`) says about each tenant; [`logins`] each tenant's
//! login methods, [`totp`] and [`mfa`] the TOTP second factor; [`http`] and [`cli`]
//! are thin layers that parse input and render outcomes. See `docs/issuer.md` for the operator's
//! view.

pub mod audit;
pub mod cli;
pub mod config;
pub mod directory;
pub mod entries;
pub mod flows;
pub mod http;
pub mod keys;
pub mod logins;
pub mod metrics;
pub mod mfa;
pub mod ops;
pub mod password;
pub mod qr;
pub mod ratelimit;
pub mod sessions;
pub mod sso;
pub mod storage;
pub mod time;
pub mod totp;
pub mod validate;

use ring::rand::{SecureRandom, SystemRandom};

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_token(n: usize) -> Result<String, ring::error::Unspecified> {
    let mut buf = vec![0u8; n];
    SystemRandom::new().fill(&mut buf)?;
    Ok(b64(&buf))
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding (what `data:` URIs and most clients expect for binary fields).
pub(crate) fn b64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// base64url SHA-256: how refresh tokens and CSRF tokens are stored (never in clear).
pub(crate) fn sha256_b64(data: &[u8]) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// Equality that takes the same time whatever the inputs (both sides are hashed first, so length
/// differences do not leak either).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let ha = ring::digest::digest(&ring::digest::SHA256, a);
    let hb = ring::digest::digest(&ring::digest::SHA256, b);
    ha.as_ref()
        .iter()
        .zip(hb.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn random_tokens_are_distinct_and_url_safe() {
        let a = random_token(32).expect("rng");
        let b = random_token(32).expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
