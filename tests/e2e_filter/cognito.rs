//! Amazon Cognito user pools served by `moto` (PyPI) on loopback: a pool, its app clients and
//! users made through the Cognito API, access tokens from `InitiateAuth` (`USER_PASSWORD_AUTH`),
//! and the pool's JWKS fetched by the filter through an Envoy cluster that points at moto. The
//! provider is configured as for AWS, by configuration alone: the pool's URL as the issuer,
//! `audience_claim: client_id`, roles from `cognito:groups`.
//!
//! moto signs every pool's tokens with the one key it ships (RSA 2048, `kid` "dummy"): a token of
//! another pool verifies with that key, and only its `iss` keeps it out. Real Cognito gives each
//! pool its own keys, so there the signature refuses it as well.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use support::moto::{Moto, UserPool};

use std::time::Duration;

use super::support::{wait_until, JwksMode};
use super::*;

const CLUSTER: &str = "cognito";
const PASSWORD: &str = "Corr3ct-horse-battery";

/// One provider for `pool`, bound to tenant acme, accepting the access tokens of `client`, its
/// keys fetched from the pool's JWKS.
fn cognito_policy(pool: &UserPool, client: &str) -> Value {
    let jwks = json!({"remote": {"cluster": CLUSTER, "uri": pool.jwks_uri(), "timeout_ms": 2000}});
    policy_with_keys(pool, client, jwks)
}

fn policy_with_keys(pool: &UserPool, client: &str, jwks: Value) -> Value {
    json!({
        "realm": REALM,
        "providers": [{
            "name": "cognito-acme",
            "issuer": pool.issuer(),
            "audiences": [client],
            "audience_claim": "client_id",
            "tenant": "acme",
            "roles_claim": "cognito:groups",
            "jwks": jwks
        }],
        "tenants": {"acme": {"hosts": [ACME]}, "globex": {"hosts": [GLOBEX]}},
        "routes": [
            {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
            {"path": {"prefix": "/"}, "require": "authenticated"}
        ],
        "default_requirement": "deny",
        "jwks_wait_ms": 5000
    })
}

/// The payload of a compact JWS.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWS payload");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}

/// `token` with its payload replaced and its signature kept.
fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    parts.join(".")
}

/// moto's key set holds RSA keys the filter takes (2048 bits or more): otherwise the proof
/// below would not be about Cognito's real key size.
fn assert_key_size(jwks: &Value) {
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty(), "moto serves no keys: {jwks}");
    for key in keys {
        assert_eq!(key["kty"], "RSA", "{key}");
        let n = URL_SAFE_NO_PAD
            .decode(key["n"].as_str().expect("n"))
            .expect("base64url n");
        let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
        assert!(bits >= 2048, "moto's key has {bits} bits");
    }
}

/// Envoy with `policy`, its key cluster pointing at moto.
fn gateway(moto: &Moto, policy: &Value) -> Option<Gateway> {
    let artifacts = support::artifacts()?;
    let upstream = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, policy)
        .upstream(upstream.port())
        .cluster(CLUSTER, moto.port())
        .start();
    Some(Gateway {
        envoy,
        upstream,
        jwks: JwksServer::start(JwksMode::Unavailable),
    })
}

/// The groups of an access token, in the token's order (moto lists a user's groups in no fixed
/// order; the filter keeps the token's).
fn groups(claims: &Value) -> Vec<&str> {
    claims["cognito:groups"]
        .as_array()
        .expect("cognito:groups")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn cognito_user_pool_tokens_from_moto() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let pool = moto.user_pool("acme");
    let web = moto.app_client(&pool, "web");
    moto.user(&pool, "alice", PASSWORD, &["admin", "staff"]);
    moto.user(&pool, "bob", PASSWORD, &[]);
    assert_key_size(&moto.jwks(&pool));
    let Some(gw) = gateway(&moto, &cognito_policy(&pool, &web)) else {
        return;
    };

    let alice = moto.access_token(&web, "alice", PASSWORD);
    let claims = payload(&alice);
    assert_eq!(claims["iss"], json!(pool.issuer()), "{claims}");
    assert_eq!(claims["token_use"], "access", "{claims}");
    assert_eq!(claims.get("aud"), None, "no aud in access tokens: {claims}");
    let mut sorted = groups(&claims);
    sorted.sort_unstable();
    assert_eq!(sorted, ["admin", "staff"], "{claims}");
    let seen = gw.allow(
        "alice, in group admin",
        Req::get(ACME, "/admin").bearer(&alice),
    );
    let sub = claims["sub"].as_str().expect("sub");
    assert_identity("cognito", &seen, "acme", sub, &groups(&claims));

    let bob = moto.access_token(&web, "bob", PASSWORD);
    gw.deny(
        "bob, in no group",
        Req::get(ACME, "/admin").bearer(&bob),
        Denial::RoleRequired,
    );
    gw.allow("bob, authenticated", Req::get(ACME, "/orders").bearer(&bob));
    gw.deny(
        "a pool bound to acme, on globex",
        Req::get(GLOBEX, "/orders").bearer(&alice),
        Denial::TenantMismatch,
    );
    other_clients_and_pools_are_refused(&moto, &gw, &pool, &web);
    tampered_tokens_are_refused(&gw, &alice, &bob);
    assert_eq!(
        gw.envoy
            .wasm_stat("tenantgate.jwks.cognito-acme.fetch.success"),
        Some(1),
        "the pool's key set, fetched once from moto"
    );
}

