//! What the upstream reads must be what the filter checked: claims forwarded in headers (hostile
//! values refused), client copies of forwarded headers under the spellings frameworks fold
//! together, and path segment parameters; each with Envoy's path normalization on and off.

use super::*;

fn forwarding_policy(path_parameters: &str) -> Value {
    let mut policy = policy();
    policy["headers"] = json!({"claims": {"x-plan": "plan", "x-features": "features"}});
    policy["path_parameters"] = json!(path_parameters);
    policy
}

fn start(path_parameters: &str, envoy_normalization: bool) -> Option<Gateway> {
    Gateway::start(
        Setup {
            policy: forwarding_policy(path_parameters),
            envoy_normalization,
            ..Setup::default()
        },
        jwks_with_key1(),
    )
}

fn token_with(roles: &[&str], extra: Value) -> String {
    let mut c = claims(ISSUER, AUDIENCE, "acme", "alice", roles);
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    key1().sign(&c)
}

/// Client headers that would pass for forwarded ones once a framework folds `_` and case.
const FOLDED_SPOOFS: [(&str, &str); 6] = [
    ("x_tenant_id", "globex"),
    ("X-Tenant_Id", "globex"),
    ("x_user_id", "mallory"),
    ("x_user_roles", "admin"),
    ("x_plan", "enterprise"),
    ("x-plan", "enterprise"),
];

fn with_spoofs(mut req: Req) -> Req {
    for (name, value) in FOLDED_SPOOFS {
        req = req.header(name, value);
    }
    req
}

fn assert_no_spoof(what: &str, seen: &ServerRequest) {
    for name in [
        "x_tenant_id",
        "x-tenant_id",
        "x_user_id",
        "x_user_roles",
        "x_plan",
    ] {
        assert_eq!(
            seen.header_all(name),
            Vec::<&str>::new(),
            "{what}: {name} reached the upstream"
        );
    }
}

fn claims_and_folded_headers(envoy_normalization: bool) {
    let Some(gw) = start("refuse", envoy_normalization) else {
        return;
    };
    let mode = format!("(Envoy normalization {envoy_normalization})");
    let tok = token_with(
        &["viewer"],
        json!({"plan": "pro", "features": ["sso", "audit"]}),
    );
    let what = format!("claims upstream {mode}");
    let seen = gw.allow(&what, with_spoofs(Req::get(ACME, "/api/x").bearer(&tok)));
    assert_identity(&what, &seen, "acme", "alice", &["viewer"]);
    assert_eq!(seen.header_all("x-plan"), ["pro"], "{what}");
    assert_eq!(seen.header_all("x-features"), ["sso,audit"], "{what}");
    assert_no_spoof(&what, &seen);

    // No claim, no header; and a public request loses the spoofs too.
    let plain = token(&key1(), "acme", "alice", &[]);
    let what = format!("no plan claim {mode}");
    let seen = gw.allow(&what, with_spoofs(Req::get(ACME, "/api/x").bearer(&plain)));
    assert_eq!(seen.header_all("x-plan"), Vec::<&str>::new(), "{what}");
    assert_no_spoof(&what, &seen);
    let what = format!("public {mode}");
    let seen = gw.allow(&what, with_spoofs(Req::get(ACME, "/public/x")));
    assert_no_identity(&what, &seen);
    assert_no_spoof(&what, &seen);
    assert_eq!(seen.header_all("x-plan"), Vec::<&str>::new(), "{what}");

    for hostile in [
        json!({"plan": "pro\r\nx-tenant-id: globex"}),
        json!({"plan": "nul\u{0}"}),
        json!({"features": ["sso,admin"]}),
        json!({"features": {"sso": true}}),
    ] {
        gw.deny(
            &format!("hostile claim {hostile} {mode}"),
            Req::get(ACME, "/api/x").bearer(&token_with(&[], hostile.clone())),
            Denial::ClaimNotForwardable,
        );
    }
}

#[test]
fn claims_and_folded_headers_with_envoy_normalization() {
    claims_and_folded_headers(true);
}

#[test]
fn claims_and_folded_headers_without_envoy_normalization() {
    claims_and_folded_headers(false);
}

fn path_parameters_refused(envoy_normalization: bool) {
    let Some(gw) = start("refuse", envoy_normalization) else {
        return;
    };
    let admin = token(&key1(), "acme", "root", &["admin"]);
    for path in [
        "/public;x=1",
        "/public/x;jsessionid=abc",
        "/admin;x=1",
        "/api/x%3Bjsessionid=abc",
        "/api/x%3bjsessionid=abc",
    ] {
        let what = format!("GET {path} (Envoy normalization {envoy_normalization})");
        gw.deny(&what, Req::get(ACME, path), Denial::PathInvalid);
        gw.deny(
            &what,
            Req::get(ACME, path).bearer(&admin),
            Denial::PathInvalid,
        );
    }
    // A `;` in the query is no path parameter.
    let what = format!("query (Envoy normalization {envoy_normalization})");
    gw.allow(&what, Req::get(ACME, "/public/x?a=1;b=2"));
}

#[test]
fn path_parameters_are_refused_with_envoy_normalization() {
    path_parameters_refused(true);
}

#[test]
fn path_parameters_are_refused_without_envoy_normalization() {
    path_parameters_refused(false);
}

fn path_parameters_stripped(envoy_normalization: bool) {
    let Some(gw) = start("strip", envoy_normalization) else {
        return;
    };
    let mode = format!("(Envoy normalization {envoy_normalization})");
    let admin = token(&key1(), "acme", "root", &["admin"]);
    let viewer = token(&key1(), "acme", "eve", &["viewer"]);
    // `/admin;x=1` is `/admin` to a servlet container: the admin rule decides it.
    for path in [
        "/admin;x=1",
        "/admin;x=1/users",
        "/admin/users;jsessionid=1",
    ] {
        let what = format!("GET {path} {mode}");
        gw.deny(&what, Req::get(ACME, path), Denial::TokenMissing);
        gw.deny(
            &what,
            Req::get(ACME, path).bearer(&viewer),
            Denial::RoleRequired,
        );
        let seen = gw.allow(&what, Req::get(ACME, path).bearer(&admin));
        assert_identity(&what, &seen, "acme", "root", &["admin"]);
        assert_eq!(seen.path, path, "{what}: forwarded as sent");
    }
    let what = format!("public with parameters {mode}");
    let seen = gw.allow(&what, Req::get(ACME, "/public;x=1/y"));
    assert_no_identity(&what, &seen);
}

#[test]
fn path_parameters_are_stripped_for_matching_with_envoy_normalization() {
    path_parameters_stripped(true);
}

#[test]
fn path_parameters_are_stripped_for_matching_without_envoy_normalization() {
    path_parameters_stripped(false);
}
