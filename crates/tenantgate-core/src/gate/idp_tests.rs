//! Tokens shaped as real IdPs issue them, signed with test keys and decided by the gate end to
//! end (provider by `iss`, key by `kid`, RS256, claims, tenant, requirement). Each fixture
//! follows the claim layout its vendor documents; the source is cited above it.

use serde_json::{json, Value};

use super::*;
use crate::jwks::keyset::KeySet;
use crate::verify::tests::{Keys, TestKey, KEY_A, KEY_B, NOW};

/// A gate for one provider, serving `tenants` on `<tenant>.app.test`, with a route needing a
/// role and one needing a scope.
fn gate(provider: Value, tenants: &[&str]) -> Gate {
    let mut provider = provider;
    provider["name"] = json!("idp");
    provider["jwks"] = json!({"remote": {"cluster": "idp", "uri": "https://idp.test/jwks"}});
    let tenants: serde_json::Map<String, Value> = tenants
        .iter()
        .map(|t| (t.to_string(), json!({"hosts": [format!("{t}.app.test")]})))
        .collect();
    let doc = json!({
        "providers": [provider],
        "tenants": tenants,
        "role_permissions": {"billing-admin": ["read:billing"]},
        "routes": [
            {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
            {"path": {"prefix": "/files"}, "require": {"scopes": {"any_of": ["Files.Read"]}}},
            {"path": {"prefix": "/billing"}, "require": {"permissions": {"any_of": ["read:billing"]}}},
            {"path": {"prefix": "/"}, "require": "authenticated"}
        ]
    });
    super::gate_of(&doc)
}

fn keys(jwks: Value) -> Keys {
    Keys {
        sets: vec![Some(KeySet::from_value(&jwks).expect("key set"))],
        refetch: false,
    }
}

fn decide(gate: &Gate, keys: &Keys, host: &str, path: &str, token: &str) -> Outcome {
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    let req = RequestView {
        method: "GET",
        authority: host,
        path,
        headers: &headers,
    };
    gate.decide(&req, keys, None, NOW)
}

/// The identity of an allowed request, or the refusal's code.
fn identity(outcome: Outcome) -> Result<(String, String, Vec<String>), &'static str> {
    match outcome {
        Outcome::Allow {
            identity: Some(id), ..
        } => Ok((id.tenant, id.user, id.roles)),
        Outcome::Deny { denial, .. } => Err(denial.code()),
        other => panic!("{other:?}"),
    }
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().map(|c| c.remove(name));
    claims
}

/// SuperTokens session access token (v3+), "Access token structure" and the user roles recipe
/// (https://supertokens.com/docs/session/common-customizations/sessions/claims/access-token-payload,
/// https://supertokens.com/docs/userroles/protecting-routes): `iss` is apiDomain + apiBasePath,
/// no `aud`, tenant in `tId`, roles and permissions as claim objects `{"v": [...], "t": ms}`.
#[test]
fn supertokens() {
    let key = TestKey::new(KEY_A, "d-1700000000000");
    let gate = gate(
        json!({
            "issuer": "https://api.example.com/auth",
            // No `aud`: the API accepts every session token of its own SuperTokens core, said
            // explicitly.
            "audience_claim": "iss", "audiences": ["https://api.example.com/auth"],
            "tenant_claim": "tId", "roles_claim": "/st-role/v", "permissions_claim": "/st-perm/v"
        }),
        &["public", "acme"],
    );
    let keys = keys(json!({"keys": [key.jwk()]}));
    let claims = json!({
        "iat": NOW - 10, "exp": NOW + 3600, "sub": "fa7a0841-b533-4478-95533-0fde890c3483",
        "tId": "acme", "rsub": "fa7a0841-b533-4478-95533-0fde890c3483",
        "sessionHandle": "0aa1c1ea-fb9c-4f4c-a0e6-3bc6d0e2b7b4",
        "refreshTokenHash1": "8f6d45ddc2bd1b2ec9b2c1e1c2b0e1a0f1b6f7c8d9e0a1b2c3d4e5f6a7b8c9d0",
        "parentRefreshTokenHash1": null, "antiCsrfToken": null,
        "iss": "https://api.example.com/auth",
        "st-role": {"v": ["admin"], "t": 1_700_000_000_000_u64},
        "st-perm": {"v": ["read:billing"], "t": 1_700_000_000_000_u64},
        "st-ev": {"v": true, "t": 1_700_000_000_000_u64}
    });
    let ok = |c: &Value, path| identity(decide(&gate, &keys, "acme.app.test", path, &key.sign(c)));
    assert_eq!(
        ok(&claims, "/admin"),
        Ok((
            "acme".into(),
            "fa7a0841-b533-4478-95533-0fde890c3483".into(),
            vec!["admin".into()]
        ))
    );
    assert!(ok(&claims, "/billing").is_ok());
    let viewer = with(claims.clone(), "st-role", json!({"v": ["viewer"], "t": 1}));
    assert_eq!(ok(&viewer, "/admin"), Err("role_required"));
    // The object form is read through the pointer only: a list where the object was expected
    // has no `/v`, so no roles; a `v` that is not a list is malformed.
    let bare = with(claims.clone(), "st-role", json!(["admin"]));
    assert_eq!(ok(&bare, "/admin"), Err("role_required"));
    let bad = with(claims.clone(), "st-role", json!({"v": "admin", "t": 1}));
    assert_eq!(ok(&bad, "/"), Err("claim_invalid"));
    assert_eq!(
        ok(&without(claims.clone(), "tId"), "/"),
        Err("tenant_missing")
    );
    let other_iss = with(
        claims.clone(),
        "iss",
        json!("https://evil.example.com/auth"),
    );
    assert_eq!(ok(&other_iss, "/"), Err("issuer_not_trusted"));
}

