//! RS256 through the host's own crypto. Envoy registers the proxy-wasm foreign function
//! `verify_signature` (BoringSSL, natively): about 16 µs per check where ring compiled to wasm
//! takes about 200 µs inside V8 (docs/performance.md). The core stays host-free: the glue hands
//! in the call as a closure, and keeps ring ([`super::rs256`]) wherever the host is missing,
//! answers wrongly, or fails.
//!
//! The argument is Envoy's `VerifySignatureArguments` message (`hash_function` = 1,
//! `public_key` = 2 as DER SubjectPublicKeyInfo, `signature` = 3, `text` = 4), the answer a
//! `VerifySignatureResult` (`result` = 1, `error` = 2). Keys travel as the SubjectPublicKeyInfo
//! each [`RsaKey`] built once at load ([`RsaKey::spki`]). The filter's key rules (2048 to 8192
//! bits, the exponent) were enforced at load; the signature length rule is checked here, before
//! the call, so the host never decides what ring would refuse outright.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::proto::{self, ProtoError, Value};
use crate::jwks::keyset::RsaKey;

/// The foreign function's name.
pub const FUNCTION: &str = "verify_signature";

/// Envoy lower-cases it and knows "sha256", not "RS256".
const HASH_FUNCTION: &[u8] = b"sha256";
const ARG_HASH_FUNCTION: u32 = 1;
const ARG_PUBLIC_KEY: u32 = 2;
const ARG_SIGNATURE: u32 = 3;
const ARG_TEXT: u32 = 4;
const RESULT_VALID: u32 = 1;

/// The serialized arguments for one check.
pub fn arguments(spki: &[u8], text: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(spki.len() + text.len() + signature.len() + 24);
    proto::put_bytes(&mut out, ARG_HASH_FUNCTION, HASH_FUNCTION);
    proto::put_bytes(&mut out, ARG_PUBLIC_KEY, spki);
    proto::put_bytes(&mut out, ARG_SIGNATURE, signature);
    proto::put_bytes(&mut out, ARG_TEXT, text);
    out
}

/// Whether the host's answer says "valid": its `result` field (the last one, as protobuf merges;
/// absent is false). An answer that is not a `VerifySignatureResult` is an error.
pub fn parse_result(answer: &[u8]) -> Result<bool, ProtoError> {
    let mut valid = false;
    for (field, value) in proto::fields(answer)? {
        match (field, value) {
            (RESULT_VALID, Value::Varint(v)) => valid = v != 0,
            (RESULT_VALID, _) => return Err(ProtoError::Malformed),
            _ => {} // `error`: the host's reason, informative only.
        }
    }
    Ok(valid)
}

/// How one check through the host went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    Valid,
    Invalid,
    /// The call failed or its answer was unreadable: never a verdict; verify with ring instead.
    Failed,
}

/// Checks an RS256 `signature` of `text` under `key` through `call` (the host's
/// `verify_signature`, given the serialized arguments).
pub fn check<E>(
    call: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    key: &RsaKey,
    text: &[u8],
    signature: &[u8],
) -> HostCheck {
    // RFC 8017 section 8.2.2: the signature is exactly as long as the modulus (ring's rule too).
    if signature.len() != key.n().len() {
        return HostCheck::Invalid;
    }
    match call(&arguments(key.spki(), text, signature)).map(|answer| parse_result(&answer)) {
        Ok(Ok(true)) => HostCheck::Valid,
        Ok(Ok(false)) => HostCheck::Invalid,
        Ok(Err(_)) | Err(_) => HostCheck::Failed,
    }
}

/// Why the host's `verify_signature` is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The call failed (`NotFound`: the host has no such function) or answered garbage.
    Unavailable(String),
    /// A genuine signature was refused.
    RefusedGenuine,
    /// A forged signature was accepted.
    AcceptedForged,
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeFailure::Unavailable(why) => write!(f, "{FUNCTION} is unavailable ({why})"),
            ProbeFailure::RefusedGenuine => write!(f, "{FUNCTION} refused a genuine signature"),
            ProbeFailure::AcceptedForged => write!(f, "{FUNCTION} accepted a forged signature"),
        }
    }
}

