//! Path tricks, with and without Envoy's own normalization: whatever resolves under a route is
//! decided as that route.

use super::*;

/// What a path trick must come to.
#[derive(Debug, Clone, Copy)]
enum PathOutcome {
    /// The filter's catalogued refusal.
    Refused(Denial),
    /// Envoy's own 400 before the filter (its normalization rejects the path).
    EnvoyRejects,
    /// Forwarded as public, the upstream seeing this path.
    Public(&'static str),
}

fn path_tricks(envoy_normalization: bool, table: &[(&str, PathOutcome)]) {
    let Some(gw) = Gateway::start(
        Setup {
            envoy_normalization,
            ..Setup::default()
        },
        jwks_with_key1(),
    ) else {
        return;
    };
    for &(path, expected) in table {
        let what = format!("GET {path} (Envoy normalization {envoy_normalization})");
        match expected {
            PathOutcome::Refused(denial) => {
                gw.deny(&what, Req::get(ACME, path), denial);
            }
            PathOutcome::EnvoyRejects => {
                let (resp, seen) = gw.send(Req::get(ACME, path));
                assert_eq!(resp.status, 400, "{what}: {}", resp.summary());
                assert_eq!(
                    resp.error_code(),
                    None,
                    "{what}: the filter answered, not Envoy"
                );
                assert!(seen.is_none(), "{what}: reached the upstream");
            }
            PathOutcome::Public(upstream_path) => {
                let seen = gw.allow(&what, Req::get(ACME, path));
                assert_no_identity(&what, &seen);
                assert_eq!(seen.path, upstream_path, "{what}");
            }
        }
    }

    // With a token good for /admin, a path that resolves there is decided as /admin: the
    // identity is that of the token, the role rule applies.
    let admin = token(&key1(), "acme", "root", &["admin"]);
    let viewer = token(&key1(), "acme", "eve", &["viewer"]);
    for path in ["/public/../admin/x", "/public/%2e%2e/admin/x", "/admin//x"] {
        let what =
            format!("{path} with a viewer token (Envoy normalization {envoy_normalization})");
        gw.deny(
            &what,
            Req::get(ACME, path).bearer(&viewer),
            Denial::RoleRequired,
        );
        let seen = gw.allow(&what, Req::get(ACME, path).bearer(&admin));
        assert_identity(&what, &seen, "acme", "root", &["admin"]);
        if envoy_normalization {
            assert_eq!(
                seen.path, "/admin/x",
                "{what}: Envoy forwards its normalized path"
            );
        } else {
            assert_eq!(seen.path, path, "{what}: the path is forwarded as sent");
        }
    }
}

/// The tricks both modes treat alike: every one that resolves under /admin needs the admin
/// token, never passes as /public.
const COMMON_PATH_TRICKS: [(&str, PathOutcome); 8] = [
    (
        "/public/../admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    ("/admin//x", PathOutcome::Refused(Denial::TokenMissing)),
    ("//admin", PathOutcome::Refused(Denial::TokenMissing)),
    (
        "/public/%2e%2e/admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    (
        "/public/%2E%2E/admin",
        PathOutcome::Refused(Denial::TokenMissing),
    ),
    ("/public/%zz", PathOutcome::Refused(Denial::PathInvalid)),
    ("/PUBLIC/x", PathOutcome::Refused(Denial::RouteDenied)),
    (
        "/public/x?a=../../admin",
        PathOutcome::Public("/public/x?a=../../admin"),
    ),
];

#[test]
fn path_tricks_with_envoy_normalization() {
    let mut table = COMMON_PATH_TRICKS.to_vec();
    table.extend([
        // Envoy rejects escaped slashes and backslashes, and NUL, itself.
        ("/public%2F..%2Fadmin", PathOutcome::EnvoyRejects),
        ("/public/..%2Fadmin", PathOutcome::EnvoyRejects),
        ("/public/..%5Cadmin", PathOutcome::EnvoyRejects),
        ("/public%5C..%5Cadmin", PathOutcome::EnvoyRejects),
        ("/public/%00", PathOutcome::EnvoyRejects),
        ("/public/x%00", PathOutcome::EnvoyRejects),
        // Envoy resolves these before the filter sees them.
        (
            "/public\\..\\admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        (
            "/public/../../admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        (
            "/public/..;/admin",
            PathOutcome::Refused(Denial::TokenMissing),
        ),
        ("/public/./x", PathOutcome::Public("/public/x")),
        ("/%70ublic/x", PathOutcome::Public("/public/x")),
    ]);
    path_tricks(true, &table);
}

#[test]
fn path_tricks_without_envoy_normalization() {
    let mut table = COMMON_PATH_TRICKS.to_vec();
    table.extend([
        // The filter refuses what upstreams could read two ways.
        (
            "/public%2F..%2Fadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..%2Fadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..%5Cadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public%5C..%5Cadmin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public\\..\\admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        ("/public/%00", PathOutcome::Refused(Denial::PathInvalid)),
        ("/public/x%00", PathOutcome::Refused(Denial::PathInvalid)),
        (
            "/public/../../admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        (
            "/public/..;/admin",
            PathOutcome::Refused(Denial::PathInvalid),
        ),
        // Harmless spellings of a public path pass, forwarded as sent.
        ("/public/./x", PathOutcome::Public("/public/./x")),
        ("/%70ublic/x", PathOutcome::Public("/%70ublic/x")),
    ]);
    path_tricks(false, &table);
}
