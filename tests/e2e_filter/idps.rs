//! Tokens shaped as real IdPs issue them (claim layouts cited in
//! crates/tenantgate-core/src/gate/idp_tests.rs), through the real filter in Envoy: SuperTokens
//! (object roles, no `aud`), Keycloak (realm template, merged nested roles, `azp`), Entra
//! (issuer template, GUID tenants through `tenant_map`, per-key `issuer` in the shared JWKS) and
//! Cognito access tokens (`client_id`, `cognito:groups`).

use super::*;

/// The e2e policy with its provider replaced by `idp` (its key source kept), and an admin route.
fn idp_policy(idp: Value) -> Value {
    let mut policy = policy();
    let jwks = policy["providers"][0]["jwks"].clone();
    let mut provider = idp;
    provider["name"] = json!("idp");
    provider["jwks"] = jwks;
    policy["providers"] = json!([provider]);
    policy["routes"] = json!([
        {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
        {"path": {"prefix": "/"}, "require": "authenticated"}
    ]);
    policy
}

fn start(idp: Value, jwks: Value) -> Option<Gateway> {
    let setup = Setup {
        policy: idp_policy(idp),
        ..Setup::default()
    };
    Gateway::start(setup, JwksServer::serving(&jwks, 300))
}

fn times() -> (i64, i64) {
    let now = keys::now();
    (now - 10, now + 600)
}

fn get(host: &str, path: &str, token: &str) -> Req {
    Req::new("GET", host, path).bearer(token)
}

#[test]
fn supertokens_session_tokens() {
    let issuer = "https://api.e2e.test/auth";
    let Some(gw) = start(
        json!({"issuer": issuer, "audience_claim": "iss", "audiences": [issuer],
               "tenant_claim": "tId", "roles_claim": "/st-role/v"}),
        keys::jwks(&[&key1()]),
    ) else {
        return;
    };
    let (iat, exp) = times();
    let claims = json!({"iss": issuer, "sub": "st-user-1", "rsub": "st-user-1", "tId": "acme",
                        "sessionHandle": "h1", "iat": iat, "exp": exp, "antiCsrfToken": null,
                        "st-role": {"v": ["admin"], "t": iat * 1000}});
    let seen = gw.allow("st-role.v", get(ACME, "/admin", &key1().sign(&claims)));
    assert_identity("supertokens", &seen, "acme", "st-user-1", &["admin"]);
    let mut viewer = claims.clone();
    viewer["st-role"] = json!({"v": ["viewer"], "t": iat * 1000});
    gw.deny(
        "viewer",
        get(ACME, "/admin", &key1().sign(&viewer)),
        Denial::RoleRequired,
    );
    let mut malformed = claims.clone();
    malformed["st-role"] = json!({"v": "admin", "t": 0});
    gw.deny(
        "st-role.v not a list",
        get(ACME, "/", &key1().sign(&malformed)),
        Denial::ClaimInvalid,
    );
    gw.deny(
        "other tenant's host",
        get(GLOBEX, "/", &key1().sign(&claims)),
        Denial::TenantMismatch,
    );
}

#[test]
fn keycloak_realms_and_client_roles() {
    let Some(gw) = start(
        json!({"issuer": "https://kc.e2e.test/realms/{tenant}", "audience_claim": "azp",
               "audiences": ["orders-api"],
               "roles_claim": ["/realm_access/roles", "/resource_access/orders-api/roles"]}),
        keys::jwks(&[&key1()]),
    ) else {
        return;
    };
    let (iat, exp) = times();
    let claims = |realm: &str, azp: &str| {
        json!({"iss": format!("https://kc.e2e.test/realms/{realm}"), "aud": "account",
               "azp": azp, "sub": "kc-user", "typ": "Bearer", "iat": iat, "exp": exp,
               "realm_access": {"roles": ["default-roles"]},
               "resource_access": {"orders-api": {"roles": ["admin"]},
                                   "account": {"roles": ["view-profile"]}},
               "scope": "openid profile"})
    };
    let seen = gw.allow(
        "realm acme",
        get(ACME, "/admin", &key1().sign(&claims("acme", "orders-api"))),
    );
    assert_identity(
        "keycloak",
        &seen,
        "acme",
        "kc-user",
        &["default-roles", "admin"],
    );
    gw.deny(
        "realm acme on globex",
        get(GLOBEX, "/", &key1().sign(&claims("acme", "orders-api"))),
        Denial::TenantMismatch,
    );
    gw.deny(
        "another client",
        get(ACME, "/", &key1().sign(&claims("acme", "admin-cli"))),
        Denial::AudienceMismatch,
    );
}

#[test]
fn entra_template_with_per_key_issuer() {
    const ACME_TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const STRANGER: &str = "00000000-0000-0000-0000-00000000abcd";
    let mut entra_key = key1().jwk();
    entra_key["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
    let mut b2c_key = key2().jwk();
    b2c_key["issuer"] = json!("https://b2c.e2e.test/{tenantid}/v2.0/");
    let app = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    let Some(gw) = start(
        json!({"issuer": "https://login.microsoftonline.com/{tenant}/v2.0", "audiences": [app],
               "tenant_claim": "tid", "subject_claim": "oid",
               "tenant_map": {ACME_TID: "acme", STRANGER: "globex"}}),
        json!({"keys": [entra_key, b2c_key]}),
    ) else {
        return;
    };
    let (iat, exp) = times();
    let claims = |tid: &str| {
        json!({"iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "aud": app,
               "tid": tid, "oid": "oid-1", "sub": "pairwise-sub", "roles": ["admin"],
               "scp": "User.Read", "ver": "2.0", "iat": iat, "nbf": iat, "exp": exp})
    };
    let seen = gw.allow(
        "contoso",
        get(ACME, "/admin", &key1().sign(&claims(ACME_TID))),
    );
    assert_identity("entra", &seen, "acme", "oid-1", &["admin"]);
    gw.deny(
        "a key whose issuer is another authority",
        get(ACME, "/", &key2().sign(&claims(ACME_TID))),
        Denial::KeyNotFound,
    );
    let mut split = claims(ACME_TID);
    split["tid"] = json!(STRANGER);
    gw.deny(
        "iss and tid disagree",
        get(ACME, "/", &key1().sign(&split)),
        Denial::ClaimInvalid,
    );
    let unmapped = "11111111-2222-3333-4444-555555555555";
    gw.deny(
        "unmapped",
        get(ACME, "/", &key1().sign(&claims(unmapped))),
        Denial::TenantUnmapped,
    );
}

#[test]
fn cognito_access_tokens_by_client_id() {
    let pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_e2e";
    let Some(gw) = start(
        json!({"issuer": pool, "tenant": "acme", "audience_claim": "client_id",
               "audiences": ["1example23456789"], "roles_claim": "cognito:groups"}),
        keys::jwks(&[&key1()]),
    ) else {
        return;
    };
    let (iat, exp) = times();
    let claims = json!({"iss": pool, "sub": "cognito-user", "client_id": "1example23456789",
                        "token_use": "access", "cognito:groups": ["admin"], "version": 2,
                        "scope": "aws.cognito.signin.user.admin", "username": "alice",
                        "auth_time": iat, "iat": iat, "exp": exp, "jti": "j1"});
    let seen = gw.allow("client_id", get(ACME, "/admin", &key1().sign(&claims)));
    assert_identity("cognito", &seen, "acme", "cognito-user", &["admin"]);
    let mut other = claims.clone();
    other["client_id"] = json!("9other");
    gw.deny(
        "another app client",
        get(ACME, "/", &key1().sign(&other)),
        Denial::AudienceMismatch,
    );
    let mut id_token = claims.clone();
    id_token.as_object_mut().map(|c| c.remove("client_id"));
    id_token["aud"] = json!("1example23456789");
    gw.deny(
        "aud is not read",
        get(ACME, "/", &key1().sign(&id_token)),
        Denial::ClaimMissing,
    );
}