/// A fixed 2048-bit key (e = 65537), a message and its RS256 signature, made with OpenSSL; the
/// private key was discarded.
const PROBE_N: &str = "mey44vIo3U1PrFCa-PreA_ckyW-ZLxEBMRsuUl1HPkU-e6_2nzRO9UMTLfADcwlJZaKZWswXB5ucGLSH231uGn2gjbvGyxqcePlDABgESfv6XkWZFsC6qd9bX3USO4VtfEib6cZsHc-tyGeJCtFwgXQ4uK80HAe2y3DVI8OaGzGid9Lsda2wGXaVGaCSLN1DjTuXPfoiaBOsV_qHkcq-mNB82MivS30ttLkaVxkjY2Y-u3VLbpK2Ftya41SeEZssFN2ach4PljKkJ9VgUDLjN4xRvFhjHyIn_oEJdKEqpLj963TJlTPPcEN3xuZP2JKUXZj8miryscFwaXW87Oc5vw";
const PROBE_E: [u8; 3] = [0x01, 0x00, 0x01];
const PROBE_TEXT: &[u8] = b"tenantgate: RS256 through the host, probe";
const PROBE_SIGNATURE: &str = "Cal284VESm5hu0hVCxN91CzMUMIVQc-X9epWCdofS5KWKHpIw30Ykl4EV-J0qkv67EmoJEd4Cf9T96cl5HJ0nvWk3bUaCLFvQ67NXXNh_jGTe_lOwbYO2uj6D9D2fciqACzzrBdRQh3-YdKweyRjLZ2qxyW7oOQiVZDzgd4dQGFtM0xg58rpCSVevs3IXhFbDFTE_E6XpyDpYxsz-ePviLVSrq8sKrXfEZp1YvXbKKsWQIql-Hy1AF-Bn2f4R-T89s2TUf43D2xn3CC68jTMAt1goAbzqSUw5zJluB3Sn6dibyukqSnS-zoaGBg0b90mbInn71c0rZ5VRAmOf6d0zg";

/// Whether the host's `verify_signature` can be trusted with RS256: through the very encoding
/// the requests use, it must accept the probe's genuine signature and refuse it over an altered
/// message and with one bit of it flipped. A host that says yes to everything, ignores the
/// text or the signature, refuses our key encoding, or lacks the function fails.
pub fn probe<E: std::fmt::Display>(
    mut call: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<(), ProbeFailure> {
    let broken = |what: &str| ProbeFailure::Unavailable(format!("the probe's {what} is broken"));
    let n = URL_SAFE_NO_PAD.decode(PROBE_N).map_err(|_| broken("key"))?;
    let key = RsaKey::from_components(None, &n, &PROBE_E).map_err(|_| broken("key"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(PROBE_SIGNATURE)
        .map_err(|_| broken("signature"))?;
    let mut altered_text = PROBE_TEXT.to_vec();
    altered_text[0] ^= 0x20;
    let mut flipped = signature.clone();
    if let Some(last) = flipped.last_mut() {
        *last ^= 0x01;
    }
    let cases = [
        (PROBE_TEXT, &signature, HostCheck::Valid),
        (&altered_text[..], &signature, HostCheck::Invalid),
        (PROBE_TEXT, &flipped, HostCheck::Invalid),
    ];
    for (text, signature, expected) in cases {
        let mut failure = None;
        let got = check(
            |args| {
                call(args).map_err(|e| {
                    failure = Some(e.to_string());
                })
            },
            &key,
            text,
            signature,
        );
        match got {
            HostCheck::Failed => {
                let why = failure.unwrap_or_else(|| "an unreadable answer".to_string());
                return Err(ProbeFailure::Unavailable(why));
            }
            got if got == expected => {}
            HostCheck::Invalid => return Err(ProbeFailure::RefusedGenuine),
            HostCheck::Valid => return Err(ProbeFailure::AcceptedForged),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
