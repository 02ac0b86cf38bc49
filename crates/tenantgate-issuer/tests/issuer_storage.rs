//! Storage behaviour, once for SQLite and once for PostgreSQL: the same domain code must give
//! the same answers on both, including under concurrency (several threads standing in for
//! several issuer replicas).

use tenantgate_testkit::issuer as issuer_support;

use std::sync::{Arc, Barrier};

use issuer_support::{backend, Backend};
use tenantgate_issuer::config::{Database, KeyStorage, KeyTiming, TenantDefaults};
use tenantgate_issuer::directory::{self, Role};
use tenantgate_issuer::entries;
use tenantgate_issuer::keys::{KeyRing, KeyState, Rotation, Vault};
use tenantgate_issuer::sessions::{self, Csrf, Refresh, Secrets};
use tenantgate_issuer::storage::{Store, StoreError};
use tenantgate_issuer::time::now;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                if let Some(b) = super::backend("sqlite") {
                    super::$name(super::Db::new(b))
                }
            }
            #[test]
            fn postgres() {
                if let Some(b) = super::backend("postgres") {
                    super::$name(super::Db::new(b))
                }
            }
        }
    )*};
}

on_both_backends!(
    migrations_are_idempotent,
    a_missing_lower_migration_is_applied,
    an_sso_state_is_taken_once_by_its_tenant_before_it_expires,
    a_failed_transaction_changes_nothing,
    roles_are_granted_per_tenant_from_one_catalog,
    concurrent_reuse_of_one_refresh_token_has_one_winner,
    concurrent_claims_of_one_host_have_one_winner,
    replicas_agree_on_keys,
);

/// A fresh database (SQLite file or PostgreSQL schema) that any number of stores can open.
struct Db {
    dir: tempfile::TempDir,
    database: Database,
}

impl Db {
    fn new(b: Backend) -> Db {
        let dir = tempfile::tempdir().expect("tmp");
        let database = match b {
            Backend::Sqlite => Database::Sqlite {
                path: dir.path().join("issuer.db"),
            },
            Backend::Postgres { url, schema } => Database::Postgres {
                url,
                schema: Some(schema),
                pool_size: 4,
            },
        };
        Db { dir, database }
    }

    fn open(&self) -> Store {
        Store::open(&self.database).expect("open store")
    }

    fn keys(&self) -> KeyRing {
        let timing = KeyTiming {
            rotation_interval: 3600,
            publish_lead: 60,
            max_token_ttl: 600,
            jwks_max_age: 30,
        };
        KeyRing::new(
            Vault::open(&KeyStorage::Dir(self.dir.path().join("keys"))).expect("vault"),
            timing,
        )
    }
}

const DEFAULTS: TenantDefaults = TenantDefaults {
    access_ttl: 600,
    refresh_idle: 3600,
    session_absolute: 86_400,
};

fn migrations_are_idempotent(db: Db) {
    let a = db.open();
    let b = db.open();
    assert_eq!(a.schema_version(), Ok(5));
    assert_eq!(b.schema_version(), Ok(5));
    a.tx(|tx| directory::create_tenant(tx, "t1", "T1", DEFAULTS, 1))
        .expect("create");
    drop(a);
    let c = db.open();
    assert_eq!(
        c.tx(directory::list_tenants).expect("list").len(),
        1,
        "reopening keeps data"
    );
}

/// Migrations developed on parallel branches land in any order: a database at a higher
/// version still gets a lower one it lacks.
fn a_missing_lower_migration_is_applied(db: Db) {
    let a = db.open();
    a.tx(|tx| {
        tx.batch("DROP TABLE tenant_idps; DROP TABLE tenant_values; DROP TABLE tenant_hosts;")?;
        tx.exec("DELETE FROM schema_migrations WHERE version = 3", &[])?;
        Ok(())
    })
    .expect("forget version 3");
    drop(a);
    let b = db.open();
    assert_eq!(b.schema_version(), Ok(5));
    let count = b
        .tx(|tx| {
            tx.query_opt("SELECT COUNT(*) FROM tenant_hosts", &[])?
                .map(|r| r.int(0))
                .transpose()
        })
        .expect("tenant_hosts exists again");
    assert_eq!(count, Some(0));
}

