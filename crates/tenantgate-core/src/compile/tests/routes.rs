use serde_json::{json, Value};

use super::{assert_one_error, errors_of};
use crate::config::tests::{set, with};
use crate::config::Requirement;

#[test]
fn route_checks() {
    let route = |value: Value| with("/routes/1", value);
    let cases = [
        (
            route(json!({"path": {"glob": "/a/b**"}, "require": "public"})),
            "routes[1].path.glob",
            "`**` must be a whole segment",
        ),
        (
            route(json!({"path": {"prefix": "api"}, "require": "public"})),
            "routes[1].path.prefix",
            "must start with '/'",
        ),
        (
            route(json!({"path": {"exact": "/a/./b"}, "require": "public"})),
            "routes[1].path.exact",
            "write \"/a/b\"",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": ["get"], "require": "public"})),
            "routes[1].methods[0]",
            "not an upper-case HTTP method",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": [], "require": "public"})),
            "routes[1].methods",
            "omit `methods`",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "methods": ["GET", "GET"], "require": "public"})),
            "routes[1].methods[1]",
            "duplicate method",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "hosts": ["a b"], "require": "public"})),
            "routes[1].hosts[0]",
            "not a host name",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "require": {"roles": {}}})),
            "routes[1].require.roles",
            "at least one role",
        ),
        (
            route(json!({"path": {"exact": "/a"}, "require": {"roles": {"all_of": ["x", ""]}}})),
            "routes[1].require.roles.all_of[1]",
            "must not be empty",
        ),
        (
            route(json!({"name": "", "path": {"exact": "/a"}, "require": "public"})),
            "routes[1].name",
            "must not be empty",
        ),
        (
            with("/default_requirement", json!({"roles": {"any_of": []}})),
            "default_requirement.roles",
            "at least one role",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    let mut doc = route(json!({"name": "x", "path": {"exact": "/a"}, "require": "public"}));
    set(&mut doc, "/routes/0/name", json!("x"));
    assert_one_error(
        doc,
        "routes[1].name",
        "duplicate route name \"x\" (also routes[0].name)",
    );
}

#[test]
fn route_errors_name_the_field_and_every_route_is_checked() {
    let mut doc = with(
        "/routes",
        json!([
            {"path": {"glob": "/a**"}, "require": "public"},
            {"path": {"prefix": "/ok"}, "hosts": ["ok.example.com", "bad host"], "require": "public"}
        ]),
    );
    set(
        &mut doc,
        "/routes/2",
        json!({"path": {"exact": "/x"}, "require": "deny"}),
    );
    let paths: Vec<String> = errors_of(&doc).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["routes[0].path.glob", "routes[1].hosts[1]"]);
}

#[test]
fn compiled_routes_match_normalized_hosts_in_order() {
    let doc = with(
        "/routes",
        json!([
            {"path": {"prefix": "/admin/"}, "hosts": ["ACME.example.com."], "methods": ["GET"],
             "require": "deny"},
            {"path": {"glob": "/api/**"}, "require": "public"}
        ]),
    );
    let config = crate::config::parse(doc.to_string().as_bytes()).expect("shape");
    let compiled = super::compile(&config).expect("valid");
    let routes = compiled.policy.routes();
    assert_eq!(routes.len(), 2);
    assert_eq!(
        routes.lookup("GET", "acme.example.com", "/admin"),
        Some((0, &Requirement::Deny))
    );
    assert_eq!(routes.lookup("POST", "acme.example.com", "/admin"), None);
    assert_eq!(
        routes.lookup("GET", "beta.example.com", "/api/x"),
        Some((1, &Requirement::Public))
    );
}
