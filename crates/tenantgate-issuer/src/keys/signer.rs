//! Signing: RSA key material, the parsed current key, compact JWS (RS256), verification of the
//! issuer's own tokens, and the JWKS that publishes the keys.

use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::json;

use super::{classify, load_rows, KeyError, KeyInfo, KeyRing, KeyState, SigningKey, KEY_BITS};
use crate::config::CLOCK_LEEWAY;
use crate::storage::Store;
use crate::{b64, b64_decode};
use tenantgate_core::token::claims::{AccessClaims, AccessHeader};

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

impl KeyInfo {
    /// The key as a JWK (RFC 7517) for the JWKS.
    pub fn jwk(&self) -> serde_json::Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e})
    }
}

impl KeyRing {
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
    /// The key that signs at `now`.
    pub fn signer(&self, store: &Store, now: i64) -> Result<(String, Arc<SigningKey>), KeyError> {
        self.not_refused()?;
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
        let kp = Arc::new(self.vault.load(row)?);
        self.parsed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.kid.clone(), kp.clone());
        Ok((row.kid.clone(), kp))
    }

    /// Whether the issuer can sign now: a current key, and, if its custody failed to sign the
    /// last time, a probe it signs now (one call to the KMS or token, only while failing).
    pub fn health(&self, store: &Store, now: i64) -> Result<(), KeyError> {
        let (_, key) = self.signer(store, now)?;
        self.vault.health(&key)
    }

    /// Signs `claims` with the current key. A lifetime longer than any the key signed so far is
    /// recorded first, so that the schedule keeps the key published as long as the token lives.
    pub fn sign(&self, store: &Store, claims: &AccessClaims, now: i64) -> Result<String, KeyError> {
        let (kid, kp) = self.signer(store, now)?;
        let lifetime = claims.exp.saturating_sub(claims.iat);
        let recorded = store.tx(|tx| {
            let row = tx.query_opt(
                "SELECT longest_ttl FROM signing_keys WHERE kid = $1",
                &[kid.as_str().into()],
            )?;
            row.map(|r| r.int(0)).transpose()
        })?;
        if recorded.is_some_and(|longest| longest < lifetime) {
            store.tx(|tx| {
                tx.exec(
                    "UPDATE signing_keys SET longest_ttl = $1 WHERE kid = $2 AND longest_ttl < $1",
                    &[lifetime.into(), kid.as_str().into()],
                )
            })?;
        }
        jws(&kid, claims, |input| self.vault.sign(&kp, input))
    }

    /// Signs the compact-JWS signing input that `input` builds for the current key's kid
    /// (RS256, wherever the key is held) and returns the whole JWS: for documents other than
    /// access tokens, such as the signed tenant directory.
    pub fn sign_document(
        &self,
        store: &Store,
        now: i64,
        input: impl FnOnce(&str) -> Result<String, KeyError>,
    ) -> Result<String, KeyError> {
        let (kid, key) = self.signer(store, now)?;
        let mut jws = input(&kid)?;
        let sig = self.vault.sign(&key, jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&b64(&sig));
        Ok(jws)
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

/// A compact JWS: base64url(header).base64url(claims).base64url(RS256 signature).
pub fn sign(kp: &RsaKeyPair, kid: &str, claims: &AccessClaims) -> Result<String, KeyError> {
    jws(kid, claims, |input| sign_local(kp, input))
}

/// A compact JWS whose signing input `signature` signs (RS256), wherever the key is held.
fn jws(
    kid: &str,
    claims: &AccessClaims,
    signature: impl FnOnce(&[u8]) -> Result<Vec<u8>, KeyError>,
) -> Result<String, KeyError> {
    let header =
        serde_json::to_vec(&AccessHeader::rs256(kid)).map_err(|e| KeyError::Sign(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
    let input = format!("{}.{}", b64(&header), b64(&payload));
    let sig = signature(input.as_bytes())?;
    Ok(format!("{input}.{}", b64(&sig)))
}

/// The RS256 signature of `message` by a key the issuer holds.
pub(super) fn sign_local(kp: &RsaKeyPair, message: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut sig = vec![0u8; kp.public().modulus_len()];
    kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
        .map_err(|_| KeyError::Sign("RSA signing failed".into()))?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            permissions: None,
            target_tenant: None,
            amr: None,
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
}
