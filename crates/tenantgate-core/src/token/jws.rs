//! Strict compact-JWS parsing (RFC 7515, RFC 7519, RFC 8725).
//!
//! Refused here, before any key is looked at: anything but three unpadded base64url segments,
//! a header or payload that is not a JSON object, duplicate member names at any depth (two
//! parsers that pick different duplicates see different claims), any `alg` but `RS256`, and any
//! `crit`. `jku`, `x5u`, `jwk` and `x5c` are ignored: keys come only from the provider's JWKS.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::denial::Denial;

/// The signing algorithms this verifier accepts (RFC 8725 section 3.1: one, explicitly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone, PartialEq)]
pub struct Jws<'a> {
    pub alg: Algorithm,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The header's `typ`, if any (informational: not checked).
    pub typ: Option<String>,
    /// The payload's members. Unverified until the signature has been checked.
    pub claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// Parse a compact JWS. The token is untrusted: every failure is a [`Denial`], never a panic.
pub fn parse(token: &str) -> Result<Jws<'_>, Denial> {
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Denial::TokenMalformed);
    };
    // Both lengths come from the same string: the signing input is the prefix up to the 2nd dot.
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(Denial::TokenMalformed)?;

    let header = decode_object(header_b64)?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => Algorithm::Rs256,
        Some(Value::String(_)) => return Err(Denial::AlgorithmNotAllowed),
        _ => return Err(Denial::TokenMalformed),
    };
    if header.contains_key("crit") {
        return Err(Denial::CriticalHeaderUnsupported);
    }
    let kid = optional_string(&header, "kid")?;
    let typ = optional_string(&header, "typ")?;

    if signature_b64.is_empty() {
        return Err(Denial::TokenMalformed);
    }
    let claims = decode_object(payload_b64)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| Denial::TokenMalformed)?;
    Ok(Jws {
        alg,
        kid,
        typ,
        claims,
        signing_input,
        signature,
    })
}

fn optional_string(header: &Map<String, Value>, name: &str) -> Result<Option<String>, Denial> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Denial::TokenMalformed),
    }
}

/// Decode one unpadded base64url segment holding a JSON object without duplicate members.
fn decode_object(segment: &str) -> Result<Map<String, Value>, Denial> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Denial::TokenMalformed)?;
    parse_object(&bytes).ok_or(Denial::TokenMalformed)
}

/// Parse a JSON object, refusing duplicate member names at any depth. serde_json alone keeps
/// the last duplicate, while other parsers keep the first: RFC 8725 section 2.8 parser
/// differentials. Nesting is bounded by serde_json's recursion limit (128).
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Some(map),
        _ => None,
    }
}

