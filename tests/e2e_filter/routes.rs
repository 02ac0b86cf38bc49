//! Route requirements: role rules, public routes, and the default deny.

use super::*;

#[test]
fn role_rules_any_of_and_all_of() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    let tok = |roles: &[&str]| token(&k, "acme", "u1", roles);

    // any_of [admin, owner]
    gw.allow(
        "admin",
        Req::get(ACME, "/admin/users").bearer(&tok(&["admin"])),
    );
    gw.allow(
        "owner",
        Req::get(ACME, "/admin").bearer(&tok(&["viewer", "owner"])),
    );
    for (what, roles) in [
        ("viewer on admin", &["viewer"][..]),
        ("no roles on admin", &[][..]),
        ("role names are case-sensitive", &["Admin"][..]),
    ] {
        let resp = gw.deny(
            what,
            Req::get(ACME, "/admin/users").bearer(&tok(roles)),
            Denial::RoleRequired,
        );
        assert!(resp
            .header("www-authenticate")
            .is_some_and(|h| h.contains("error=\"insufficient_scope\"")));
    }
    // The prefix is segment-aware: /administrator is not /admin, and falls to the default.
    gw.deny(
        "/administrator is not under /admin",
        Req::get(ACME, "/administrator").bearer(&tok(&["viewer"])),
        Denial::RouteDenied,
    );

    // all_of [analyst, editor] for POST and PUT; other methods fall to the next rule.
    let both = tok(&["analyst", "editor"]);
    gw.allow(
        "analyst+editor POST",
        Req::new("POST", ACME, "/reports/2024/q1")
            .bearer(&both)
            .body(b"{}"),
    );
    gw.deny(
        "analyst only POST",
        Req::new("POST", ACME, "/reports/2024/q1")
            .bearer(&tok(&["analyst"]))
            .body(b"{}"),
        Denial::RoleRequired,
    );
    gw.deny(
        "editor only PUT",
        Req::new("PUT", ACME, "/reports/q1").bearer(&tok(&["editor"])),
        Denial::RoleRequired,
    );
    let seen = gw.allow(
        "analyst GET takes the read rule",
        Req::get(ACME, "/reports/2024/q1").bearer(&tok(&["analyst"])),
    );
    assert_identity("reports read", &seen, "acme", "u1", &["analyst"]);
}

#[test]
fn public_routes_need_no_token_and_unmatched_routes_are_denied() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let seen = gw.allow("public, no token", Req::get(ACME, "/public/info"));
    assert_no_identity("public", &seen);
    gw.allow("public prefix itself", Req::get(GLOBEX, "/public"));

    // Default deny: a path no rule matches, whatever the token.
    let admin = token(&key1(), "acme", "alice", &["admin", "owner"]);
    let resp = gw.deny(
        "no rule matches",
        Req::get(ACME, "/elsewhere").bearer(&admin),
        Denial::RouteDenied,
    );
    assert_eq!(
        resp.header("www-authenticate"),
        Some(format!("Bearer realm=\"{REALM}\"").as_str())
    );
    gw.deny("root path", Req::get(ACME, "/"), Denial::RouteDenied);
    // An explicit deny rule.
    gw.deny(
        "deny rule",
        Req::get(ACME, "/internal/metrics").bearer(&admin),
        Denial::RouteDenied,
    );
}