/// Another app client of the pool, and another pool (moto signs it with the same key).
fn other_clients_and_pools_are_refused(moto: &Moto, gw: &Gateway, pool: &UserPool, web: &str) {
    let reports = moto.app_client(pool, "reports");
    gw.deny(
        "another app client of the pool",
        Req::get(ACME, "/admin").bearer(&moto.access_token(&reports, "alice", PASSWORD)),
        Denial::AudienceMismatch,
    );
    let other_pool = moto.user_pool("globex");
    let other_web = moto.app_client(&other_pool, "web");
    moto.user(&other_pool, "carol", PASSWORD, &["admin"]);
    let carol = moto.access_token(&other_web, "carol", PASSWORD);
    gw.deny(
        "another pool (same moto key, another iss)",
        Req::get(ACME, "/admin").bearer(&carol),
        Denial::IssuerNotTrusted,
    );
    // Another pool's token rewritten to claim this pool and client.
    let mut posing = payload(&carol);
    posing["iss"] = json!(pool.issuer());
    posing["client_id"] = json!(web);
    gw.deny(
        "another pool's token with this pool's iss",
        Req::get(ACME, "/admin").bearer(&with_payload(&carol, &posing)),
        Denial::SignatureInvalid,
    );
}

/// A group added to bob's token, and a changed byte in alice's signature.
fn tampered_tokens_are_refused(gw: &Gateway, alice: &str, bob: &str) {
    let mut promoted = payload(bob);
    promoted["cognito:groups"] = json!(["admin"]);
    gw.deny(
        "bob's token with a group added",
        Req::get(ACME, "/admin").bearer(&with_payload(bob, &promoted)),
        Denial::SignatureInvalid,
    );
    let mut flipped = alice.as_bytes().to_vec();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    gw.deny(
        "alice's token with its signature changed",
        Req::get(ACME, "/admin").bearer(&String::from_utf8(flipped).expect("ascii")),
        Denial::SignatureInvalid,
    );
}

/// moto's discovery document for a pool names the issuer its tokens carry
/// (`https://cognito-idp...`) but builds `jwks_uri` from the request it answers, on plain HTTP
/// (`http://cognito-idp.../.well-known/jwks.json`). The filter follows a `jwks_uri` only on the
/// issuer's scheme and authority, so it refuses that document and counts it, and tokens get 503
/// while no key set is loaded. (AWS publishes an `https` `jwks_uri`.)
#[test]
fn moto_discovery_names_an_http_jwks_uri_and_is_refused() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let pool = moto.user_pool("acme");
    let web = moto.app_client(&pool, "web");
    moto.user(&pool, "alice", PASSWORD, &["admin"]);
    let mut policy = policy_with_keys(
        &pool,
        &web,
        json!({"discovery": {"cluster": CLUSTER, "timeout_ms": 2000},
               "backoff_initial_ms": 100, "backoff_max_ms": 400}),
    );
    policy["jwks_wait_ms"] = json!(500);
    policy["retry_after_seconds"] = json!(RETRY_AFTER);
    let Some(gw) = gateway(&moto, &policy) else {
        return;
    };
    let refused = wait_until(Duration::from_secs(10), || {
        gw.envoy
            .wasm_stat("tenantgate.jwks.cognito-acme.fetch.rejected")
            >= Some(1)
    });
    assert!(refused, "moto's discovery document was not refused");
    gw.deny(
        "no key set behind the refused document",
        Req::get(ACME, "/admin").bearer(&moto.access_token(&web, "alice", PASSWORD)),
        Denial::KeysUnavailable,
    );
    assert_eq!(
        gw.envoy
            .wasm_stat("tenantgate.jwks.cognito-acme.fetch.success"),
        Some(0)
    );
}
