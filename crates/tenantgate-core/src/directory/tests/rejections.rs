//! Every reason a document is refused, in the contract's order.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use super::*;

fn refused(tenants: Value) -> DirectoryError {
    adopt_doc(tenants).expect_err("refused")
}

fn assert_entry(err: DirectoryError, want_path: &str, needle: &str) {
    match &err {
        DirectoryError::Entry { path, message }
        | DirectoryError::Inconsistent { path, message }
        | DirectoryError::Shape { path, message } => {
            assert_eq!(path, want_path, "{err}");
            assert!(message.contains(needle), "{err}");
        }
        other => panic!("expected an error at {want_path}, got {other:?}"),
    }
}

#[test]
fn too_large_is_refused_before_parsing() {
    let mut doc = static_config();
    doc["directory"]["max_bytes"] = json!(1024);
    let bytes = vec![b'x'; 1025];
    let err = adopt_with(&bytes, &config_of(&doc), None).expect_err("too large");
    assert_eq!(
        err,
        DirectoryError::TooLarge {
            size: 1025,
            max: 1024
        }
    );
}

#[test]
fn malformed_jws_is_refused() {
    let config = config_of(&static_config());
    for bytes in [&b"not a jws"[..], b"a.b.c", &[0xff, 0xfe]] {
        let err = adopt_with(bytes, &config, None).expect_err("malformed");
        assert!(matches!(err, DirectoryError::Malformed(_)), "{err:?}");
    }
}

#[test]
fn another_algorithm_is_refused() {
    let header = json!({"alg": "HS256", "typ": TYP, "kid": "a"}).to_string();
    let doc = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload(json!({})).to_string())
    );
    let err = adopt_with(doc.as_bytes(), &config_of(&static_config()), None).expect_err("alg");
    assert_eq!(err, DirectoryError::Algorithm);
}

#[test]
fn a_wrong_or_missing_typ_is_refused() {
    let key = TestKey::new(KEY_A, "a");
    let config = config_of(&static_config());
    for typ in [Some("JWT"), Some("at+jwt"), None] {
        let header = match typ {
            Some(typ) => json!({"alg": "RS256", "typ": typ, "kid": "a"}),
            None => json!({"alg": "RS256", "kid": "a"}),
        };
        let doc = key.sign_json(&header.to_string(), &payload(json!({})).to_string());
        let err = adopt_with(doc.as_bytes(), &config, None).expect_err("typ");
        assert_eq!(
            err,
            DirectoryError::Type {
                typ: typ.map(str::to_owned)
            }
        );
    }
    // The comparison ignores case.
    let header = json!({"alg": "RS256", "typ": "TenantGate-Directory+JWT", "kid": "a"});
    let doc = key.sign_json(&header.to_string(), &payload(json!({})).to_string());
    adopt_with(doc.as_bytes(), &config, None).expect("typ in another case");
}

#[test]
fn without_the_signers_keys_nothing_is_adopted() {
    let config = config_of(&static_config());
    let verify = |key: &RsaKey, m: &[u8], s: &[u8]| crate::verify::rs256::verify(key, m, s);
    let input = Input {
        config: &config,
        keys: None,
        verify: &verify,
        in_force: None,
        now: NOW,
    };
    let err = adopt(&signed(&payload(json!({}))), &input).expect_err("no keys");
    assert_eq!(err, DirectoryError::KeysUnavailable);
}

#[test]
fn an_unknown_key_is_refused() {
    let other = TestKey::new(KEY_B, "b");
    let doc = other.sign_json(&header("b"), &payload(json!({})).to_string());
    let err = adopt_with(doc.as_bytes(), &config_of(&static_config()), None).expect_err("unknown");
    assert_eq!(
        err,
        DirectoryError::UnknownKey {
            kid: Some("b".into())
        }
    );
}

#[test]
fn a_bad_signature_is_refused() {
    // Signed by another key under the signer's kid.
    let impostor = TestKey::new(KEY_B, "a");
    let doc = impostor.sign_json(&header("a"), &payload(json!({})).to_string());
    let err = adopt_with(doc.as_bytes(), &config_of(&static_config()), None).expect_err("forged");
    assert_eq!(
        err,
        DirectoryError::BadSignature {
            kid: Some("a".into())
        }
    );
}

#[test]
fn the_payload_shape_is_strict() {
    assert_entry(
        refused(json!({"globex": {"hostz": []}})),
        "tenants.globex.hostz",
        "unknown field `hostz`",
    );
    assert_entry(
        refused(json!({"globex": {"hosts": "globex.example.com"}})),
        "tenants.globex.hosts",
        "invalid type",
    );
    for forbidden in [
        "name",
        "tenant",
        "tenant_claim",
        "tenant_map",
        "token_sources",
    ] {
        let mut idp = json!({"issuer": "https://g.example.com", "audiences": ["a"], "jwks": {"discovery": {"cluster": "egress"}}});
        idp[forbidden] = json!("x");
        assert_entry(
            refused(json!({"globex": {"idp": idp}})),
            &format!("tenants.globex.idp.{forbidden}"),
            &format!("unknown field `{forbidden}`"),
        );
    }
    let mut extra = payload(json!({}));
    extra["version"] = json!(2);
    let err = adopt_with(&signed(&extra), &config_of(&static_config()), None)
        .expect_err("unknown member");
    assert_entry(err, "version", "unknown field");
    let missing = json!({"iss": ISSUER, "tenants": {}});
    let err =
        adopt_with(&signed(&missing), &config_of(&static_config()), None).expect_err("no iat");
    assert_entry(err, "(root)", "missing field `iat`");
}

