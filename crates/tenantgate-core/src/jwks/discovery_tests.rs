use super::*;

const MAX: usize = 64 * 1024;

fn discovery(issuer: &str) -> Discovery {
    Discovery::new(issuer, "idp", Duration::from_millis(2_000)).expect(issuer)
}

fn doc(issuer: &str, jwks_uri: &str) -> Vec<u8> {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{issuer}/auth"),
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string()
    .into_bytes()
}

#[test]
fn the_document_url_is_the_issuer_with_the_well_known_path() {
    let d = discovery("https://idp.example.com");
    let callout = d.document_callout();
    assert_eq!(callout.cluster, "idp");
    assert_eq!(callout.authority, "idp.example.com");
    assert_eq!(callout.path, "/.well-known/openid-configuration");
    assert_eq!(callout.timeout, Duration::from_millis(2_000));
    // A path component is kept, its terminating slash removed (Discovery 1.0, section 4).
    for issuer in [
        "https://kc.example.com/realms/acme",
        "https://kc.example.com/realms/acme/",
    ] {
        assert_eq!(
            discovery(issuer).document_callout().path,
            "/realms/acme/.well-known/openid-configuration"
        );
    }
    assert_eq!(
        discovery("http://127.0.0.1:8080")
            .document_callout()
            .authority,
        "127.0.0.1:8080"
    );
}

#[test]
fn issuers_discovery_cannot_use_are_refused() {
    for issuer in [
        "https://login.microsoftonline.com/{tenant}/v2.0",
        "ftp://idp.example.com",
        "idp.example.com",
        "https://idp.example.com?x=1",
        "https://idp.example.com#f",
        "https://user@idp.example.com",
        "",
    ] {
        let err = Discovery::new(issuer, "idp", Duration::from_secs(1)).expect_err(issuer);
        assert!(
            matches!(&err, JwksError::BadUri(msg) if msg.contains("issuer")),
            "{issuer}: {err}"
        );
    }
}

#[test]
fn a_good_document_leads_to_the_jwks_on_the_issuers_host() {
    let d = discovery("https://idp.example.com/realms/acme");
    let body = doc(
        "https://idp.example.com/realms/acme",
        "https://IDP.example.com:443/realms/acme/protocol/openid-connect/certs",
    );
    let callout = d.jwks_callout(200, &body, MAX).expect("accepted");
    assert_eq!(callout.cluster, "idp");
    assert_eq!(callout.authority, "IDP.example.com:443");
    assert_eq!(callout.path, "/realms/acme/protocol/openid-connect/certs");
    assert_eq!(callout.timeout, Duration::from_millis(2_000));
}

#[test]
fn a_document_naming_another_issuer_is_refused() {
    let d = discovery("https://idp.example.com");
    for other in [
        "https://idp.example.com/",
        "https://IDP.example.com",
        "https://evil.example.com",
    ] {
        let err = d
            .jwks_callout(200, &doc(other, "https://idp.example.com/jwks"), MAX)
            .expect_err(other);
        assert!(
            matches!(&err, DiscoveryError::IssuerMismatch { found: Some(f) } if f.contains(other)),
            "{err}"
        );
    }
    let missing = br#"{"jwks_uri": "https://idp.example.com/jwks"}"#;
    assert_eq!(
        d.jwks_callout(200, missing, MAX),
        Err(DiscoveryError::IssuerMismatch {
            found: Some("none".into())
        })
    );
    let not_string = br#"{"issuer": 1, "jwks_uri": "https://idp.example.com/jwks"}"#;
    assert!(matches!(
        d.jwks_callout(200, not_string, MAX),
        Err(DiscoveryError::IssuerMismatch { .. })
    ));
    // A repeated member is refused as a whole: the two parsers of a pair must not disagree.
    let repeated = br#"{"issuer": "https://evil", "issuer": "https://idp.example.com",
        "jwks_uri": "https://idp.example.com/jwks"}"#;
    assert_eq!(
        d.jwks_callout(200, repeated, MAX),
        Err(DiscoveryError::NotJson)
    );
}

#[test]
fn a_missing_or_invalid_jwks_uri_is_refused() {
    let d = discovery("https://idp.example.com");
    let issuer = "https://idp.example.com";
    let no_uri = serde_json::json!({ "issuer": issuer }).to_string();
    assert_eq!(
        d.jwks_callout(200, no_uri.as_bytes(), MAX),
        Err(DiscoveryError::NoJwksUri)
    );
    let not_string = serde_json::json!({ "issuer": issuer, "jwks_uri": ["x"] }).to_string();
    assert_eq!(
        d.jwks_callout(200, not_string.as_bytes(), MAX),
        Err(DiscoveryError::NoJwksUri)
    );
    for bad in [
        "/jwks",
        "idp.example.com/jwks",
        "https://idp.example.com/jw ks",
        "https://user@idp.example.com/jwks",
        "https://idp.example.com/jwks#f",
    ] {
        let err = d.jwks_callout(200, &doc(issuer, bad), MAX).expect_err(bad);
        assert!(
            matches!(&err, DiscoveryError::BadJwksUri { why: Some(_) }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_jwks_uri_on_another_host_scheme_or_port_is_refused() {
    let d = discovery("https://idp.example.com");
    for foreign in [
        "https://evil.example.com/jwks",
        "https://idp.example.com.evil.net/jwks",
        "http://idp.example.com/jwks",
        "https://idp.example.com:8443/jwks",
    ] {
        let err = d
            .jwks_callout(200, &doc("https://idp.example.com", foreign), MAX)
            .expect_err(foreign);
        assert_eq!(
            err,
            DiscoveryError::ForeignJwksUri {
                uri: Some(foreign.into())
            }
        );
        assert!(err.to_string().contains(foreign), "{err}");
    }
}

#[test]
fn status_size_and_json_are_checked_first() {
    let d = discovery("https://idp.example.com");
    let good = doc("https://idp.example.com", "https://idp.example.com/jwks");
    assert_eq!(
        d.jwks_callout(404, &good, MAX),
        Err(DiscoveryError::HttpStatus(404))
    );
    assert_eq!(
        d.jwks_callout(200, &good, good.len() - 1),
        Err(DiscoveryError::TooLarge {
            size: good.len(),
            max: good.len() - 1
        })
    );
    assert!(d.jwks_callout(200, &good, good.len()).is_ok());
    for not_json in [&b"<html>"[..], b"[]", b"\"x\"", b"", b"{\"issuer\":"] {
        assert_eq!(
            d.jwks_callout(200, not_json, MAX),
            Err(DiscoveryError::NotJson)
        );
    }
}