/// The server side of an SSO sign-in: a callback finishes only the sign-in its own tenant
/// started, once, within its lifetime.
fn an_sso_state_is_taken_once_by_its_tenant_before_it_expires(db: Db) {
    use tenantgate_issuer::sso::state::{self, Pending, STATE_TTL};
    let store = db.open();
    let t = now();
    let pending = Pending {
        nonce: "n".into(),
        code_verifier: "v".into(),
        redirect: "/".into(),
    };
    store
        .tx(|tx| {
            directory::create_tenant(tx, "a", "A", DEFAULTS, t)?;
            directory::create_tenant(tx, "b", "B", DEFAULTS, t)?;
            state::put(tx, "s1", "a", &pending, t)?;
            state::put(tx, "s2", "a", &pending, t)
        })
        .expect("put");
    let take = |s: &str, tenant: &str, at: i64| {
        store.tx(|tx| state::take(tx, s, tenant, at)).expect("take")
    };
    assert_eq!(
        take("s1", "b", t),
        None,
        "another tenant's callback finds nothing"
    );
    assert_eq!(take("s1", "a", t), Some(pending.clone()));
    assert_eq!(take("s1", "a", t), None, "taken once");
    assert_eq!(take("s2", "a", t + STATE_TTL), None, "expired");
    assert_eq!(take("nope", "a", t), None);
}

fn a_failed_transaction_changes_nothing(db: Db) {
    let store = db.open();
    let result: Result<(), StoreError> = store.tx(|tx| {
        directory::create_tenant(tx, "t1", "T1", DEFAULTS, 1)?;
        directory::create_tenant(tx, "t1", "again", DEFAULTS, 1)?; // conflict: rolls back both
        Ok(())
    });
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(store.tx(directory::list_tenants).expect("list").is_empty());
}

fn roles_are_granted_per_tenant_from_one_catalog(db: Db) {
    let store = db.open();
    store
        .tx(|tx| {
            for t in ["a", "b"] {
                directory::create_tenant(tx, t, t, DEFAULTS, 1)?;
            }
            for r in ["admin", "viewer"] {
                directory::define_role(
                    tx,
                    &Role {
                        name: r.into(),
                        description: String::new(),
                        permissions: vec![format!("{r}:*")],
                    },
                    1,
                )?;
            }
            directory::add_user(tx, "a", "u@x.io", Some("$argon2id$stub"), "u1", 1)?;
            directory::add_user(tx, "b", "u@x.io", None, "unused", 1)?;
            directory::grant_role(tx, "a", "u@x.io", "admin", 1)?;
            directory::grant_role(tx, "b", "u@x.io", "viewer", 1)?;
            Ok(())
        })
        .expect("setup");
    let roles = |t: &str| {
        store
            .tx(|tx| directory::roles_of(tx, t, "u1"))
            .expect("roles")
    };
    assert_eq!(roles("a"), ["admin"]);
    assert_eq!(roles("b"), ["viewer"]);
    // Grants need the catalog role and the membership.
    let err = store
        .tx(|tx| directory::grant_role(tx, "a", "u@x.io", "ghost", 1))
        .expect_err("undefined role");
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("role define")),
        "{err:?}"
    );
    store
        .tx(|tx| directory::create_tenant(tx, "c", "c", DEFAULTS, 1))
        .expect("c");
    let err = store
        .tx(|tx| directory::grant_role(tx, "c", "u@x.io", "admin", 1))
        .expect_err("not a member");
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("not a member")),
        "{err:?}"
    );
    // Redefining a role updates its permissions for every tenant.
    store
        .tx(|tx| {
            directory::define_role(
                tx,
                &Role {
                    name: "admin".into(),
                    description: "all".into(),
                    permissions: vec!["*".into()],
                },
                2,
            )
        })
        .expect("redefine");
    let catalog = store.tx(directory::list_roles).expect("catalog");
    assert_eq!(
        catalog
            .iter()
            .find(|r| r.name == "admin")
            .map(|r| r.permissions.clone()),
        Some(vec!["*".to_string()])
    );
}

