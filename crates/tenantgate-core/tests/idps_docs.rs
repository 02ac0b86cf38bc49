//! docs/idps.md: every ```json block is a whole configuration the filter accepts (parse, then
//! compile), the page has one for each IdP it names, and each works: a token shaped as that IdP
//! documents (the claim layouts cited in src/gate/idp_tests.rs) is allowed with the expected
//! identity, and a wrong one is refused with its code. Signatures are taken as good here
//! (`Gate::decide_with_claims`); the signed tokens are in idp_tests.rs and in Envoy.

use serde_json::{json, Map, Value};
use tenantgate_core::gate::{Gate, Outcome, RequestView};

const DOC: &str = include_str!("../../../docs/idps.md");

fn json_blocks() -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = DOC.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.trim() == "```json" {
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((number + 1, body.join("\n")));
        }
    }
    blocks
}

/// The documented configuration whose provider is `name`, compiled.
fn documented(name: &str) -> Gate {
    let named = format!("\"name\": \"{name}\"");
    let (line, json) = json_blocks()
        .into_iter()
        .find(|(_, json)| json.contains(&named))
        .unwrap_or_else(|| panic!("no provider block for {name}"));
    Gate::from_json(json.as_bytes())
        .unwrap_or_else(|errors| panic!("docs/idps.md line {line}: {errors}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET https://<host><path>` with a token of these claims (valid for ten minutes): the
/// identity (tenant, user, roles), or the refusal's code.
fn decide(gate: &Gate, host: &str, path: &str, claims: &Value) -> Result<Identity, String> {
    let mut claims: Map<String, Value> = claims.as_object().cloned().expect("claims object");
    let now = now();
    claims.insert("iat".into(), json!(now - 5));
    claims.insert("exp".into(), json!(now + 600));
    let req = RequestView {
        method: "GET",
        authority: host,
        path,
        headers: &[],
    };
    match gate.decide_with_claims(&req, &claims, now) {
        Outcome::Allow {
            identity: Some(id), ..
        } => Ok((id.tenant, id.user, id.roles)),
        Outcome::Deny { denial, .. } => Err(denial.code().to_owned()),
        other => panic!("{other:?}"),
    }
}

type Identity = (String, String, Vec<String>);

fn identity(tenant: &str, user: &str, roles: &[&str]) -> Result<Identity, String> {
    Ok((
        tenant.into(),
        user.into(),
        roles.iter().map(|r| r.to_string()).collect(),
    ))
}

fn with(mut claims: Value, pointer: &str, value: Value) -> Value {
    *claims.pointer_mut(pointer).expect("member to replace") = value;
    claims
}

fn refused(code: &str) -> Result<Identity, String> {
    Err(code.into())
}

#[test]
fn every_provider_block_compiles() {
    let blocks = json_blocks();
    // One per IdP, and Keycloak's realm through OIDC discovery.
    assert_eq!(blocks.len(), 8, "one block per IdP, and one with discovery");
    for (line, json) in blocks {
        if let Err(errors) = Gate::from_json(json.as_bytes()) {
            panic!("docs/idps.md line {line}: {errors}");
        }
    }
}

#[test]
fn each_idp_has_its_block() {
    for idp in [
        "supertokens",
        "keycloak",
        "acme-keycloak",
        "entra",
        "auth0",
        "cognito-acme",
        "gcip",
        "okta",
    ] {
        let named = format!("\"name\": \"{idp}\"");
        assert!(
            json_blocks().iter().any(|(_, json)| json.contains(&named)),
            "no provider block for {idp}"
        );
    }
}

#[test]
fn supertokens_block() {
    let gate = documented("supertokens");
    let claims = json!({
        "iss": "https://api.example.com/auth", "sub": "st-user", "rsub": "st-user", "tId": "acme",
        "sessionHandle": "h", "antiCsrfToken": null,
        "st-role": {"v": ["admin"], "t": 1_700_000_000_000_u64},
        "st-perm": {"v": ["read:billing"], "t": 1_700_000_000_000_u64}
    });
    let run = |c: &Value, host| decide(&gate, host, "/x", c);
    assert_eq!(
        run(&claims, "acme.app.example.com"),
        identity("acme", "st-user", &["admin"])
    );
    assert_eq!(
        run(&claims, "public.app.example.com"),
        refused("tenant_mismatch")
    );
    let bare = with(claims, "/st-role", json!({"v": "admin", "t": 1}));
    assert_eq!(run(&bare, "acme.app.example.com"), refused("claim_invalid"));
}

fn keycloak_claims(realm: &str) -> Value {
    json!({
        "iss": format!("https://kc.example.com/realms/{realm}"), "aud": "account",
        "azp": "orders-api", "sub": "kc-user", "typ": "Bearer", "scope": "openid profile",
        "realm_access": {"roles": ["default-roles-acme"]},
        "resource_access": {"orders-api": {"roles": ["admin"]}, "account": {"roles": ["view-profile"]}}
    })
}

#[test]
fn keycloak_blocks() {
    let template = documented("keycloak");
    let claims = keycloak_claims("acme");
    assert_eq!(
        decide(&template, "acme.app.example.com", "/x", &claims),
        identity("acme", "kc-user", &["default-roles-acme", "admin"])
    );
    assert_eq!(
        decide(&template, "globex.app.example.com", "/x", &claims),
        refused("tenant_mismatch")
    );
    let other_client = with(claims.clone(), "/azp", json!("admin-cli"));
    assert_eq!(
        decide(&template, "acme.app.example.com", "/x", &other_client),
        refused("audience_mismatch")
    );

    let one_realm = documented("acme-keycloak");
    assert_eq!(
        decide(&one_realm, "acme.app.example.com", "/x", &claims),
        identity("acme", "kc-user", &["default-roles-acme", "admin"])
    );
    assert_eq!(
        decide(
            &one_realm,
            "acme.app.example.com",
            "/x",
            &keycloak_claims("globex")
        ),
        refused("issuer_not_trusted")
    );
}

#[test]
fn entra_block() {
    const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let gate = documented("entra");
    let claims = json!({
        "iss": format!("https://login.microsoftonline.com/{CONTOSO}/v2.0"),
        "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "tid": CONTOSO,
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474", "sub": "pairwise-sub",
        "scp": "Files.Read User.Read", "roles": ["admin"], "ver": "2.0"
    });
    let run = |c: &Value, path| decide(&gate, "contoso.app.example.com", path, c);
    assert_eq!(
        run(&claims, "/files/1"),
        // App roles are in `roles`, the default roles claim.
        identity(
            "contoso",
            "690222be-ff1a-4d56-abd1-7e4f7d38e474",
            &["admin"]
        )
    );
    let user_read = with(claims.clone(), "/scp", json!("User.Read"));
    assert_eq!(run(&user_read, "/files/1"), refused("scope_required"));
    assert!(run(&user_read, "/profile").is_ok());
    let stranger = "00000000-0000-0000-0000-000000000001";
    let unmapped = with(
        with(claims, "/tid", json!(stranger)),
        "/iss",
        json!(format!("https://login.microsoftonline.com/{stranger}/v2.0")),
    );
    assert_eq!(run(&unmapped, "/x"), refused("tenant_unmapped"));
}

#[test]
fn auth0_block() {
    let gate = documented("auth0");
    let claims = json!({
        "iss": "https://example.us.auth0.com/", "sub": "auth0|64f1",
        "aud": ["https://api.example.com", "https://example.us.auth0.com/userinfo"],
        "azp": "client-1", "scope": "openid profile read:orders",
        "org_id": "org_9ybsU1dN2dKfDkBi", "https://example.com/roles": ["admin"],
        "permissions": ["read:orders"]
    });
    let run = |c: &Value| decide(&gate, "acme.example.com", "/x", c);
    assert_eq!(run(&claims), identity("acme", "auth0|64f1", &["admin"]));
    // Organization ids are case-sensitive.
    let lower = with(claims.clone(), "/org_id", json!("org_9ybsu1dn2dkfdkbi"));
    assert_eq!(run(&lower), refused("tenant_unmapped"));
    let other_api = with(claims, "/aud", json!("https://other.example.com"));
    assert_eq!(run(&other_api), refused("audience_mismatch"));
}

#[test]
fn cognito_block() {
    let gate = documented("cognito-acme");
    let pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example";
    let access = json!({
        "iss": pool, "sub": "6f1c2d3e-0000-4000-8000-000000000001", "token_use": "access",
        "client_id": "1example23456789", "scope": "aws.cognito.signin.user.admin",
        "username": "alice", "cognito:groups": ["admin"], "version": 2, "jti": "j-1"
    });
    let run = |c: &Value| decide(&gate, "acme.example.com", "/x", c);
    assert_eq!(
        run(&access),
        identity("acme", "6f1c2d3e-0000-4000-8000-000000000001", &["admin"])
    );
    // The pool's ID token: `aud` and no `client_id`.
    let id_token = json!({
        "iss": pool, "sub": "6f1c2d3e-0000-4000-8000-000000000001", "token_use": "id",
        "aud": "1example23456789", "cognito:username": "alice", "cognito:groups": ["admin"]
    });
    assert_eq!(run(&id_token), refused("claim_missing"));
    let other_client = with(access, "/client_id", json!("9other"));
    assert_eq!(run(&other_client), refused("audience_mismatch"));
}

#[test]
fn google_identity_platform_block() {
    let gate = documented("gcip");
    let claims = json!({
        "iss": "https://securetoken.google.com/my-project", "aud": "my-project",
        "sub": "uid-1", "user_id": "uid-1", "auth_time": 1_700_000_000_u64,
        "firebase": {"identities": {}, "sign_in_provider": "password", "tenant": "acme-1x2y3"}
    });
    let run = |c: &Value| decide(&gate, "acme.example.com", "/x", c);
    assert_eq!(run(&claims), identity("acme", "uid-1", &[]));
    let other = with(claims, "/firebase/tenant", json!("globex-9z8y7"));
    assert_eq!(run(&other), refused("tenant_unmapped"));
}

#[test]
fn okta_block() {
    let gate = documented("okta");
    let claims = json!({
        "ver": 1, "jti": "AT.1", "iss": "https://example.okta.com/oauth2/default",
        "aud": "api://default", "cid": "0oa1client", "uid": "00u1user",
        "scp": ["openid", "orders.read"], "sub": "alice@example.com",
        "groups": ["admin", "Everyone"], "tenant": "acme"
    });
    let run = |c: &Value, host, path| decide(&gate, host, path, c);
    assert_eq!(
        run(&claims, "acme.example.com", "/orders/1"),
        identity("acme", "alice@example.com", &["admin", "Everyone"])
    );
    assert_eq!(
        run(&claims, "globex.example.com", "/orders/1"),
        refused("tenant_mismatch")
    );
    let no_scope = with(claims, "/scp", json!(["openid"]));
    assert_eq!(
        run(&no_scope, "acme.example.com", "/orders/1"),
        refused("scope_required")
    );
}