/// Keycloak access token (https://www.keycloak.org/docs/latest/server_admin/#_oidc_token_role_mappings,
/// the `realm_access` and `resource_access` mappers of the `roles` client scope): issuer
/// `https://<host>/realms/<realm>`, one realm per tenant; `aud` often absent (or `account`),
/// `azp` the client; realm roles in `realm_access.roles`, client roles in
/// `resource_access.<client>.roles`; `scope` space-delimited.
#[test]
fn keycloak() {
    let key = TestKey::new(KEY_A, "kc-rsa-1");
    let gate = gate(
        json!({
            "issuer": "https://kc.example.com/realms/{tenant}",
            "audience_claim": "azp", "audiences": ["orders-api"],
            "roles_claim": ["/realm_access/roles", "/resource_access/orders-api/roles"]
        }),
        &["acme", "globex"],
    );
    let keys = keys(json!({"keys": [key.jwk()]}));
    let claims = json!({
        "exp": NOW + 300, "iat": NOW - 5, "jti": "4f8e7b5c-3b1a-4d3e-9c1f-2a1b3c4d5e6f",
        "iss": "https://kc.example.com/realms/acme", "aud": "account",
        "sub": "f1b2c3d4-0000-4000-8000-000000000001", "typ": "Bearer", "azp": "orders-api",
        "sid": "0e4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d", "acr": "1",
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-acme"]},
        "resource_access": {
            "orders-api": {"roles": ["admin"]},
            "account": {"roles": ["manage-account", "view-profile"]}
        },
        "scope": "openid email profile", "email_verified": true, "preferred_username": "alice"
    });
    let run = |c: &Value, host| identity(decide(&gate, &keys, host, "/admin", &key.sign(c)));
    let (tenant, _, roles) = run(&claims, "acme.app.test").expect("allowed");
    assert_eq!(tenant, "acme");
    assert_eq!(
        roles,
        [
            "offline_access",
            "uma_authorization",
            "default-roles-acme",
            "admin"
        ]
    );
    // The realm names the tenant: acme's token is no good on globex's host.
    assert_eq!(run(&claims, "globex.app.test"), Err("tenant_mismatch"));
    // Another client's token (azp) is not for this API, whatever its `aud`.
    let other = with(claims.clone(), "azp", json!("admin-console"));
    assert_eq!(run(&other, "acme.app.test"), Err("audience_mismatch"));
    assert_eq!(
        run(&without(claims.clone(), "azp"), "acme.app.test"),
        Err("claim_missing")
    );
    let malformed = with(claims.clone(), "realm_access", json!({"roles": "admin"}));
    assert_eq!(run(&malformed, "acme.app.test"), Err("claim_invalid"));
    // The template itself as `iss` names no realm: not an exact issuer, whatever a `tenantId`
    // claim says.
    let literal = with(
        with(
            claims.clone(),
            "iss",
            json!("https://kc.example.com/realms/{tenant}"),
        ),
        "tenantId",
        json!("acme"),
    );
    assert_eq!(run(&literal, "acme.app.test"), Err("issuer_not_trusted"));
}

