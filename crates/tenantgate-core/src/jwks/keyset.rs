//! JWKS parsing (RFC 7517) and key selection by `kid`.
//!
//! Only keys fit for RS256 verification are kept: `kty` "RSA", a modulus of 2048 to 8192 bits,
//! and `use`, `alg` and `key_ops` that, when present, allow RS256 signature verification. Other
//! keys (EC keys, encryption keys, small moduli) are skipped, not errors: a JWKS commonly mixes
//! them. A set with no usable key at all is an error, so that it never replaces a good one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::JwksError;

/// Smallest RSA modulus accepted (RFC 7518 section 3.3; what ring enforces too).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: ring's limit, and a bound on verification cost.
pub const MAX_RSA_BITS: usize = 8192;

/// An RSA public key usable for RS256: big-endian components without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    kid: Option<String>,
    /// The JWK's own `issuer` member (a shared JWKS such as Entra's names one per key): the key
    /// verifies only tokens whose `iss` it names.
    issuer: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
    fingerprint: KeyFingerprint,
    /// The DER SubjectPublicKeyInfo, built once at load for the host's `verify_signature`.
    spki: Vec<u8>,
}

/// SHA-256 of a key's material (modulus and exponent, each length-prefixed): tells two keys
/// apart when they share a `kid`, or when neither has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; 32]);

impl KeyFingerprint {
    /// The key's `issuer` counts too: a key whose issuer changed no longer vouches for the
    /// tokens it verified under the old one.
    fn of(n: &[u8], e: &[u8], issuer: Option<&str>) -> KeyFingerprint {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [n, e] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        if let Some(issuer) = issuer {
            ctx.update(&(issuer.len() as u64).to_be_bytes());
            ctx.update(issuer.as_bytes());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        KeyFingerprint(out)
    }
}

impl RsaKey {
    /// Build a key from big-endian modulus and exponent, checking what ring would check at
    /// verification time so that an unusable key is refused at load rather than per request.
    pub fn from_components(
        kid: Option<String>,
        n: &[u8],
        e: &[u8],
    ) -> Result<RsaKey, KeyRejection> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(n);
        if bits < MIN_RSA_BITS {
            return Err(KeyRejection::ModulusTooSmall(bits));
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyRejection::ModulusTooLarge(bits));
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(KeyRejection::BadModulus);
        }
        // ring: 3 <= e < 2^33, odd.
        if e.len() > 5 || bit_length(e) > 33 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
            return Err(KeyRejection::BadExponent);
        }
        Ok(RsaKey {
            kid,
            issuer: None,
            n: n.to_vec(),
            e: e.to_vec(),
            fingerprint: KeyFingerprint::of(n, e, None),
            spki: crate::verify::spki::rsa_spki_der(n, e),
        })
    }

    /// The key restricted to tokens whose `iss` `issuer` names (see [`RsaKey::issuer`]).
    pub fn with_issuer(mut self, issuer: Option<String>) -> RsaKey {
        self.fingerprint = KeyFingerprint::of(&self.n, &self.e, issuer.as_deref());
        self.issuer = issuer;
        self
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The JWK's `issuer` member, when it has one.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// What this key's material is, whatever its `kid`.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }

    /// Big-endian modulus, no leading zeros.
    pub fn n(&self) -> &[u8] {
        &self.n
    }

    /// Big-endian public exponent, no leading zeros.
    pub fn e(&self) -> &[u8] {
        &self.e
    }

    /// The key as a DER SubjectPublicKeyInfo (what the host's `verify_signature` takes).
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    pub fn bits(&self) -> usize {
        bit_length(&self.n)
    }
}

/// Why one JWK was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRejection {
    NotAnObject,
    NotRsa,
    /// `use` is present and not "sig".
    NotForSignatures,
    /// `alg` is present and not "RS256".
    OtherAlgorithm,
    /// `key_ops` is present and lacks "verify".
    NotForVerification,
    /// `n` or `e` is missing, not a string, or not unpadded base64url.
    BadEncoding,
    ModulusTooSmall(usize),
    ModulusTooLarge(usize),
    BadModulus,
    BadExponent,
    /// Another usable key of the set already has this `kid`.
    DuplicateKid,
    /// `issuer` is present and not a non-empty string.
    BadIssuer,
}

