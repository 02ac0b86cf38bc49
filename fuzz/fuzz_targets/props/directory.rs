//! The property of the `directory_parse` fuzz target: the raw bytes as a document, and the bytes
//! as the payload of a document whose signature is taken as valid (a verifier that says yes), so
//! that the shape, entry, consistency and merge checks are reached.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use tenantgate_core::config::{self, Config};
use tenantgate_core::directory::{adopt, Input, TYP};
use tenantgate_core::jwks::keyset::{KeySet, RsaKey};

const NOW: u64 = 1_700_000_000;
// The modulus of a throwaway 2048-bit key: never used to verify here.
const RSA_N: &str = "3aNrmcZnZrTDGJAHP7VaAAPTTDzjrwKo2fmTZbsTCuEuwzLSzcZD5gkp4z7H3yG1v7JXLMlpw9hg3gB7DF-kycTpm4s3HgM1KsW3j6lAvtUvGUlgKUycnpkkYKxSWqOeBBnHK9VOrXQcbBpXrWjEd4c3FpDCT_je4FiaJn9-Nn3jk4c4w9Yi25LuVq3HtxPNYuB8HRlutJTO2P6_hil8DA9cfu-ACWEtfzwiJx_jO3EQsUDMj2Bb-o39LQ-nTU8hwnnezWbGOwhGf2PM_GwbotqG1uToTsDKgPpkUQKoTBR0i2JuytSEnopb2Od4fN1nifZ8mpkpXZb_8KPhA1YLzw";

fn config() -> (Config, KeySet) {
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "e": "AQAB", "n": RSA_N}]});
    let doc = json!({
        "providers": [
            {"name": "issuer", "issuer": "https://issuer", "audiences": ["api"], "jwks": {"inline": jwks}},
            {"name": "entra", "issuer": "https://entra", "audiences": ["api"], "tenant_claim": "tid",
             "tenant_map": {"g-acme": "acme"},
             "jwks": {"remote": {"cluster": "entra", "uri": "https://entra/keys"}}}
        ],
        "tenants": {"acme": {"hosts": ["acme.example.com"]}},
        "shared_hosts": ["api.example.com"],
        "host_templates": ["{tenant}.app.example.com"],
        "directory": {"provider": "issuer", "remote": {"cluster": "issuer", "uri": "http://issuer/v1/directory"},
                      "idp_clusters": ["egress"]}
    });
    let config = config::parse(doc.to_string().as_bytes()).expect("config");
    let keys = KeySet::from_value(&jwks).expect("keys");
    (config, keys)
}

/// Never panics; an adopted directory keeps every static tenant, and each dropped entry stays
/// out of the merged tenants. Whether the bytes, as a payload, were adopted.
pub fn directory(data: &[u8]) -> bool {
    let (config, keys) = config();
    let yes = |_: &RsaKey, _: &[u8], _: &[u8]| true;
    let input = Input {
        config: &config,
        keys: Some(&keys),
        verify: &yes,
        in_force: None,
        now: NOW,
    };
    let _ = adopt(data, &input);
    let header = json!({"alg": "RS256", "typ": TYP, "kid": "k1"}).to_string();
    let doc = format!(
        "{}.{}.AA",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(data)
    );
    let Ok(adoption) = adopt(doc.as_bytes(), &input) else {
        return false;
    };
    if let Some(gate) = &adoption.gate {
        let tenants = &gate.config().tenants;
        assert_eq!(tenants["acme"].hosts, ["acme.example.com"]);
        for dropped in &adoption.dropped {
            assert!(dropped.tenant == "acme" || !tenants.contains_key(&dropped.tenant));
        }
        assert_eq!(tenants.len(), 1 + adoption.directory.adopted);
    }
    true
}