const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Microsoft Entra v2.0 access token for a multi-tenant app
/// (https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference):
/// `iss` `https://login.microsoftonline.com/{tid}/v2.0`, `tid` the tenant GUID, `aud` the app's
/// client id, `scp` space-delimited, app `roles` an array. The shared JWKS
/// (`/common/discovery/v2.0/keys`) gives each key an `issuer` with `{tenantid}`, which must match
/// `iss` with `tid` in place
/// (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer).
#[test]
fn entra_multi_tenant() {
    let key = TestKey::new(KEY_A, "nOo3ZDrODXEK1jKWhXslHR_KXEg");
    let foreign = TestKey::new(KEY_B, "b2c-key");
    let app = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    let gate = gate(
        json!({
            "issuer": "https://login.microsoftonline.com/{tenant}/v2.0",
            "audiences": [app], "tenant_claim": "tid", "subject_claim": "oid",
            "tenant_map": {CONTOSO: "contoso", FABRIKAM: "fabrikam"}
        }),
        &["contoso", "fabrikam"],
    );
    let mut entra = key.jwk();
    entra["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
    let mut b2c = foreign.jwk();
    b2c["issuer"] = json!("https://contoso.b2clogin.com/{tenantid}/v2.0/");
    let keys = keys(json!({"keys": [entra, b2c]}));
    let claims = json!({
        "aud": app, "iss": format!("https://login.microsoftonline.com/{CONTOSO}/v2.0"),
        "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
        "aio": "AXQAi/8TAAAA", "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "azpacr": "0",
        "name": "Abe Lincoln", "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "abeli@microsoft.com", "rh": "I",
        "roles": ["admin"], "scp": "Files.Read User.Read",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ", "tid": CONTOSO,
        "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"
    });
    let run = |c: &Value, host, path, signer: &TestKey| {
        identity(decide(&gate, &keys, host, path, &signer.sign(c)))
    };
    assert_eq!(
        run(&claims, "contoso.app.test", "/admin", &key),
        Ok((
            "contoso".into(),
            "690222be-ff1a-4d56-abd1-7e4f7d38e474".into(),
            vec!["admin".into()]
        ))
    );
    assert!(run(&claims, "contoso.app.test", "/files", &key).is_ok());
    assert_eq!(
        run(&claims, "fabrikam.app.test", "/", &key),
        Err("tenant_mismatch")
    );
    // `iss` and `tid` must name the same tenant.
    let split = with(claims.clone(), "tid", json!(FABRIKAM));
    assert_eq!(
        run(&split, "contoso.app.test", "/", &key),
        Err("claim_invalid")
    );
    // A tenant the table does not list.
    let stranger = "00000000-0000-0000-0000-000000000001";
    let unknown = with(
        with(claims.clone(), "tid", json!(stranger)),
        "iss",
        json!(format!("https://login.microsoftonline.com/{stranger}/v2.0")),
    );
    assert_eq!(
        run(&unknown, "contoso.app.test", "/", &key),
        Err("tenant_unmapped")
    );
    // A key of the shared set whose own issuer is another authority does not verify it.
    assert_eq!(
        run(&claims, "contoso.app.test", "/", &foreign),
        Err("key_not_found")
    );
    let v1 = with(
        claims.clone(),
        "iss",
        json!(format!("https://sts.windows.net/{CONTOSO}/")),
    );
    assert_eq!(
        run(&v1, "contoso.app.test", "/", &key),
        Err("issuer_not_trusted")
    );
}

/// Auth0 access token with Organizations and RBAC
/// (https://auth0.com/docs/manage-users/organizations/using-tokens,
/// https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims,
/// https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis):
/// `org_id` mixed case (`org_9ybsU1dN2dKfDkBi`), roles in a namespaced custom claim, RBAC
/// `permissions` an array, `aud` the API identifier plus `/userinfo`.
#[test]
fn auth0_organizations() {
    let key = TestKey::new(
        KEY_A,
        "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg",
    );
    let gate = gate(
        json!({
            "issuer": "https://example.us.auth0.com/",
            "audiences": ["https://api.example.com"], "tenant_claim": "org_id",
            "tenant_map": {"org_9ybsU1dN2dKfDkBi": "acme"},
            "roles_claim": "https://example.com/roles", "permissions_claim": "permissions"
        }),
        &["acme"],
    );
    let keys = keys(json!({"keys": [key.jwk()]}));
    let claims = json!({
        "https://example.com/roles": ["admin"],
        "iss": "https://example.us.auth0.com/", "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": ["https://api.example.com", "https://example.us.auth0.com/userinfo"],
        "iat": NOW - 10, "exp": NOW + 86_400, "azp": "my_client_id",
        "scope": "openid profile email", "org_id": "org_9ybsU1dN2dKfDkBi",
        "permissions": ["read:billing", "read:reports"]
    });
    let run = |c: &Value, path| identity(decide(&gate, &keys, "acme.app.test", path, &key.sign(c)));
    assert_eq!(
        run(&claims, "/admin").map(|(tenant, _, roles)| (tenant, roles)),
        Ok(("acme".into(), vec!["admin".into()]))
    );
    assert!(run(&claims, "/billing").is_ok());
    // The map is exact: case is not folded.
    let lower = with(claims.clone(), "org_id", json!("org_9ybsu1dn2dkfdkbi"));
    assert_eq!(run(&lower, "/"), Err("tenant_unmapped"));
    let userinfo_only = with(
        claims.clone(),
        "aud",
        json!("https://example.us.auth0.com/userinfo"),
    );
    assert_eq!(run(&userinfo_only, "/"), Err("audience_mismatch"));
}

/// Amazon Cognito user pool access token
/// (https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html):
/// no `aud` but `client_id`, `token_use` `access`, groups in `cognito:groups`, `scope`
/// space-delimited; one user pool per tenant here.
#[test]
fn cognito_access_token() {
    let key = TestKey::new(KEY_A, "abcdefghijklmnopqrsexample=");
    let pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example";
    let gate = gate(
        json!({
            "issuer": pool, "tenant": "acme",
            "audience_claim": "client_id", "audiences": ["1example23456789"],
            "roles_claim": "cognito:groups"
        }),
        &["acme"],
    );
    let keys = keys(json!({"keys": [key.jwk()]}));
    let claims = json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": ["admin"],
        "iss": pool, "version": 2, "client_id": "1example23456789",
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin phone openid profile email",
        "auth_time": NOW - 100, "exp": NOW + 3600, "iat": NOW - 100,
        "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "username": "my-test-user"
    });
    let run = |c: &Value| {
        identity(decide(
            &gate,
            &keys,
            "acme.app.test",
            "/admin",
            &key.sign(c),
        ))
    };
    assert_eq!(
        run(&claims).map(|(tenant, _, roles)| (tenant, roles)),
        Ok(("acme".into(), vec!["admin".into()]))
    );
    let other_client = with(claims.clone(), "client_id", json!("9other"));
    assert_eq!(run(&other_client), Err("audience_mismatch"));
    // With `audience_claim`, `aud` is not what is checked: an ID token's `aud` does not stand
    // in for a missing `client_id`.
    let id_token = with(
        without(claims.clone(), "client_id"),
        "aud",
        json!("1example23456789"),
    );
    assert_eq!(run(&id_token), Err("claim_missing"));
    let groups = with(claims.clone(), "cognito:groups", json!("admin"));
    assert_eq!(run(&groups), Err("claim_invalid"));
}