impl std::fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRejection::NotAnObject => f.write_str("the key is not a JSON object"),
            KeyRejection::NotRsa => f.write_str("kty is not \"RSA\""),
            KeyRejection::NotForSignatures => f.write_str("use is not \"sig\""),
            KeyRejection::OtherAlgorithm => f.write_str("alg is not \"RS256\""),
            KeyRejection::NotForVerification => f.write_str("key_ops does not include \"verify\""),
            KeyRejection::BadEncoding => f.write_str("n or e is missing or not unpadded base64url"),
            KeyRejection::ModulusTooSmall(bits) => {
                write!(
                    f,
                    "the modulus has {bits} bits; at least {MIN_RSA_BITS} are required"
                )
            }
            KeyRejection::ModulusTooLarge(bits) => {
                write!(
                    f,
                    "the modulus has {bits} bits; at most {MAX_RSA_BITS} are supported"
                )
            }
            KeyRejection::BadModulus => f.write_str("the modulus is even"),
            KeyRejection::BadExponent => {
                f.write_str("the exponent must be odd, at least 3 and below 2^33")
            }
            KeyRejection::DuplicateKid => f.write_str("an earlier key has the same kid"),
            KeyRejection::BadIssuer => f.write_str("issuer is not a non-empty string"),
        }
    }
}

/// The usable keys of one provider's JWKS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<RsaKey>,
    skipped: usize,
}

impl KeySet {
    /// Parse a JWKS document (`{"keys":[...]}`).
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc = crate::token::jws::parse_object(bytes).ok_or(JwksError::NotJson)?;
        Self::from_map(&doc)
    }

    /// Build from an already parsed JWKS document (the inline `jwks.inline` configuration).
    pub fn from_value(doc: &Value) -> Result<KeySet, JwksError> {
        match doc {
            Value::Object(map) => Self::from_map(map),
            _ => Err(JwksError::NotJson),
        }
    }

    fn from_map(doc: &Map<String, Value>) -> Result<KeySet, JwksError> {
        let Some(Value::Array(jwks)) = doc.get("keys") else {
            return Err(JwksError::NoKeysArray);
        };
        let mut set = KeySet {
            keys: Vec::with_capacity(jwks.len()),
            skipped: 0,
        };
        let mut first_rejection = None;
        for jwk in jwks {
            let parsed = parse_jwk(jwk).and_then(|key| {
                if set.keys.iter().any(|k| k.kid == key.kid) {
                    Err(KeyRejection::DuplicateKid)
                } else {
                    Ok(key)
                }
            });
            match parsed {
                Ok(key) => set.keys.push(key),
                Err(why) => {
                    set.skipped += 1;
                    first_rejection.get_or_insert(why);
                }
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                total: jwks.len(),
                first_rejection,
            });
        }
        Ok(set)
    }

    /// Whether a usable key has this `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key for a token's `kid`. A token without `kid` may only use a set holding exactly
    /// one key: guessing among several would turn every bad token into several RSA operations.
    pub fn find(&self, kid: Option<&str>) -> Option<&RsaKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None => match self.keys.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        }
    }

    /// Usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys of the document that were skipped as unusable (for logs and metrics).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    pub fn keys(&self) -> &[RsaKey] {
        &self.keys
    }
}

fn parse_jwk(jwk: &Value) -> Result<RsaKey, KeyRejection> {
    let Value::Object(jwk) = jwk else {
        return Err(KeyRejection::NotAnObject);
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err(KeyRejection::NotRsa);
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(KeyRejection::NotForSignatures),
    }
    match jwk.get("alg") {
        None => {}
        Some(Value::String(a)) if a == "RS256" => {}
        Some(_) => return Err(KeyRejection::OtherAlgorithm),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return Err(KeyRejection::NotForVerification),
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(KeyRejection::BadEncoding),
    };
    let issuer = match jwk.get("issuer") {
        None => None,
        Some(Value::String(issuer)) if !issuer.is_empty() => Some(issuer.clone()),
        Some(_) => return Err(KeyRejection::BadIssuer),
    };
    let n = decode_component(jwk.get("n"))?;
    let e = decode_component(jwk.get("e"))?;
    Ok(RsaKey::from_components(kid, &n, &e)?.with_issuer(issuer))
}

