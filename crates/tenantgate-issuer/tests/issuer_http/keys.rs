//! Signing keys: rotation with tokens in flight, restarts, keys sealed in the database.

use super::*;

on_both_backends!(
    key_rotation_with_tokens_in_flight,
    restart_keeps_sessions_and_keys,
);

fn key_rotation_with_tokens_in_flight(backend: Backend) {
    let mut opts = Options::new(backend);
    opts.jwks_max_age = "1s";
    opts.publish_lead = "3s";
    let issuer = Issuer::start(opts);
    let t = tenant_id("rot");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let jwks_url = issuer.url("/.well-known/jwks.json");
    let access = |r: Resp| {
        r.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    };

    let jwks = issuer.get("/.well-known/jwks.json");
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=1"));
    let before = access(issuer.sign_in(&t, &user, PW, "body"));
    let old_kid = header(&before)["kid"].as_str().expect("kid").to_string();
    assert_eq!(header(&before)["alg"], "RS256");

    // Rotate: the new key is published at once but does not sign yet.
    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(r.status, 201, "{}", r.text());
    let new_kid = r.json()["key"]["kid"].as_str().expect("kid").to_string();
    assert_eq!(r.json()["key"]["state"], "next");
    let kids: Vec<String> = issuer.get("/.well-known/jwks.json").json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let during = access(issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(
        header(&during)["kid"],
        old_kid.as_str(),
        "the new key must not sign before the lead time"
    );
    // Rotating again while a key is pending changes nothing.
    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(
        (r.status, r.json()["created"].as_bool()),
        (200, Some(false))
    );

    // The lead (3 s) counts from publication, activation is on a whole second: up to 4 s.
    sleep(Duration::from_millis(4300));
    let after = access(issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(header(&after)["kid"], new_kid.as_str());
    // A token from after the rotation verifies as soon as it is issued ...
    pyjwt_verify(&jwks_url, &after).expect("new token verifies at once");
    // ... and tokens signed before it still verify.
    pyjwt_verify(&jwks_url, &before).expect("token signed before rotation still verifies");
    pyjwt_verify(&jwks_url, &during).expect("token signed during publication still verifies");

    let keys = issuer.admin("GET", "/admin/keys", None).json();
    let state = |kid: &str| {
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].clone())
    };
    assert_eq!(state(&old_kid), Some(json!("retired")));
    assert_eq!(state(&new_kid), Some(json!("current")));
    let audit = issuer.audit();
    let created: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "key_rotation")
        .map(|e| (e["trigger"].clone(), e["kid"].clone()))
        .collect();
    assert_eq!(
        created,
        [
            (json!("bootstrap"), json!(old_kid)),
            (json!("manual"), json!(new_kid))
        ]
    );
    assert!(issuer
        .get("/metrics")
        .text()
        .contains("tenantgate_issuer_key_rotations_total 2"));
}

fn restart_keeps_sessions_and_keys(backend: Backend) {
    let mut issuer = Issuer::start(Options::new(backend));
    let t = tenant_id("keep");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let r = issuer.sign_in(&t, &user, PW, "cookie");
    let access = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let csrf = r.json()["csrf_token"].as_str().expect("csrf").to_string();
    let cookie = format!("tg_refresh={}", r.cookie("tg_refresh").expect("cookie"));
    let body_rt = issuer.sign_in(&t, &user, PW, "body").json()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_string();

    issuer.restart(); // SIGKILL: only what was committed survives
    let jwks_url = issuer.url("/.well-known/jwks.json");
    pyjwt_verify(&jwks_url, &access)
        .expect("token from before the restart verifies against the new process");
    let r = issuer.request(
        "POST",
        &format!("/v1/tenants/{t}/refresh"),
        &csrf_headers(&cookie, &csrf),
        None,
    );
    assert_eq!(r.status, 200, "cookie session survives: {}", r.text());
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": body_rt}),
    );
    assert_eq!(r.status, 200, "body session survives: {}", r.text());
    let fresh = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        header(&fresh)["kid"],
        header(&access)["kid"],
        "same signing key after restart"
    );
    // Theft detection state survives too: once the successor is used, the old token is theft.
    let next = r.json()["refresh_token"].as_str().expect("rt").to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": next}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": body_rt}),
    );
    assert_eq!(r.error(), "token_theft_detected");
}