/// Google Identity Platform (multi-tenancy) ID token
/// (https://cloud.google.com/identity-platform/docs/multi-tenancy-authentication,
/// https://firebase.google.com/docs/auth/admin/verify-id-tokens): `iss`
/// `https://securetoken.google.com/<project>`, `aud` the project id, tenant in
/// `firebase.tenant`.
#[test]
fn google_identity_platform() {
    let key = TestKey::new(KEY_A, "a1b2c3d4e5f6");
    let gate = gate(
        json!({
            "issuer": "https://securetoken.google.com/my-project",
            "audiences": ["my-project"], "tenant_claim": "/firebase/tenant",
            "tenant_map": {"acme-1x2y3": "acme"}
        }),
        &["acme"],
    );
    let keys = keys(json!({"keys": [key.jwk()]}));
    let claims = json!({
        "iss": "https://securetoken.google.com/my-project", "aud": "my-project",
        "auth_time": NOW - 30, "user_id": "Yc3OVxBRUcQ0JLmJX4xKDl3Fk9C2",
        "sub": "Yc3OVxBRUcQ0JLmJX4xKDl3Fk9C2", "iat": NOW - 30, "exp": NOW + 3570,
        "email": "alice@acme.example", "email_verified": true,
        "firebase": {
            "identities": {"email": ["alice@acme.example"]},
            "sign_in_provider": "password", "tenant": "acme-1x2y3"
        }
    });
    let run = |c: &Value| identity(decide(&gate, &keys, "acme.app.test", "/", &key.sign(c)));
    assert_eq!(run(&claims).map(|(tenant, ..)| tenant), Ok("acme".into()));
    let project_user = with(
        claims.clone(),
        "firebase",
        json!({"sign_in_provider": "password"}),
    );
    assert_eq!(run(&project_user), Err("tenant_missing"));
}
