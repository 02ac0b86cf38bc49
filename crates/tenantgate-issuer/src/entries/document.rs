//! The signed tenant directory: a compact JWS, header `{"alg":"RS256","typ":
//! "tenantgate-directory+jwt","kid":...}` (the `typ` keeps it from passing for an access token, and
//! it has no `aud` either), payload `{"iss","iat","tenants"}` with the entry of every enabled
//! tenant, signed with the key that signs access tokens, so a filter provider for this issuer
//! verifies it with the JWKS it already fetches.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{store, Entry};
use crate::b64;
use crate::keys::{KeyError, KeyRing};
use crate::ops::OpError;
use crate::storage::Store;

/// The `typ` of the protected header.
pub const TYP: &str = "tenantgate-directory+jwt";

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct Payload<'a> {
    iss: &'a str,
    iat: i64,
    tenants: &'a BTreeMap<String, Entry>,
}

/// The directory of every enabled tenant, as issuer `iss` at `now`, signed with the current key
/// wherever it is held (files, KMS, PKCS#11).
pub fn signed(store: &Store, keys: &KeyRing, iss: &str, now: i64) -> Result<String, OpError> {
    let entries = store.tx(store::enabled_entries)?;
    Ok(keys.sign_document(store, now, |kid| signing_input(kid, iss, now, &entries))?)
}

/// `header.payload`, each base64url without padding: what the RS256 signature covers. The
/// payload is serialized straight from the entries (no intermediate JSON tree), so ten thousand
/// tenants cost one pass.
fn signing_input(
    kid: &str,
    iss: &str,
    iat: i64,
    tenants: &BTreeMap<String, Entry>,
) -> Result<String, KeyError> {
    let header = serde_json::to_vec(&Header {
        alg: "RS256",
        typ: TYP,
        kid,
    })
    .map_err(|e| KeyError::Sign(e.to_string()))?;
    let payload = serde_json::to_vec(&Payload { iss, iat, tenants })
        .map_err(|e| KeyError::Sign(e.to_string()))?;
    // Room for the signature of a 4096-bit key besides the two parts.
    let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 700);
    out.push_str(&b64(&header));
    out.push('.');
    out.push_str(&b64(&payload));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

    use crate::b64_decode;
    use crate::keys::{generate, thumbprint};

    /// The document as [`signed`] makes it, signed here with a key held in memory.
    fn sign(
        kp: &RsaKeyPair,
        kid: &str,
        iss: &str,
        iat: i64,
        tenants: &BTreeMap<String, Entry>,
    ) -> Result<String, KeyError> {
        let input = signing_input(kid, iss, iat, tenants)?;
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

    #[test]
    fn the_document_verifies_and_reads_back() {
        let (der, n, e) = generate().expect("key");
        let kp = RsaKeyPair::from_pkcs8(&der).expect("ring key");
        let kid = thumbprint(&n, &e);
        let mut tenants = BTreeMap::new();
        tenants.insert(
            "acme".to_string(),
            Entry {
                hosts: vec!["acme.example.com".into()],
                ..Entry::default()
            },
        );
        tenants.insert("globex".to_string(), Entry::default());
        let doc = sign(&kp, &kid, "https://issuer.test", 1_764_480_000, &tenants).expect("sign");
        let parts: Vec<&str> = doc.split('.').collect();
        assert_eq!(parts.len(), 3);
        let message = format!("{}.{}", parts[0], parts[1]);
        let (nb, eb, sb) = (
            b64_decode(&n).expect("n"),
            b64_decode(&e).expect("e"),
            b64_decode(parts[2]).expect("sig"),
        );
        assert!(tenantgate_core::verify::rs256::verify_components(
            &nb,
            &eb,
            message.as_bytes(),
            &sb
        ));
        let header: serde_json::Value =
            serde_json::from_slice(&b64_decode(parts[0]).expect("h")).expect("json");
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": TYP, "kid": kid})
        );
        let payload: serde_json::Value =
            serde_json::from_slice(&b64_decode(parts[1]).expect("p")).expect("json");
        assert_eq!(
            payload,
            serde_json::json!({
                "iss": "https://issuer.test",
                "iat": 1_764_480_000,
                "tenants": {"acme": {"hosts": ["acme.example.com"]}, "globex": {}}
            })
        );
    }
}