#[test]
fn another_issuer_is_refused() {
    let mut doc = payload(json!({}));
    doc["iss"] = json!("https://evil.example.com");
    let err = adopt_with(&signed(&doc), &config_of(&static_config()), None).expect_err("iss");
    assert!(matches!(err, DirectoryError::Issuer { .. }), "{err:?}");
}

#[test]
fn an_older_iat_than_in_force_is_a_replay() {
    let config = config_of(&static_config());
    let first = adopt_with(&signed(&payload(json!({}))), &config, None).expect("first");
    let mut older = payload(json!({"globex": {}}));
    older["iat"] = json!(NOW - 1);
    let err = adopt_with(&signed(&older), &config, Some(&first.directory)).expect_err("replay");
    assert_eq!(
        err,
        DirectoryError::Replayed {
            iat: NOW - 1,
            in_force: NOW
        }
    );
}

#[test]
fn a_document_past_max_age_or_from_the_future_is_refused() {
    let config = config_of(&static_config());
    let mut old = payload(json!({}));
    old["iat"] = json!(NOW - 86_401);
    let err = adopt_with(&signed(&old), &config, None).expect_err("old");
    assert!(matches!(err, DirectoryError::TooOld { .. }), "{err:?}");
    let mut future = payload(json!({}));
    future["iat"] = json!(NOW + MAX_FUTURE_IAT_SECONDS + 1);
    let err = adopt_with(&signed(&future), &config, None).expect_err("future");
    assert!(
        matches!(err, DirectoryError::IssuedInFuture { .. }),
        "{err:?}"
    );
}

#[test]
fn each_entry_is_checked() {
    assert_entry(
        refused(json!({"Globex": {}})),
        "tenants.Globex",
        "not a valid tenant id",
    );
    assert_entry(
        refused(json!({"globex": {"hosts": ["a.example.com:8080"]}})),
        "tenants.globex.hosts[0]",
        "carry no port",
    );
    assert_entry(
        refused(json!({"globex": {"hosts": ["a.example.com", "A.example.com"]}})),
        "tenants.globex.hosts[1]",
        "duplicate host",
    );
    assert_entry(
        refused(json!({"globex": {"tenant_values": {"nobody": ["x"]}}})),
        "tenants.globex.tenant_values.nobody",
        "not a provider",
    );
    assert_entry(
        refused(json!({"globex": {"tenant_values": {"issuer": ["x"]}}})),
        "tenants.globex.tenant_values.issuer",
        "no tenant_map",
    );
    let idp = |jwks: Value, issuer: &str| json!({"globex": {"idp": {"issuer": issuer, "audiences": ["a"], "jwks": jwks}}});
    assert_entry(
        refused(idp(
            json!({"discovery": {"cluster": "internal"}}),
            "https://g.example.com",
        )),
        "tenants.globex.idp.jwks.discovery.cluster",
        "idp_clusters",
    );
    assert_entry(
        refused(idp(
            json!({"remote": {"cluster": "issuer", "uri": "https://g.example.com/k"}}),
            "https://g.example.com",
        )),
        "tenants.globex.idp.jwks.remote.cluster",
        "idp_clusters",
    );
    assert_entry(
        refused(idp(
            json!({"inline": {"keys": []}}),
            "https://g.example.com",
        )),
        "tenants.globex.idp.jwks.inline",
        "not allowed",
    );
    assert_entry(
        refused(idp(
            json!({"discovery": {"cluster": "egress"}}),
            "https://{tenant}.example.com",
        )),
        "tenants.globex.idp.issuer",
        "exact issuer",
    );
}

#[test]
fn two_tenants_cannot_claim_one_thing() {
    assert_entry(
        refused(
            json!({"globex": {"hosts": ["shop.example.com"]}, "initech": {"hosts": ["SHOP.example.com"]}}),
        ),
        "tenants.initech.hosts[0]",
        "also a host of tenant \"globex\"",
    );
    assert_entry(
        refused(
            json!({"globex": {"tenant_values": {"entra": ["g1"]}}, "initech": {"tenant_values": {"entra": ["g1"]}}}),
        ),
        "tenants.initech.tenant_values.entra[0]",
        "also maps to tenant \"globex\"",
    );
    let idp = json!({"issuer": "https://same.example.com", "audiences": ["a"], "jwks": {"discovery": {"cluster": "egress"}}});
    assert_entry(
        refused(json!({"globex": {"idp": idp.clone()}, "initech": {"idp": idp}})),
        "tenants.initech.idp.issuer",
        "also the IdP issuer of tenant \"globex\"",
    );
}

#[test]
fn what_the_compile_step_refuses_is_named_by_directory_path() {
    let idp = json!({"issuer": "https://g.example.com", "audiences": [], "jwks": {"discovery": {"cluster": "egress"}}});
    let err = refused(json!({"globex": {"idp": idp}}));
    let DirectoryError::Compile(errors) = &err else {
        panic!("{err:?}")
    };
    assert!(
        errors
            .iter()
            .any(|e| e.path == "tenants.globex.idp.audiences"),
        "{err}"
    );
}
