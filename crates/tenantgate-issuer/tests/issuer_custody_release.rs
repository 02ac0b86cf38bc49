//! Keys held by a KMS or token are released when they leave the JWKS: `ScheduleKeyDeletion` in
//! moto's KMS, the objects destroyed on a SoftHSM2 token. Driven through the library, whose
//! maintenance pass takes the clock as an argument, to reach the moment a retired key expires
//! without waiting for it. One test in its own binary: it sets the process environment the
//! custody reads (credentials, SOFTHSM2_CONF), and a PKCS#11 library is initialised once per
//! process.

use serde_json::{json, Value};
use tenantgate_issuer::config::{
    Database, KeyStorage, KeyTiming, KmsMessageType, KmsSettings, Pkcs11Settings, CLOCK_LEEWAY,
};
use tenantgate_issuer::keys::{KeyRing, KeyState, Rotation, Vault};
use tenantgate_issuer::storage::Store;
use tenantgate_testkit::custody::{Moto, SoftHsm, AWS_ENV};

const TIMING: KeyTiming = KeyTiming {
    rotation_interval: 3600,
    publish_lead: 60,
    max_token_ttl: 600,
    jwks_max_age: 30,
};

/// Creates a first key and its successor, lets the first expire, and returns the expired
/// key's custody reference as the schedule stored it, after the maintenance pass removed it.
fn expire_first_key(storage: &KeyStorage, dir: &std::path::Path) -> String {
    let store = Store::open(&Database::Sqlite {
        path: dir.join("issuer.db"),
    })
    .expect("store");
    let ring = KeyRing::new(Vault::open(storage).expect("vault"), TIMING);
    let t0 = 1_000_000;
    assert!(matches!(ring.rotate(&store, t0), Ok(Rotation::Created(_))));
    let custody: String = {
        let db = rusqlite::Connection::open(dir.join("issuer.db")).expect("db");
        db.query_row("SELECT custody FROM signing_keys", [], |r| r.get(0))
            .expect("custody reference")
    };
    let Ok(Rotation::Created(next)) = ring.rotate(&store, t0 + 10) else {
        panic!("second key");
    };
    let expired_at = next.activates_at + TIMING.max_token_ttl + CLOCK_LEEWAY;
    let report = ring.maintain(&store, expired_at + 1).expect("maintain");
    assert_eq!(report.removed.len(), 1, "{report:?}");
    let keys = ring.list(&store, expired_at + 1).expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, KeyState::Current);
    assert_eq!(ring.check(&store, expired_at + 1).expect("check").len(), 1);
    custody
}

/// moto's answer to a KMS call with a made-up signature (moto does not check signatures, but
/// finds the service in the credential scope).
fn kms(moto: &Moto, action: &str, body: &Value) -> Value {
    let addr = moto.endpoint().trim_start_matches("http://").to_string();
    let r = tenantgate_testkit::issuer_http::request(
        &addr,
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", &format!("TrentService.{action}")),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request, \
                 SignedHeaders=host, Signature=0",
            ),
        ],
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{action}: {}", r.text());
    r.json()
}

#[test]
fn keys_leaving_the_jwks_are_released_from_their_custody() {
    let moto = Moto::start();
    let hsm = SoftHsm::init();
    // This test binary holds this one test: nothing else reads the environment concurrently.
    for (k, v) in AWS_ENV {
        std::env::set_var(k, v);
    }
    if let Some(hsm) = &hsm {
        std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    }
    let dir = tempfile::tempdir().expect("tmp");

    if let Some(moto) = &moto {
        let storage = KeyStorage::Kms(KmsSettings {
            region: None,
            endpoint: Some(moto.endpoint()),
            message_type: KmsMessageType::Raw,
            deletion_window_days: 7,
        });
        std::fs::create_dir(dir.path().join("kms")).expect("dir");
        let custody = expire_first_key(&storage, &dir.path().join("kms"));
        let arn = custody.strip_prefix("aws-kms:").expect("a KMS reference");
        let meta = kms(moto, "DescribeKey", &json!({ "KeyId": arn }));
        assert_eq!(meta["KeyMetadata"]["KeyState"], "PendingDeletion", "{meta}");
    }

    if let Some(hsm) = &hsm {
        let storage = KeyStorage::Pkcs11(Pkcs11Settings {
            module: hsm.module.clone(),
            token_label: hsm.label.clone(),
            pin_file: hsm.pin_file(),
        });
        std::fs::create_dir(dir.path().join("hsm")).expect("dir");
        let custody = expire_first_key(&storage, &dir.path().join("hsm"));
        let id = custody
            .strip_prefix("pkcs11:")
            .expect("a PKCS#11 reference");
        let id: Vec<u8> = (0..id.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&id[i..i + 2], 16).expect("hex"))
            .collect();
        // The expired pair is gone; the successor's pair (public and private) stays.
        assert_eq!(token_objects(hsm, Some(id)), 0);
        assert_eq!(token_objects(hsm, None), 2);
    }
}

/// Objects on the token labelled by the issuer, or with `id`. The key ring that used the token
/// is gone, but the library stays initialised in this process: a second context may not
/// initialise it again.
fn token_objects(hsm: &SoftHsm, id: Option<Vec<u8>>) -> usize {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error, RvError};
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;
    let pkcs11 = Pkcs11::new(&hsm.module).expect("module");
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = pkcs11
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            pkcs11
                .get_token_info(*s)
                .is_ok_and(|i| i.label() == hsm.label)
        })
        .expect("the token");
    let session = pkcs11.open_ro_session(slot).expect("session");
    let pin = std::fs::read_to_string(hsm.pin_file()).expect("pin");
    match session.login(UserType::User, Some(&pin.into())) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("C_Login: {e}"),
    }
    let template = match id {
        Some(id) => vec![Attribute::Id(id)],
        None => vec![Attribute::Label(b"tenantgate-issuer".to_vec())],
    };
    session.find_objects(&template).expect("find").len()
}
