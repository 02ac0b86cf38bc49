//! The well-known documents, `/healthz` and `/metrics`.

use super::*;

#[test]
fn well_known_documents_health_and_metrics() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let oidc = issuer.get("/.well-known/openid-configuration");
    assert_eq!(oidc.status, 200);
    assert_eq!(oidc.json()["issuer"], ISSUER);
    assert_eq!(
        oidc.json()["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    assert_eq!(
        oidc.json()["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = issuer.get("/.well-known/jwks.json");
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let keys = jwks.json()["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1);
    for field in ["kty", "use", "alg", "kid", "n", "e"] {
        assert!(keys[0][field].is_string(), "{field}");
    }
    // The filter's own JWKS parser accepts the document.
    let set = tenantgate_core::jwks::keyset::KeySet::from_json(&jwks.body)
        .expect("filter parses the JWKS");
    assert!(set.contains(keys[0]["kid"].as_str().expect("kid")));
    let health = issuer.get("/healthz");
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    let metrics = issuer.get("/metrics");
    assert!(metrics
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));
    assert!(metrics
        .text()
        .contains("# TYPE tenantgate_issuer_token_theft_total counter"));
}
