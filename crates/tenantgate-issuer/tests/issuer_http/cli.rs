//! The command line: mint, tenants, users, roles and keys on the same database as the server.

use super::*;

/// Runs the CLI on the issuer's configuration: (success, stdout, stderr).
fn cli_runner(issuer: &Issuer) -> impl Fn(&[&str], Option<&str>) -> (bool, String, String) + '_ {
    |args, stdin| {
        let out = issuer.cli(args, stdin);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}

#[test]
fn cli_mint_signs_verifiable_tokens_within_the_ttl_limit() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let run = cli_runner(&issuer);
    let (ok, out, err) = run(
        &[
            "mint",
            "--tenant",
            "acme",
            "--sub",
            "alice",
            "--roles",
            "admin,billing",
            "--ttl",
            "10m",
        ],
        None,
    );
    assert!(ok, "{err}");
    let claims = pyjwt_verify(&issuer.url("/.well-known/jwks.json"), out.trim())
        .expect("minted token verifies");
    assert_eq!(
        (claims["tenantId"].as_str(), claims["sub"].as_str()),
        (Some("acme"), Some("alice"))
    );
    assert_eq!(claims["roles"], json!(["admin", "billing"]));
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        600
    );
    assert!(
        issuer
            .audit()
            .iter()
            .any(|e| e["action"] == "mint" && e["sub"] == "alice"),
        "mint is audited"
    );

    let (ok, _, err) = run(
        &["mint", "--tenant", "acme", "--sub", "alice", "--ttl", "2h"],
        None,
    );
    assert!(!ok && err.contains("max_token_ttl"), "{err}");
    let (ok, _, err) = run(
        &[
            "mint", "--tenant", "acme", "--sub", "alice", "--ttl", "soon",
        ],
        None,
    );
    assert!(!ok && err.contains("--ttl"), "{err}");
    let (ok, _, err) = run(&["mint", "--tenant", "ACME", "--sub", "alice"], None);
    assert!(!ok && err.contains("tenant"), "{err}");
}

#[test]
fn cli_tenants_users_roles_sessions_and_keys_act_on_the_servers_database() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    let run = cli_runner(&issuer);
    let (ok, _, err) = run(&["tenant", "add", "cli-t", "--access-ttl", "5m"], None);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["tenant", "list", "--json"], None);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).expect("json list");
    assert!(list
        .as_array()
        .expect("array")
        .iter()
        .any(|t| t["id"] == "cli-t" && t["access_ttl"] == 300));
    assert!(
        run(
            &[
                "role",
                "define",
                "ops",
                "--permissions",
                "deploy:*,logs:read"
            ],
            None
        )
        .0
    );
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--tenant",
            "cli-t",
            "--email",
            "ops@x.io",
            "--password-stdin",
        ],
        Some("a long password\n"),
    );
    assert!(ok, "{err}");
    assert!(
        run(
            &["role", "grant", "--tenant", "cli-t", "--email", "ops@x.io", "--role", "ops"],
            None
        )
        .0
    );
    let r = issuer.sign_in("cli-t", "ops@x.io", "a long password", "body");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        payload(r.json()["access_token"].as_str().expect("t"))["roles"],
        json!(["ops"])
    );
    assert!(
        run(
            &["role", "revoke", "--tenant", "cli-t", "--email", "ops@x.io", "--role", "ops"],
            None
        )
        .0
    );
    let r = issuer.post_json(
        "/v1/tenants/cli-t/refresh",
        &json!({"refresh_token": r.json()["refresh_token"]}),
    );
    assert_eq!(
        payload(r.json()["access_token"].as_str().expect("t"))["roles"],
        json!([]),
        "revocation applies at the next refresh"
    );
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "role_revoke" && e["tenantId"] == "cli-t"));

    let (ok, out, _) = run(&["session", "revoke", "--email", "ops@x.io"], None);
    assert!(ok && out.contains("revoked 1 session"), "{out}");
    let (ok, out, _) = run(&["keys", "list"], None);
    assert!(ok && out.contains("current"), "{out}");
    let (ok, out, _) = run(&["keys", "rotate"], None);
    assert!(ok && out.contains("published key"), "{out}");
    assert!(run(&["tenant", "disable", "cli-t"], None).0);
    assert_eq!(
        issuer
            .sign_in("cli-t", "ops@x.io", "a long password", "body")
            .error(),
        "tenant_disabled"
    );
}

#[test]
fn every_cli_command_explains_itself() {
    for cmd in [
        vec!["serve"],
        vec!["mint"],
        vec!["tenant", "add"],
        vec!["tenant", "list"],
        vec!["tenant", "disable"],
        vec!["user", "add"],
        vec!["role", "grant"],
        vec!["role", "revoke"],
        vec!["keys", "list"],
        vec!["keys", "rotate"],
        vec!["keys", "check"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = std::process::Command::new(binary())
            .args(&args)
            .output()
            .expect("help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.lines().next().is_some_and(|l| l.len() > 10),
            "{cmd:?}: {text}"
        );
    }
}
