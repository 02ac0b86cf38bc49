//! A provider with the throwaway test key of the unit tests, for the verification targets.

use serde_json::json;
use tenantgate_core::config::Provider;
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::verify::KeySource;

pub const KEY_DER: &[u8] = include_bytes!("../../crates/tenantgate-core/src/verify/testdata/rsa2048_a.der");
pub const NOW: u64 = 1_700_000_000;

pub struct Keys(pub KeySet);

impl KeySource for Keys {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        (provider == 0).then_some(&self.0)
    }
    fn may_refetch(&self, _provider: usize) -> bool {
        true
    }
}

pub fn setup() -> (Vec<Provider>, Keys, ring::signature::RsaKeyPair) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let pair = ring::signature::RsaKeyPair::from_der(KEY_DER).expect("test key");
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
    }]});
    let keys = Keys(KeySet::from_value(&jwks).expect("key set"));
    let provider: Provider = serde_json::from_value(json!({
        "name": "idp", "issuer": "https://idp", "audiences": ["api"],
        "max_lifetime_seconds": 86400,
        "jwks": {"remote": {"cluster": "idp", "uri": "https://idp/jwks"}},
    }))
    .expect("provider");
    let bound: Provider = serde_json::from_value(json!({
        "name": "solo", "issuer": "https://solo", "audiences": ["api"], "tenant": "solo",
        "roles_claim": "groups", "jwks": {"remote": {"cluster": "solo", "uri": "https://solo/jwks"}},
    }))
    .expect("provider");
    (vec![provider, bound], keys, pair)
}
