//! Break-glass: `elevate` (CLI and `POST /admin/elevate`) issues a short-lived token for one
//! target tenant to a platform operator, with a reason, audited; nobody else gets one.

use super::*;

const OPERATORS: &str =
    "[operators]\ntenant = \"platform\"\nrole = \"operator\"\nmax_ttl = \"10m\"\n";

/// An issuer with the platform tenant, its operator `ops@platform.test`, a customer tenant
/// `acme` whose own admin `fake@acme.test` holds a role named `operator` there too.
fn start() -> Issuer {
    let mut opts = Options::new(Backend::Sqlite);
    opts.extra = OPERATORS.into();
    let issuer = Issuer::start(opts);
    issuer.tenant("platform", json!({}));
    issuer.tenant("acme", json!({}));
    issuer.member("platform", "ops@platform.test", Some(PW), &["operator"]);
    issuer.member("platform", "dev@platform.test", Some(PW), &["viewer"]);
    issuer.member("acme", "fake@acme.test", Some(PW), &["operator"]);
    issuer
}

fn elevate(issuer: &Issuer, body: Value) -> Resp {
    issuer.admin("POST", "/admin/elevate", Some(&body))
}

#[test]
fn the_admin_api_elevates_an_operator_for_one_tenant() {
    let issuer = start();
    let r = elevate(
        &issuer,
        json!({"email": "ops@platform.test", "tenant": "acme", "reason": "INC-7", "ttl": "5m"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let answer = r.json();
    let token = answer["token"].as_str().expect("token");
    let claims = pyjwt_verify(&issuer.url("/.well-known/jwks.json"), token).expect("verifies");
    assert_eq!(claims["tenantId"], "platform");
    assert_eq!(claims["target_tenant"], "acme");
    assert_eq!(claims["roles"], json!(["operator"]));
    assert!(claims.get("sid").is_none(), "no session behind it");
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!((lifetime, answer["expires_in"].as_i64()), (300, Some(300)));
    assert_eq!(answer["jti"], claims["jti"]);

    let audit = issuer.audit();
    let line = audit
        .iter()
        .find(|e| e["action"] == "elevate")
        .unwrap_or_else(|| panic!("elevate is not audited: {audit:?}"));
    assert_eq!(line["actor"], "admin");
    assert_eq!(line["tenantId"], "acme");
    assert_eq!(line["operator"], "ops@platform.test");
    assert_eq!(line["reason"], "INC-7");
    assert_eq!(line["ttl"], 300);
    assert_eq!(line["jti"], claims["jti"]);

    // Without a ttl the token lives [operators] max_ttl.
    let r = elevate(
        &issuer,
        json!({"email": "ops@platform.test", "tenant": "acme", "reason": "INC-8"}),
    );
    assert_eq!(r.json()["expires_in"], 600, "{}", r.text());
}

#[test]
fn only_operators_with_a_reason_and_a_short_ttl_are_elevated() {
    let issuer = start();
    let cases = [
        (
            json!({"email": "fake@acme.test", "tenant": "platform", "reason": "x"}),
            400,
            "operators' own tenant",
        ),
        (
            json!({"email": "fake@acme.test", "tenant": "acme", "reason": "x"}),
            400,
            "is not an operator",
        ),
        (
            json!({"email": "dev@platform.test", "tenant": "acme", "reason": "x"}),
            400,
            "is not an operator",
        ),
        (
            json!({"email": "ops@platform.test", "tenant": "acme", "reason": " "}),
            400,
            "reason",
        ),
        (
            json!({"email": "ops@platform.test", "tenant": "acme", "reason": "x", "ttl": "11m"}),
            400,
            "ttl: must be 1s to 10m",
        ),
        (
            json!({"email": "ops@platform.test", "tenant": "nowhere", "reason": "x"}),
            404,
            "no such tenant",
        ),
        (
            json!({"email": "ops@platform.test", "tenant": "acme"}),
            400,
            "reason",
        ),
    ];
    for (body, status, needle) in cases {
        let r = elevate(&issuer, body.clone());
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(needle), "{body}: {}", r.text());
    }
    assert!(
        !issuer.audit().iter().any(|e| e["action"] == "elevate"),
        "a refused elevation is not an elevation"
    );
    let r = issuer.request(
        "POST",
        "/admin/elevate",
        &[("content-type", "application/json")],
        Some(br#"{"email":"ops@platform.test","tenant":"acme","reason":"x"}"#),
    );
    assert_eq!(r.status, 401, "no admin token: {}", r.text());
}

#[test]
fn the_cli_elevates_and_an_issuer_without_operators_refuses() {
    let issuer = start();
    let out = issuer.cli(
        &[
            "elevate",
            "--email",
            "ops@platform.test",
            "--tenant",
            "acme",
            "--reason",
            "INC-9",
            "--ttl",
            "2m",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let claims = pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies");
    assert_eq!(claims["target_tenant"], "acme");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
    assert!(issuer
        .audit()
        .iter()
        .any(|e| e["action"] == "elevate" && e["actor"] == "cli" && e["reason"] == "INC-9"));
    let out = issuer.cli(
        &[
            "elevate",
            "--email",
            "ops@platform.test",
            "--tenant",
            "acme",
        ],
        None,
    );
    assert!(!out.status.success(), "the reason is mandatory");

    let plain = Issuer::start(Options::new(Backend::Sqlite));
    plain.tenant("acme", json!({}));
    let r = elevate(
        &plain,
        json!({"email": "ops@platform.test", "tenant": "acme", "reason": "x"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no [operators] section"), "{}", r.text());
}