fn decode_component(value: Option<&Value>) -> Result<Vec<u8>, KeyRejection> {
    let Some(Value::String(s)) = value else {
        return Err(KeyRejection::BadEncoding);
    };
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| KeyRejection::BadEncoding)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Bit length of a big-endian integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(&top) => bytes.len() * 8 - top.leading_zeros() as usize,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake but structurally valid 2048-bit modulus: top bit set, odd.
    pub(crate) fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0x5a_u8; bits.div_ceil(8)];
        let spare = n.len() * 8 - bits;
        if let Some(first) = n.first_mut() {
            *first = 0x80 >> spare;
        }
        if let Some(last) = n.last_mut() {
            *last |= 1;
        }
        n
    }

    pub(crate) fn jwk(kid: &str, bits: usize) -> Value {
        serde_json::json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(modulus(bits)), "e": "AQAB"
        })
    }

    fn set(keys: Vec<Value>) -> Result<KeySet, JwksError> {
        KeySet::from_json(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn a_keys_own_issuer_is_kept_and_tells_keys_apart() {
        let mut scoped = jwk("a", 2048);
        scoped["issuer"] = serde_json::json!("https://login.example.com/{tenantid}/v2.0");
        let with_issuer = set(vec![scoped.clone()]).expect("valid");
        let plain = set(vec![jwk("a", 2048)]).expect("valid");
        let (scoped_key, plain_key) = (&with_issuer.keys()[0], &plain.keys()[0]);
        assert_eq!(
            scoped_key.issuer(),
            Some("https://login.example.com/{tenantid}/v2.0")
        );
        assert_eq!(plain_key.issuer(), None);
        assert_ne!(scoped_key.fingerprint(), plain_key.fingerprint());
        for bad in [serde_json::json!(7), serde_json::json!("")] {
            scoped["issuer"] = bad;
            assert!(matches!(
                set(vec![scoped.clone()]),
                Err(JwksError::NoUsableKey {
                    first_rejection: Some(KeyRejection::BadIssuer),
                    ..
                })
            ));
        }
    }

    #[test]
    fn parses_rsa_keys_and_finds_them_by_kid() {
        let ks = set(vec![jwk("a", 2048), jwk("b", 4096)]).expect("valid");
        assert_eq!(ks.len(), 2);
        assert!(ks.contains("a") && ks.contains("b") && !ks.contains("c"));
        assert_eq!(ks.find(Some("b")).map(RsaKey::bits), Some(4096));
        assert_eq!(ks.find(Some("c")), None);
        assert_eq!(ks.find(None), None, "no kid with two keys is ambiguous");
        let one = set(vec![jwk("a", 2048)]).expect("valid");
        assert_eq!(one.find(None).and_then(RsaKey::kid), Some("a"));
    }

    #[test]
    fn small_and_oversized_keys_are_skipped() {
        let err = set(vec![jwk("small", 2047), jwk("tiny", 1024)]).expect_err("nothing usable");
        assert!(matches!(
            err,
            JwksError::NoUsableKey {
                total: 2,
                first_rejection: Some(KeyRejection::ModulusTooSmall(2047))
            }
        ));
        let ks =
            set(vec![jwk("small", 1024), jwk("ok", 2048), jwk("huge", 8200)]).expect("one usable");
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.skipped(), 2);
        assert!(ks.contains("ok") && !ks.contains("small") && !ks.contains("huge"));
    }

    #[test]
    fn use_alg_and_key_ops_are_honoured() {
        let mut enc = jwk("enc", 2048);
        enc["use"] = "enc".into();
        let mut rs512 = jwk("rs512", 2048);
        rs512["alg"] = "RS512".into();
        let mut ps256 = jwk("ps256", 2048);
        ps256["alg"] = "PS256".into();
        let mut sign_only = jwk("sign", 2048);
        sign_only["key_ops"] = serde_json::json!(["sign"]);
        let mut verify = jwk("verify", 2048);
        verify["key_ops"] = serde_json::json!(["verify"]);
        let mut bare = jwk("bare", 2048);
        bare.as_object_mut().map(|o| {
            o.remove("use");
            o.remove("alg")
        });
        let ks = set(vec![enc, rs512, ps256, sign_only, verify, bare]).expect("valid");
        let kids: Vec<_> = ks.keys().iter().filter_map(RsaKey::kid).collect();
        assert_eq!(kids, ["verify", "bare"]);
    }

    #[test]
    fn other_key_types_are_skipped() {
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","kid":"ec","x":"AA","y":"AA"});
        let oct = serde_json::json!({"kty":"oct","kid":"h","k":"AAAA"});
        let ks = set(vec![ec, oct, jwk("rsa", 2048)]).expect("valid");
        assert_eq!(ks.len(), 1);
        assert!(ks.contains("rsa"));
    }

    #[test]
    fn bad_components_are_skipped() {
        let mut padded = jwk("p", 2048);
        padded["e"] = "AQAB==".into();
        let mut even = jwk("even", 2048);
        let mut n = modulus(2048);
        if let Some(last) = n.last_mut() {
            *last &= 0xfe;
        }
        even["n"] = URL_SAFE_NO_PAD.encode(n).into();
        let mut e_one = jwk("e1", 2048);
        e_one["e"] = "AQ".into();
        let mut e_even = jwk("e2", 2048);
        e_even["e"] = "AAI".into();
        let mut e_big = jwk("e3", 2048);
        e_big["e"] = URL_SAFE_NO_PAD.encode([1, 0, 0, 0, 0, 1]).into();
        let mut kid_number = jwk("x", 2048);
        kid_number["kid"] = 7.into();
        let mut missing_n = jwk("m", 2048);
        missing_n.as_object_mut().map(|o| o.remove("n"));
        let err = set(vec![
            padded, even, e_one, e_even, e_big, kid_number, missing_n,
        ])
        .expect_err("none");
        assert!(matches!(err, JwksError::NoUsableKey { total: 7, .. }));
    }

    #[test]
    fn leading_zeros_do_not_count_towards_size() {
        let mut n = vec![0, 0];
        n.extend(modulus(2040));
        let key = RsaKey::from_components(None, &n, &[0, 1, 0, 1]);
        assert_eq!(key, Err(KeyRejection::ModulusTooSmall(2040)));
        let mut n = vec![0];
        n.extend(modulus(2048));
        let key = RsaKey::from_components(None, &n, &[0, 1, 0, 1]).expect("usable");
        assert_eq!(key.n().len(), 256);
        assert_eq!(key.e(), [1, 0, 1]);
    }

    #[test]
    fn duplicate_kids_keep_the_first() {
        let ks = set(vec![jwk("a", 2048), jwk("a", 3072)]).expect("valid");
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.find(Some("a")).map(RsaKey::bits), Some(2048));
    }

    #[test]
    fn documents_that_are_not_a_jwks_are_refused() {
        assert!(matches!(
            KeySet::from_json(b"not json"),
            Err(JwksError::NotJson)
        ));
        assert!(matches!(KeySet::from_json(b"[]"), Err(JwksError::NotJson)));
        assert!(matches!(
            KeySet::from_json(b"{}"),
            Err(JwksError::NoKeysArray)
        ));
        assert!(matches!(
            KeySet::from_json(br#"{"keys":{}}"#),
            Err(JwksError::NoKeysArray)
        ));
        assert!(matches!(
            KeySet::from_json(br#"{"keys":[]}"#),
            Err(JwksError::NoUsableKey { total: 0, .. })
        ));
        assert!(matches!(
            KeySet::from_json(br#"{"keys":[],"keys":[]}"#),
            Err(JwksError::NotJson)
        ));
        assert!(matches!(
            KeySet::from_value(&Value::Null),
            Err(JwksError::NotJson)
        ));
    }
}
