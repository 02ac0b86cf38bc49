//! The whole chain, as the demo runs it: the real issuer signs users in, Envoy with the real filter
//! fetches the issuer's JWKS through a cluster and verifies its tokens, and the echo upstream
//! reports what it received.

use tenantgate_testkit as support;
use tenantgate_testkit::issuer as issuer_support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use issuer_support::{Backend, Issuer, Options};
use support::{EchoUpstream, Envoy, EnvoyBuilder, Req};

mod demo;
mod mfa;

/// The demo's policy, fetching keys from this issuer.
fn policy() -> Value {
    json!({
        "realm": "tenantgate-e2e",
        "providers": [{
            "name": "issuer",
            "issuer": issuer_support::ISSUER,
            "audiences": [issuer_support::AUDIENCE],
            "jwks": {
                "remote": {
                    "cluster": "tenantgate_issuer",
                    "uri": "http://issuer.test/.well-known/jwks.json",
                    "timeout_ms": 1000
                },
                "refresh_min_seconds": 1,
                "refresh_default_seconds": 1,
                "refresh_max_seconds": 1,
                "backoff_initial_ms": 200,
                "backoff_max_ms": 500
            }
        }],
        "tenants": {"acme": {}, "globex": {}},
        "host_templates": ["{tenant}.e2e.local"],
        "routes": [
            {"name": "admin", "path": {"prefix": "/api/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
            {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
        ]
    })
}

struct Stack {
    issuer: Issuer,
    upstream: EchoUpstream,
    envoy: Envoy,
}

/// Issuer with tenants acme and globex (alice: admin in acme; carol: member in globex), Envoy
/// with the filter, the echo upstream. `None` when the artifacts are missing outside CI.
fn stack(options: Options) -> Option<Stack> {
    stack_with(options, &policy())
}

/// [`stack`] with another filter policy.
fn stack_with(options: Options, policy: &Value) -> Option<Stack> {
    let artifacts = support::artifacts()?;
    let issuer = Issuer::start(options);
    issuer.tenant("acme", json!({}));
    issuer.tenant("globex", json!({}));
    issuer.member(
        "acme",
        "alice@acme.example",
        Some("alice-password-1"),
        &["admin"],
    );
    issuer.member(
        "globex",
        "carol@globex.example",
        Some("carol-password-1"),
        &["member"],
    );
    let port: u16 = issuer
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("issuer port");
    let upstream = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&artifacts.wasm, policy)
        .upstream(upstream.port())
        .cluster("tenantgate_issuer", port)
        .concurrency(2)
        .start();
    Some(Stack {
        issuer,
        upstream,
        envoy,
    })
}

fn sign_in(issuer: &Issuer, tenant: &str, email: &str, password: &str) -> Value {
    let r = issuer.sign_in(tenant, email, password, "body");
    assert_eq!(r.status, 200, "sign-in: {}", r.text());
    r.json()
}

fn access_token(v: &Value) -> String {
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A fresh access token of alice, admin in acme.
fn alice_token(issuer: &Issuer) -> String {
    access_token(&sign_in(
        issuer,
        "acme",
        "alice@acme.example",
        "alice-password-1",
    ))
}

fn kid(token: &str) -> String {
    issuer_support::header(token)["kid"]
        .as_str()
        .expect("kid")
        .to_string()
}

#[test]
fn signed_in_users_reach_upstream_as_their_tenant_only() {
    let Some(s) = stack(Options::new(Backend::Sqlite)) else {
        return;
    };
    let alice = alice_token(&s.issuer);
    let carol = access_token(&sign_in(
        &s.issuer,
        "globex",
        "carol@globex.example",
        "carol-password-1",
    ));

    let id = support::request_id();
    let r = s.envoy.send(
        &Req::get("acme.e2e.local", "/api/admin/users")
            .bearer(&alice)
            .header("x-request-id", &id)
            .header("x-tenant-id", "globex"),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let seen = s.upstream.find(&id).expect("upstream got the request");
    assert_eq!(seen.header("x-tenant-id"), Some("acme"));
    assert_eq!(seen.header("x-user-roles"), Some("admin"));
    let sub = issuer_support::payload(&alice)["sub"]
        .as_str()
        .map(str::to_string);
    assert_eq!(seen.header("x-user-id").map(str::to_string), sub);
    assert_eq!(seen.header("authorization"), None);

    let r = s
        .envoy
        .send(&Req::get("globex.e2e.local", "/api/x").bearer(&alice));
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (403, Some("tenant_mismatch"))
    );
    let r = s
        .envoy
        .send(&Req::get("globex.e2e.local", "/api/admin/users").bearer(&carol));
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (403, Some("role_required"))
    );
    let r = s
        .envoy
        .send(&Req::get("globex.e2e.local", "/api/x").bearer(&carol));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn a_rotated_refresh_token_kills_the_session() {
    let Some(s) = stack(Options::new(Backend::Sqlite)) else {
        return;
    };
    let first = sign_in(&s.issuer, "acme", "alice@acme.example", "alice-password-1");
    let refresh = |token: &str| {
        s.issuer
            .post_json("/v1/tenants/acme/refresh", &json!({"refresh_token": token}))
    };
    let old = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let rotated = refresh(&old);
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    let next = rotated.json();
    let new_access = access_token(&next);
    let r = s
        .envoy
        .send(&Req::get("acme.e2e.local", "/api/x").bearer(&new_access));
    assert_eq!(r.status, 200, "{}", r.summary());

    // The legitimate holder refreshes with its new token; then the thief replays the old one:
    // the whole family dies, the legitimate holder's newest token too. (Before the new token
    // was used, a replay would have been taken for a lost answer and got that same token.)
    let newest = refresh(next["refresh_token"].as_str().expect("refresh token"));
    assert_eq!(newest.status, 200, "{}", newest.text());
    let theft = refresh(&old);
    assert_eq!(theft.status, 401);
    assert_eq!(theft.error(), "token_theft_detected");
    let legit = refresh(
        newest.json()["refresh_token"]
            .as_str()
            .expect("refresh token"),
    );
    assert_eq!(legit.status, 401, "{}", legit.text());
}

#[test]
fn key_rotation_while_requests_flow_fails_nothing() {
    let mut options = Options::new(Backend::Sqlite);
    options.jwks_max_age = "1s";
    options.publish_lead = "3s";
    let Some(s) = stack(options) else { return };
    let before = alice_token(&s.issuer);
    let out = s.issuer.cli(&["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "keys rotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // For a while past the new key's activation: fresh tokens and the old one, all must pass.
    let mut sent = 0;
    let mut kids = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        let fresh = alice_token(&s.issuer);
        kids.insert(kid(&fresh));
        for token in [&fresh, &before] {
            let r = s
                .envoy
                .send(&Req::get("acme.e2e.local", "/api/x").bearer(token));
            assert_eq!(r.status, 200, "after {sent} good requests: {}", r.summary());
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(kids.len() >= 2, "the new key never signed: kids {kids:?}");
    assert!(kids.contains(&kid(&before)));
}

#[test]
fn tokens_keep_verifying_from_the_cached_key_set_when_the_issuer_is_down() {
    let Some(mut s) = stack(Options::new(Backend::Sqlite)) else {
        return;
    };
    let used = alice_token(&s.issuer);
    let unseen = alice_token(&s.issuer);
    let r = s
        .envoy
        .send(&Req::get("acme.e2e.local", "/api/x").bearer(&used));
    assert_eq!(r.status, 200, "{}", r.summary());

    s.issuer.stop();
    // Several refresh intervals (1 s) of failed fetches: the last good key set stays.
    std::thread::sleep(Duration::from_secs(3));
    for token in [&used, &unseen] {
        let r = s
            .envoy
            .send(&Req::get("acme.e2e.local", "/api/x").bearer(token));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    // Envoy answers a callout to a cluster with no live endpoint with its own 503: a refused
    // answer, counted as rejected; a timeout or reset counts as a failure.
    let stat = |name: &str| {
        s.envoy
            .stat(&format!("wasmcustom.tenantgate.jwks.issuer.fetch.{name}"))
            .unwrap_or(0)
    };
    assert!(
        stat("rejected") + stat("failure") >= 1,
        "the filter should have tried and failed to refresh"
    );
    assert!(stat("success") >= 1);
}

/// Break-glass across the chain: the issuer's `elevate` mints a platform operator's token for
/// acme, which Envoy accepts on acme's support route only, as acme with the acting operator.
#[test]
fn an_elevated_operator_acts_on_the_target_tenant_only() {
    let mut policy = policy();
    policy["tenants"]["platform"] = json!({});
    policy["routes"] = json!([
        {"name": "support", "path": {"prefix": "/api/support"}, "require": "authenticated",
         "operators": true},
        {"name": "api", "path": {"prefix": "/api"}, "require": "authenticated"}
    ]);
    policy["operators"] = json!({"tenants": ["platform"], "role": "operator"});
    let mut options = Options::new(Backend::Sqlite);
    options.extra = "[operators]\ntenant = \"platform\"\nrole = \"operator\"\n".into();
    let Some(s) = stack_with(options, &policy) else {
        return;
    };
    s.issuer.tenant("platform", json!({}));
    s.issuer.member(
        "platform",
        "ops@platform.example",
        Some("ops-password-1"),
        &["operator"],
    );
    let out = s.issuer.cli(
        &[
            "elevate",
            "--email",
            "ops@platform.example",
            "--tenant",
            "acme",
            "--reason",
            "INC-1234 billing export stuck",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "elevate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let operator = issuer_support::payload(&token)["sub"]
        .as_str()
        .expect("sub")
        .to_string();

    let id = support::request_id();
    let r = s.envoy.send(
        &Req::get("acme.e2e.local", "/api/support/tickets")
            .bearer(&token)
            .header("x-acting-operator", "someone-else")
            .header("x-request-id", &id),
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let seen = s.upstream.find(&id).expect("upstream saw it");
    assert_eq!(seen.header_all("x-tenant-id"), ["acme"]);
    assert_eq!(seen.header_all("x-acting-operator"), [operator.as_str()]);
    assert_eq!(
        s.envoy.wasm_stat("tenantgate.tenant.acme.operator"),
        Some(1)
    );

    for (host, path, code) in [
        ("acme.e2e.local", "/api/invoices", "operator_route_denied"),
        (
            "globex.e2e.local",
            "/api/support/tickets",
            "operator_target_mismatch",
        ),
    ] {
        let r = s.envoy.send(&Req::get(host, path).bearer(&token));
        assert_eq!(
            r.error_code().as_deref(),
            Some(code),
            "{host}{path}: {}",
            r.summary()
        );
    }
    let audit = s.issuer.audit();
    assert!(
        audit.iter().any(|e| e["action"] == "elevate"
            && e["tenantId"] == "acme"
            && e["reason"] == "INC-1234 billing export stuck"),
        "{audit:?}"
    );
}

/// A header value with bytes that are not UTF-8 (legal obs-text in HTTP/1.1) must neither kill the
/// worker's VM nor pass: the request is decided, and the next requests are served as usual.
#[test]
fn non_utf8_header_bytes_do_not_kill_the_filter() {
    use std::io::{Read, Write};

    let Some(s) = stack(Options::new(Backend::Sqlite)) else {
        return;
    };
    let alice = alice_token(&s.issuer);
    let raw = |extra: &[u8]| -> String {
        let mut conn = std::net::TcpStream::connect(s.envoy.addr()).expect("connect to Envoy");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut req =
            b"GET /api/x HTTP/1.1\r\nhost: acme.e2e.local\r\nconnection: close\r\n".to_vec();
        req.extend_from_slice(extra);
        req.extend_from_slice(b"\r\n");
        conn.write_all(&req).expect("send");
        let mut out = Vec::new();
        let _ = conn.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    for _ in 0..4 {
        // Both workers see such requests; each answer is a decision, not a dead VM's 503.
        let answer = raw(b"x-note: caf\xe9\r\n");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("token_missing"), "{answer}");
        let bearer = [b"authorization: Bearer ", alice.as_bytes(), b"\xff\r\n"].concat();
        let answer = raw(&[b"x-note: \xff\xfe\r\n".as_slice(), &bearer].concat());
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let r = s
        .envoy
        .send(&Req::get("acme.e2e.local", "/api/x").bearer(&alice));
    assert_eq!(r.status, 200, "{}", r.summary());
}