fn concurrent_reuse_of_one_refresh_token_has_one_winner(db: Db) {
    let store = db.open();
    let t = now();
    let first = Secrets::generate().expect("rng");
    store
        .tx(|tx| {
            directory::create_tenant(tx, "t", "t", DEFAULTS, t)?;
            directory::add_user(tx, "t", "u@x.io", Some("$argon2id$stub"), "u1", t)?;
            Ok(())
        })
        .expect("setup");
    store
        .tx(|tx| sessions::start(tx, "t", "u1", &first, &["pwd".to_string()], t))
        .expect("start")
        .expect("started");

    // Several "replicas" (own stores, own connections) present the same token at once.
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let store = db.open();
            let barrier = barrier.clone();
            let token = first.refresh_token.clone();
            std::thread::spawn(move || {
                let next = Secrets::generate().expect("rng");
                barrier.wait();
                store
                    .tx(|tx| sessions::refresh(tx, "t", &token, Csrf::NotRequired, &next, now()))
                    .expect("refresh")
            })
        })
        .collect();
    let outcomes: Vec<Refresh> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let rotated: Vec<_> = outcomes
        .iter()
        .filter_map(|o| {
            if let Refresh::Rotated(i) = o {
                Some(i.clone())
            } else {
                None
            }
        })
        .collect();
    let resent: Vec<_> = outcomes
        .iter()
        .filter_map(|o| {
            if let Refresh::Resent(i) = o {
                Some(i.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        rotated.len(),
        1,
        "exactly one use of a token succeeds: {outcomes:?}"
    );
    // The other uses find the token consumed and its successor unused: they get that successor,
    // never a second branch of the family.
    assert_eq!(resent.len(), n - 1, "{outcomes:?}");
    assert!(resent
        .iter()
        .all(|i| i.refresh_token == rotated[0].refresh_token));
    let tokens = store
        .tx(|tx| {
            tx.query(
                "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1",
                &[first.session_id.as_str().into()],
            )
        })
        .expect("count");
    assert_eq!(tokens[0].int(0), Ok(2), "one successor only");
    theft_once_the_successor_is_used(&store, &first.refresh_token, &rotated[0].refresh_token);
}

/// One refresh with `token` (no CSRF) now.
fn refresh_with(store: &Store, token: &str) -> Refresh {
    let next = Secrets::generate().expect("rng");
    store
        .tx(|tx| sessions::refresh(tx, "t", token, Csrf::NotRequired, &next, now()))
        .expect("refresh")
}

/// Once `successor` is used, `consumed` coming back is theft, and the family dies.
fn theft_once_the_successor_is_used(store: &Store, consumed: &str, successor: &str) {
    let used = refresh_with(store, successor);
    let Refresh::Rotated(newest) = used else {
        panic!("the successor rotates: {used:?}")
    };
    let replay = refresh_with(store, consumed);
    assert!(matches!(replay, Refresh::TheftDetected(_)), "{replay:?}");
    // The family is dead: the newest token is refused as well.
    let after = refresh_with(store, &newest.refresh_token);
    assert!(
        matches!(after, Refresh::Revoked { ref reason, .. } if reason == "token_theft"),
        "{after:?}"
    );
}

fn replicas_agree_on_keys(db: Db) {
    let (s1, s2) = (Arc::new(db.open()), Arc::new(db.open()));
    let (k1, k2) = (Arc::new(db.keys()), Arc::new(db.keys()));
    let t = now();
    // Both replicas start on an empty database at once: exactly one first key.
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |s: Arc<Store>, k: Arc<KeyRing>, b: Arc<Barrier>| {
        std::thread::spawn(move || {
            b.wait();
            k.maintain(&s, t).expect("maintain")
        })
    };
    let h1 = spawn(s1.clone(), k1.clone(), barrier.clone());
    let h2 = spawn(s2.clone(), k2.clone(), barrier);
    let created = [h1.join().expect("t1"), h2.join().expect("t2")]
        .iter()
        .filter(|m| m.created.is_some())
        .count();
    assert_eq!(created, 1);
    let (kid1, _) = k1.signer(&s1, t).expect("signer 1");
    let (kid2, _) = k2.signer(&s2, t).expect("signer 2");
    assert_eq!(kid1, kid2, "both replicas sign with the same key");

    // One rotates; the other publishes the new key at once and switches at the same instant.
    let next = match k1.rotate(&s1, t).expect("rotate") {
        Rotation::Created(k) => k,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(k2.rotate(&s2, t).expect("rotate"), Rotation::AlreadyPending(ref k) if k.kid == next.kid)
    );
    assert_eq!(
        k1.jwks(&s1, t).expect("jwks"),
        k2.jwks(&s2, t).expect("jwks")
    );
    assert_eq!(
        k2.signer(&s2, next.activates_at - 1).expect("signer").0,
        kid1
    );
    assert_eq!(
        k2.signer(&s2, next.activates_at).expect("signer").0,
        next.kid
    );
    let states: Vec<KeyState> = k2
        .list(&s2, next.activates_at)
        .expect("list")
        .iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(states, [KeyState::Retired, KeyState::Current]);

    // The first key leaves the JWKS once every token it signed has expired, and is deleted.
    let gone = next.activates_at + 600 + tenantgate_issuer::config::CLOCK_LEEWAY;
    assert!(k1
        .maintain(&s1, gone - 1)
        .expect("maintain")
        .removed
        .is_empty());
    let m = k1.maintain(&s1, gone).expect("maintain");
    assert_eq!(m.removed, vec![kid1.clone()]);
    assert!(!k2
        .jwks(&s2, gone)
        .expect("jwks")
        .to_string()
        .contains(&kid1));
    // Scheduled rotation: due publish_lead (and a margin of 2 s for the sub-second clock and
    // key generation) before the interval ends, created once, activating on the boundary.
    let due = next.activates_at + 3600 - 60 - 2;
    let m = k2.maintain(&s2, due).expect("maintain");
    let scheduled = m.created.expect("scheduled key");
    assert_eq!(scheduled.activates_at, next.activates_at + 3600);
    assert!(k1.maintain(&s1, due).expect("maintain").created.is_none());
}

/// Several "replicas" give one host to different tenants at once: exactly one succeeds, the
/// others get a conflict (the check sees a committed claim; the host's key stops a racing one).
fn concurrent_claims_of_one_host_have_one_winner(db: Db) {
    let n = 6;
    let store = db.open();
    store
        .tx(|tx| {
            for i in 0..n {
                directory::create_tenant(tx, &format!("t{i}"), "t", DEFAULTS, 1)?;
            }
            Ok(())
        })
        .expect("setup");
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let store = db.open();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let hosts = vec!["shared.example.com".to_string()];
                barrier.wait();
                store.tx(|tx| entries::store::set_hosts(tx, &format!("t{i}"), &hosts))
            })
        })
        .collect();
    let outcomes: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let winners: Vec<usize> = (0..n).filter(|i| outcomes[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        assert!(matches!(o, Ok(_) | Err(StoreError::Conflict(_))), "{o:?}");
    }
    let holders: Vec<usize> = (0..n)
        .filter(|i| {
            let entry = store
                .tx(|tx| entries::store::get_entry(tx, &format!("t{i}")))
                .expect("entry");
            !entry.hosts.is_empty()
        })
        .collect();
    assert_eq!(holders, winners);
}