/// A JSON value whose deserialization fails on duplicate object members.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate object members")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate object member"));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header),
            b64(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    const HEADER: &str = r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#;
    const PAYLOAD: &str = r#"{"iss":"https://idp","sub":"u1","exp":10}"#;

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(HEADER, PAYLOAD, b"sig");
        let jws = parse(&t).expect("parses");
        assert_eq!(jws.alg, Algorithm::Rs256);
        assert_eq!(jws.kid.as_deref(), Some("k1"));
        assert_eq!(jws.typ.as_deref(), Some("JWT"));
        assert_eq!(jws.claims["iss"], "https://idp");
        assert_eq!(jws.signature, b"sig");
        assert_eq!(
            jws.signing_input,
            format!("{}.{}", b64(HEADER), b64(PAYLOAD))
        );
    }

    #[test]
    fn segment_count_must_be_three() {
        let t = token(HEADER, PAYLOAD, b"sig");
        let (hp, _) = t.rsplit_once('.').expect("dot");
        assert_eq!(parse(hp), Err(Denial::TokenMalformed));
        assert_eq!(parse(&format!("{t}.x")), Err(Denial::TokenMalformed));
        assert_eq!(parse(""), Err(Denial::TokenMalformed));
        assert_eq!(parse(".."), Err(Denial::TokenMalformed));
        assert_eq!(
            parse(&format!("{hp}.")),
            Err(Denial::TokenMalformed),
            "empty signature"
        );
    }

    #[test]
    fn base64_must_be_unpadded_url_safe_and_canonical() {
        let h = b64(HEADER);
        let p = b64(PAYLOAD);
        // Padding.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(b"sig1");
        assert!(padded.ends_with('='));
        assert_eq!(
            parse(&format!("{h}.{p}.{padded}")),
            Err(Denial::TokenMalformed)
        );
        // Standard alphabet characters.
        assert_eq!(parse(&format!("{h}.{p}.ab+/")), Err(Denial::TokenMalformed));
        // Non-canonical trailing bits: "c2ln" is "sig"; "c2lo" decodes the same bytes in lenient
        // decoders for a 2-char tail; use a 2-char tail with non-zero spare bits.
        assert_eq!(parse(&format!("{h}.{p}.YR")), Err(Denial::TokenMalformed));
        assert!(parse(&format!("{h}.{p}.YQ")).is_ok());
        // Whitespace inside a segment.
        assert_eq!(parse(&format!("{h}.{p} .YQ")), Err(Denial::TokenMalformed));
    }

    #[test]
    fn header_and_payload_must_be_objects() {
        for bad in ["[]", "\"x\"", "1", "null", "", "{", "{}x", "{\"a\":1} {}"] {
            assert_eq!(
                parse(&token(HEADER, bad, b"s")),
                Err(Denial::TokenMalformed),
                "payload {bad}"
            );
            assert_eq!(
                parse(&token(bad, PAYLOAD, b"s")),
                Err(Denial::TokenMalformed),
                "header {bad}"
            );
        }
        assert_eq!(
            parse(&format!("{}.{}.YQ", b64(HEADER), "%%%")),
            Err(Denial::TokenMalformed)
        );
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        let dup = r#"{"sub":"a","sub":"b","exp":1}"#;
        assert_eq!(
            parse(&token(HEADER, dup, b"s")),
            Err(Denial::TokenMalformed)
        );
        let nested = r#"{"sub":"a","x":{"y":1,"y":2}}"#;
        assert_eq!(
            parse(&token(HEADER, nested, b"s")),
            Err(Denial::TokenMalformed)
        );
        let in_array = r#"{"sub":"a","x":[{"y":1,"y":2}]}"#;
        assert_eq!(
            parse(&token(HEADER, in_array, b"s")),
            Err(Denial::TokenMalformed)
        );
        let dup_alg = r#"{"alg":"none","alg":"RS256"}"#;
        assert_eq!(
            parse(&token(dup_alg, PAYLOAD, b"s")),
            Err(Denial::TokenMalformed)
        );
        // Escapes that spell the same name are the same name.
        let escaped = r#"{"sub":"a","s\u0075b":"b"}"#;
        assert_eq!(
            parse(&token(HEADER, escaped, b"s")),
            Err(Denial::TokenMalformed)
        );
    }

    #[test]
    fn only_rs256_is_accepted() {
        for alg in [
            "none", "None", "HS256", "HS384", "HS512", "PS256", "RS384", "RS512", "ES256", "EdDSA",
            "rs256", "",
        ] {
            let header = format!(r#"{{"alg":"{alg}","kid":"k1"}}"#);
            assert_eq!(
                parse(&token(&header, PAYLOAD, b"s")),
                Err(Denial::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        for header in [r#"{"kid":"k1"}"#, r#"{"alg":null}"#, r#"{"alg":["RS256"]}"#] {
            assert_eq!(
                parse(&token(header, PAYLOAD, b"s")),
                Err(Denial::TokenMalformed),
                "{header}"
            );
        }
    }

    #[test]
    fn crit_is_refused_and_key_urls_are_ignored() {
        let crit = r#"{"alg":"RS256","crit":["b64"],"b64":false}"#;
        assert_eq!(
            parse(&token(crit, PAYLOAD, b"s")),
            Err(Denial::CriticalHeaderUnsupported)
        );
        let embedded = r#"{"alg":"RS256","jku":"https://evil/jwks","x5u":"https://evil","jwk":{"kty":"RSA"},"x5c":["MII"]}"#;
        let t = token(embedded, PAYLOAD, b"s");
        let jws = parse(&t).expect("parses");
        assert_eq!(jws.kid, None);
    }

    #[test]
    fn kid_and_typ_must_be_strings() {
        let h = r#"{"alg":"RS256","kid":1}"#;
        assert_eq!(parse(&token(h, PAYLOAD, b"s")), Err(Denial::TokenMalformed));
        let h = r#"{"alg":"RS256","typ":{}}"#;
        assert_eq!(parse(&token(h, PAYLOAD, b"s")), Err(Denial::TokenMalformed));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing() {
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse(&token(HEADER, &deep, b"s")),
            Err(Denial::TokenMalformed)
        );
    }

    #[test]
    fn invalid_utf8_and_lone_surrogates_are_refused() {
        let bad_utf8 = URL_SAFE_NO_PAD.encode(b"{\"sub\":\"\xff\"}");
        assert_eq!(
            parse(&format!("{}.{bad_utf8}.YQ", b64(HEADER))),
            Err(Denial::TokenMalformed)
        );
        let surrogate = r#"{"sub":"\ud800"}"#;
        assert_eq!(
            parse(&token(HEADER, surrogate, b"s")),
            Err(Denial::TokenMalformed)
        );
    }
}