#[test]
fn sealed_keys_in_the_database() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.sealed_keys = true;
    let mut issuer = Issuer::start(opts);
    assert!(
        !issuer.dir.path().join("keys").exists(),
        "no key files when keys are sealed"
    );
    let out = issuer.cli(
        &[
            "mint", "--tenant", "acme", "--sub", "svc", "--roles", "reader", "--ttl", "5m",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies");
    issuer.restart();
    pyjwt_verify(&issuer.url("/.well-known/jwks.json"), &token).expect("verifies after restart");
}

#[test]
fn lifetimes_are_clamped_to_max_token_ttl_and_keys_remember_the_longest() {
    let mut issuer = Issuer::start(Options::new(Backend::Sqlite));
    let t = tenant_id("clamp");
    issuer.tenant(&t, json!({"access_ttl": "1h"}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(pyjwt_exp_minus_iat(&issuer, &r), 3600);
    let current = |issuer: &Issuer| {
        let keys = issuer.admin("GET", "/admin/keys", None).json();
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["state"] == "current")
            .cloned()
            .expect("a current key")
    };
    assert_eq!(current(&issuer)["longest_token_ttl"], 3600);

    // The operator lowers the maximum; the tenant's stored lifetime (1h) is now above it.
    let config = std::fs::read_to_string(&issuer.config).expect("config");
    let lowered = config.replace("max_token_ttl = \"1h\"", "max_token_ttl = \"30m\"");
    assert_ne!(config, lowered);
    std::fs::write(&issuer.config, lowered).expect("config");
    issuer.restart();
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(r.json()["expires_in"], 1800, "{}", r.text());
    assert_eq!(pyjwt_exp_minus_iat(&issuer, &r), 1800);
    let rt = r.json()["refresh_token"].as_str().expect("rt").to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({"refresh_token": rt}),
    );
    assert_eq!(pyjwt_exp_minus_iat(&issuer, &r), 1800);
    // The key signed hour-long tokens: it stays published for them after it retires.
    assert_eq!(current(&issuer)["longest_token_ttl"], 3600);
}

#[test]
fn a_private_key_that_does_not_match_its_published_key_stops_the_issuer() {
    let mut issuer = Issuer::start(Options::new(Backend::Sqlite));
    let out = issuer.cli(&["keys", "check"], None);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 key(s) match"));
    let out = issuer.cli(&["keys", "rotate"], None); // a second, pending key
    assert!(out.status.success(), "{out:?}");
    issuer.stop();

    // Swap the key files: both are valid RSA keys, neither matches its published public key.
    let dir = issuer.dir.path().join("keys");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("keys dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let (a, b) = (
        std::fs::read(&files[0]).expect("a"),
        std::fs::read(&files[1]).expect("b"),
    );
    std::fs::write(&files[0], b).expect("write");
    std::fs::write(&files[1], a).expect("write");

    let out = issuer.cli(&["keys", "check"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "keys check must fail");
    assert!(
        err.contains("not the one whose public key is published"),
        "{err}"
    );

    // serve refuses to start, and says why.
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--config"])
        .arg(&issuer.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with a key that does not match its published key");
        }
        sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        pipe.read_to_string(&mut err).expect("stderr");
    }
    assert!(!status.success());
    assert!(err.contains("refusing to serve"), "{err}");
}

#[test]
fn a_rotation_that_finds_a_tampered_key_stops_signing() {
    let issuer = Issuer::start(Options::new(Backend::Sqlite));
    assert_eq!(issuer.get("/healthz").status, 200);
    // Replace the current key's file with an unrelated RSA key while the issuer runs.
    let dir = issuer.dir.path().join("keys");
    let file = std::fs::read_dir(&dir)
        .expect("keys dir")
        .map(|e| e.expect("entry").path())
        .next()
        .expect("a key file");
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import sys\nfrom cryptography.hazmat.primitives.asymmetric import rsa\n\
             from cryptography.hazmat.primitives import serialization as s\n\
             k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n\
             sys.stdout.buffer.write(k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption()))",
        ])
        .output()
        .expect("python");
    assert!(out.status.success(), "{out:?}");
    std::fs::write(&file, &out.stdout).expect("tamper");

    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r
        .text()
        .contains("not the one whose public key is published"));
    let r = issuer.get("/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("refusing to sign"), "{}", r.text());
}

#[test]
fn the_publication_lead_is_kept_to_the_millisecond() {
    let mut opts = Options::new(Backend::Sqlite);
    opts.jwks_max_age = "1s";
    opts.publish_lead = "6s";
    let issuer = Issuer::start(opts);
    for _ in 0..3 {
        let r = issuer.admin("POST", "/admin/keys/rotate", None);
        let published_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        assert_eq!(r.status, 201, "{}", r.text());
        let activates_ms = u128::from(r.json()["key"]["activates_at"].as_u64().expect("at")) * 1000;
        assert!(
            activates_ms >= published_ms + 6000,
            "a 6 s lead gave {} ms",
            activates_ms.saturating_sub(published_ms)
        );
        // Let it activate so the next rotation creates a key again.
        sleep(Duration::from_millis(
            u64::try_from(activates_ms - published_ms).expect("ms") + 200,
        ));
    }
}
