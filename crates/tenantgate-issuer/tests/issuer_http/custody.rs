//! Keys that never leave their custody: AWS KMS (moto's server on loopback) and a PKCS#11 token
//! (SoftHSM2 in a temporary directory). The issuer must behave as with key files: tokens verify
//! against the published JWKS, rotation publishes before signing, `keys check` proves every key,
//! and a key that is not the published one is refused.

use super::*;
use tenantgate_testkit::custody::{Moto, SoftHsm, AWS_ENV};

on_both_backends!(
    kms_keys_sign_rotate_and_check,
    pkcs11_keys_sign_rotate_and_check
);

/// Options for an issuer whose keys KMS holds (moto wants `RAW`: it hashes a DIGEST again).
fn kms_options(backend: Backend, moto: &Moto) -> Options {
    let mut opts = Options::new(backend);
    opts.custody = Some(format!(
        "[keys.kms]\nendpoint = \"{}\"\nmessage_type = \"raw\"\ndeletion_window_days = 7\n",
        moto.endpoint()
    ));
    opts.env = AWS_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    opts
}

fn pkcs11_options(backend: Backend, hsm: &SoftHsm) -> Options {
    let mut opts = Options::new(backend);
    opts.custody = Some(format!(
        "[keys.pkcs11]\nmodule = \"{}\"\ntoken_label = \"{}\"\npin_file = \"{}\"\n",
        hsm.module.display(),
        hsm.label,
        hsm.pin_file().display()
    ));
    opts.env = vec![(
        "SOFTHSM2_CONF".to_string(),
        hsm.conf().display().to_string(),
    )];
    opts
}

fn kms_keys_sign_rotate_and_check(backend: Backend) {
    let Some(moto) = Moto::start() else { return };
    sign_rotate_and_check(kms_options(backend, &moto));
}

fn pkcs11_keys_sign_rotate_and_check(backend: Backend) {
    let Some(hsm) = SoftHsm::init() else { return };
    sign_rotate_and_check(pkcs11_options(backend, &hsm));
}

#[test]
fn a_kms_key_that_is_not_the_published_one_is_refused() {
    let Some(moto) = Moto::start() else { return };
    swapped_keys_are_refused(kms_options(Backend::Sqlite, &moto));
}

#[test]
fn a_token_key_that_is_not_the_published_one_is_refused() {
    let Some(hsm) = SoftHsm::init() else { return };
    swapped_keys_are_refused(pkcs11_options(Backend::Sqlite, &hsm));
}

#[test]
fn an_unreachable_kms_stops_sign_ins_and_healthz_says_why() {
    let Some(moto) = Moto::start() else { return };
    let issuer = Issuer::start(kms_options(Backend::Sqlite, &moto));
    let t = tenant_id("kmsdown");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &[]);
    access(&issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(issuer.get("/healthz").status, 200);

    drop(moto); // the KMS is gone: no signature can be had
    let r = issuer.sign_in(&t, &user, PW, "body");
    assert_eq!(
        (r.status, r.error()),
        (503, "unavailable".to_string()),
        "{}",
        r.text()
    );
    assert!(r.text().contains("AWS KMS Sign"), "{}", r.text());
    let r = issuer.get("/healthz");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("AWS KMS Sign"), "{}", r.text());
}

