//! Key integrity: a private key must be the one its published public key and kid describe. A
//! key file swapped or restored from the wrong backup would otherwise sign tokens that no
//! verifier accepts while `/healthz` says all is well. Checked when a key is first parsed, over
//! every published key at start (`serve` refuses to start) and after every rotation (the issuer
//! refuses to sign until fixed), and on demand with `keys check`. A key held by a KMS or token
//! is checked the same way: the public key it reports must be the published one, and a probe
//! it signs must verify with the published key.

use ring::signature::{RsaKeyPair, RsaPublicKeyComponents};

use super::{load_rows, thumbprint, KeyError, KeyRing, KeyRow, KeyState};
use crate::b64;
use crate::storage::Store;

/// Parses `der` as the private key of `row` and proves it matches: same modulus and exponent as
/// the stored public key, whose RFC 7638 thumbprint is the kid.
pub(super) fn parse_verified(row: &KeyRow, der: &[u8]) -> Result<RsaKeyPair, KeyError> {
    let mismatch = |message: String| KeyError::Integrity {
        kid: row.kid.clone(),
        message,
    };
    let kp = RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::Load {
        kid: row.kid.clone(),
        message: format!("not a usable RSA PKCS#8 key: {e}"),
    })?;
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
    if b64(&public.n) != row.n || b64(&public.e) != row.e {
        return Err(mismatch(
            "the private key is not the one whose public key is published".into(),
        ));
    }
    let kid = thumbprint(&row.n, &row.e);
    if kid != row.kid {
        return Err(mismatch(format!(
            "the published public key has thumbprint {kid}, not this kid"
        )));
    }
    Ok(kp)
}

/// Proves that the key `custody` holds for `row` is the published one: its public parts (as
/// the KMS or token reports them) match, the kid is their thumbprint, and a probe it signs
/// verifies with the published key.
pub(super) fn verify_held(
    row: &KeyRow,
    custody: &str,
    n: &[u8],
    e: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, KeyError>,
) -> Result<(), KeyError> {
    let mismatch = |message: String| KeyError::Integrity {
        kid: row.kid.clone(),
        message,
    };
    if b64(n) != row.n || b64(e) != row.e {
        return Err(mismatch(format!(
            "{custody} holds another key than the one whose public key is published"
        )));
    }
    let kid = thumbprint(&row.n, &row.e);
    if kid != row.kid {
        return Err(mismatch(format!(
            "the published public key has thumbprint {kid}, not this kid"
        )));
    }
    let probe = format!("tenantgate-issuer key check {}", row.kid);
    let signature = sign(probe.as_bytes())?;
    let published = (
        crate::b64_decode(&row.n).unwrap_or_default(),
        crate::b64_decode(&row.e).unwrap_or_default(),
    );
    if !tenantgate_core::verify::rs256::verify_components(
        &published.0,
        &published.1,
        probe.as_bytes(),
        &signature,
    ) {
        return Err(mismatch(format!(
            "{custody} signs with another key than the one whose public key is published (a \
             KMS that does not implement MessageType DIGEST does this: see keys.kms.message_type)"
        )));
    }
    Ok(())
}

impl KeyRing {
    /// Checks every published key (next, current, retired); returns their kids. The first key
    /// that fails is reported; nothing is changed.
    pub fn check(&self, store: &Store, now: i64) -> Result<Vec<String>, KeyError> {
        let rows = store.tx(load_rows)?;
        let infos = super::classify(&rows, now, &self.timing);
        let mut checked = Vec::new();
        for (row, info) in rows.iter().zip(&infos) {
            if info.state == KeyState::Expired {
                continue;
            }
            self.vault.load(row)?;
            checked.push(row.kid.clone());
        }
        Ok(checked)
    }

    /// After a rotation: checks every key and, on failure, refuses to sign until a later check
    /// passes (a restart or the next rotation), so `/healthz` and every sign-in say why.
    pub(super) fn recheck(&self, store: &Store, now: i64) -> Result<(), KeyError> {
        let result = self.check(store, now).map(|_| ());
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        *refused = match &result {
            Err(e @ (KeyError::Integrity { .. } | KeyError::Load { .. })) => Some(e.to_string()),
            _ => None,
        };
        result
    }

    /// `Err` while a failed integrity check stands.
    pub(super) fn not_refused(&self) -> Result<(), KeyError> {
        match &*self.refused.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => Err(KeyError::Refused(why.clone())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{generate, test_rows::row};
    use super::*;

    #[test]
    fn a_held_key_must_sign_with_the_published_key() {
        use ring::signature::RsaKeyPair;
        let a = generate().expect("key a");
        let b = generate().expect("key b");
        let (ka, kb) = (
            RsaKeyPair::from_pkcs8(&a.0).expect("a"),
            RsaKeyPair::from_pkcs8(&b.0).expect("b"),
        );
        let parts = |k: &(Vec<u8>, String, String)| {
            (
                crate::b64_decode(&k.1).expect("n"),
                crate::b64_decode(&k.2).expect("e"),
            )
        };
        let (an, ae) = parts(&a);
        let (bn, be) = parts(&b);
        let row = row_of(&a);
        let by = |kp| move |m: &[u8]| super::super::signer::sign_local(kp, m);
        assert!(verify_held(&row, "test", &an, &ae, by(&ka)).is_ok());
        // Reports the published key but signs with another one.
        let e = verify_held(&row, "test", &an, &ae, by(&kb));
        assert!(matches!(e, Err(KeyError::Integrity { .. })), "{e:?}");
        // Reports another key.
        let e = verify_held(&row, "test", &bn, &be, by(&kb));
        assert!(matches!(e, Err(KeyError::Integrity { .. })), "{e:?}");
    }

    fn row_of(der_n_e: &(Vec<u8>, String, String)) -> KeyRow {
        let (_, n, e) = der_n_e;
        let mut r = row(1, 0);
        r.kid = thumbprint(n, e);
        r.n = n.clone();
        r.e = e.clone();
        r
    }

    #[test]
    fn a_private_key_must_match_its_public_key_and_kid() {
        let a = generate().expect("key a");
        let b = generate().expect("key b");
        assert!(parse_verified(&row_of(&a), &a.0).is_ok());
        let swapped = parse_verified(&row_of(&a), &b.0).map(|_| ());
        assert!(
            matches!(swapped, Err(KeyError::Integrity { .. })),
            "{swapped:?}"
        );
        let mut wrong_kid = row_of(&a);
        wrong_kid.kid = "not-the-thumbprint".into();
        let e = parse_verified(&wrong_kid, &a.0).map(|_| ());
        assert!(matches!(e, Err(KeyError::Integrity { .. })), "{e:?}");
        let garbage = parse_verified(&row_of(&a), b"not a key").map(|_| ());
        assert!(matches!(garbage, Err(KeyError::Load { .. })), "{garbage:?}");
    }
}
