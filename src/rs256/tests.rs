use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tenantgate_core::jwks::keyset::{KeySet, RsaKey};
use tenantgate_testkit::keys::{claims, jwks};
use tenantgate_testkit::TestKey;

use super::Rs256;
use crate::fake_host::{FakeHost, MemStore, VerifySignature};

fn host(behaviour: VerifySignature) -> FakeHost {
    let host = FakeHost::new(1_000, Rc::new(MemStore::default()), 1);
    host.set_verify_signature(behaviour);
    host
}

/// A key of the test harness, and a genuine signature and signing input under it.
fn signed() -> (RsaKey, Vec<u8>, Vec<u8>) {
    let key = TestKey::a("a1");
    let set = KeySet::from_value(&jwks(&[&key])).expect("key set");
    let rsa = set.find(Some("a1")).expect("the key").clone();
    let token = key.sign(&claims("https://i", "api", "acme", "u", &[]));
    let (input, signature) = token.rsplit_once('.').expect("a JWS");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    (rsa, input.as_bytes().to_vec(), signature)
}

fn tampered(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[7] ^= 0x04;
    out
}

#[test]
fn a_host_without_the_function_leaves_ring() {
    let host = host(VerifySignature::Missing);
    let rs256 = Rs256::probe(&host);
    assert!(!rs256.through_host);
    assert_eq!(host.stat("tenantgate.rs256.host"), 0);
    let calls = host.foreign_calls();
    assert_eq!(calls, 1, "the probe stops at the first failed call");

    let (key, input, sig) = signed();
    assert!(rs256.verify(&host, &key, &input, &sig));
    assert!(!rs256.verify(&host, &key, &tampered(&input), &sig));
    assert!(!rs256.verify(&host, &key, &input, &tampered(&sig)));
    assert_eq!(host.foreign_calls(), calls, "ring verified, not the host");
}

#[test]
fn a_host_that_says_yes_to_everything_is_not_trusted() {
    let host = host(VerifySignature::AlwaysValid);
    let rs256 = Rs256::probe(&host);
    assert!(!rs256.through_host);
    assert_eq!(host.stat("tenantgate.rs256.host"), 0);

    let (key, input, sig) = signed();
    assert!(!rs256.verify(&host, &key, &input, &tampered(&sig)));
    assert!(rs256.verify(&host, &key, &input, &sig));
}

#[test]
fn a_correct_host_verifies_every_signature() {
    let host = host(VerifySignature::Correct);
    let rs256 = Rs256::probe(&host);
    assert!(rs256.through_host);
    assert_eq!(host.stat("tenantgate.rs256.host"), 1);
    let probe_calls = host.foreign_calls();
    assert_eq!(probe_calls, 3, "one genuine signature and two forgeries");

    let (key, input, sig) = signed();
    assert!(rs256.verify(&host, &key, &input, &sig));
    assert!(!rs256.verify(&host, &key, &tampered(&input), &sig));
    assert!(!rs256.verify(&host, &key, &input, &tampered(&sig)));
    assert_eq!(host.foreign_calls(), probe_calls + 3);
    // A truncated or oversized signature is refused before any call.
    assert!(!rs256.verify(&host, &key, &input, &sig[1..]));
    assert!(!rs256.verify(&host, &key, &input, &[&sig[..], &[0]].concat()));
    assert_eq!(host.foreign_calls(), probe_calls + 3);
    assert_eq!(host.stat("tenantgate.rs256.host_failures"), 0);
}

#[test]
fn a_host_call_that_fails_later_is_decided_by_ring() {
    let host = host(VerifySignature::FailsAfter(3));
    let rs256 = Rs256::probe(&host);
    assert!(rs256.through_host);

    let (key, input, sig) = signed();
    assert!(rs256.verify(&host, &key, &input, &sig));
    assert!(
        !rs256.verify(&host, &key, &input, &tampered(&sig)),
        "an error is never valid"
    );
    assert!(!rs256.verify(&host, &key, &tampered(&input), &sig));
    assert_eq!(host.stat("tenantgate.rs256.host_failures"), 3);
}