fn access(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

fn keys_check(issuer: &Issuer, expected: usize) {
    let out = issuer.cli(&["keys", "check"], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "keys check: {out:?}");
    assert!(
        stdout.contains(&format!("{expected} key(s) match")),
        "{stdout}"
    );
}

fn sign_rotate_and_check(mut opts: Options) {
    opts.jwks_max_age = "1s";
    opts.publish_lead = "3s";
    let on_postgres = matches!(opts.backend, Backend::Postgres { .. });
    let issuer = Issuer::start(opts);
    assert!(
        !issuer.dir.path().join("keys").exists(),
        "no key files when a KMS or token holds the keys"
    );
    let t = tenant_id("held");
    issuer.tenant(&t, json!({}));
    let user = email();
    issuer.member(&t, &user, Some(PW), &["admin"]);
    let jwks_url = issuer.url("/.well-known/jwks.json");

    let before = access(&issuer.sign_in(&t, &user, PW, "body"));
    let old_kid = header(&before)["kid"].as_str().expect("kid").to_string();
    pyjwt_verify(&jwks_url, &before).expect("a token signed by the held key verifies");
    keys_check(&issuer, 1);

    let r = issuer.admin("POST", "/admin/keys/rotate", None);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["key"]["state"], "next");
    let new_kid = r.json()["key"]["kid"].as_str().expect("kid").to_string();
    assert_ne!(new_kid, old_kid);
    let during = access(&issuer.sign_in(&t, &user, PW, "body"));
    assert_eq!(
        header(&during)["kid"],
        old_kid.as_str(),
        "next key signs nothing"
    );
    keys_check(&issuer, 2);

    // The lead (3 s) counts from publication, activation is on a whole second: up to 4 s.
    sleep(Duration::from_millis(4300));
    let r = issuer.sign_in(&t, &user, PW, "body");
    let after = access(&r);
    assert_eq!(header(&after)["kid"], new_kid.as_str());
    for token in [&before, &during, &after] {
        pyjwt_verify(&jwks_url, token).expect("verifies against the published JWKS");
    }
    let keys = issuer.admin("GET", "/admin/keys", None).json();
    let states: Vec<(String, String)> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap_or_default().to_string(),
                k["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (old_kid.clone(), "retired".to_string()),
            (new_kid.clone(), "current".to_string())
        ]
    );
    let published: Vec<Value> = issuer.get("/.well-known/jwks.json").json()["keys"]
        .as_array()
        .expect("jwks")
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(
        published,
        [json!(new_kid), json!(old_kid)],
        "current first, then retired"
    );
    let refresh = r.json()["refresh_token"].as_str().expect("rt").to_string();
    let r = issuer.post_json(
        &format!("/v1/tenants/{t}/refresh"),
        &json!({ "refresh_token": refresh }),
    );
    pyjwt_verify(&jwks_url, &access(&r)).expect("a refreshed token verifies");
    keys_check(&issuer, 2);

    if on_postgres {
        // A replica on the same database uses the same held keys.
        let replica = issuer.replica();
        let token = access(&replica.sign_in(&t, &user, PW, "body"));
        assert_eq!(header(&token)["kid"], new_kid.as_str());
        pyjwt_verify(&replica.url("/.well-known/jwks.json"), &token).expect("replica's token");
        pyjwt_verify(&jwks_url, &token).expect("verifies against either replica's JWKS");
    }
}

/// Swaps the custody references of two keys in the database: each reference names a real key
/// of the KMS or token, neither the one its row publishes.
fn swapped_keys_are_refused(opts: Options) {
    let mut issuer = Issuer::start(opts);
    let out = issuer.cli(&["keys", "rotate"], None);
    assert!(out.status.success(), "{out:?}");
    keys_check(&issuer, 2);
    issuer.stop();

    let db = rusqlite::Connection::open(issuer.dir.path().join("state/issuer.db")).expect("db");
    let rows: Vec<(String, String)> = db
        .prepare("SELECT kid, custody FROM signing_keys ORDER BY generation")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (i, (kid, _)) in rows.iter().enumerate() {
        let other = &rows[1 - i].1;
        db.execute(
            "UPDATE signing_keys SET custody = ?1 WHERE kid = ?2",
            (other, kid),
        )
        .expect("swap");
    }
    drop(db);

    let out = issuer.cli(&["keys", "check"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "keys check must fail");
    assert!(
        err.contains("holds another key than the one whose public key is published"),
        "{err}"
    );
    assert!(err.contains(&rows[0].0), "names the kid: {err}");

    let err = serve_refuses(&issuer);
    assert!(err.contains("refusing to serve"), "{err}");
}

/// Runs `serve` on the issuer's config; it must exit without serving. Returns its stderr.
fn serve_refuses(issuer: &Issuer) -> String {
    let mut child = std::process::Command::new(binary())
        .args(["serve", "--config"])
        .arg(&issuer.config)
        .envs(issuer.env().iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with a key that is not the published one");
        }
        sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        pipe.read_to_string(&mut err).expect("stderr");
    }
    assert!(!status.success());
    err
}
