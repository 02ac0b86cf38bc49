//! A directory of ten thousand tenants, each with two hosts and every tenth with an IdP and a
//! tenant value: written straight into the issuer's database (the admin API would take one
//! request per change), then served by the running binary and verified whole.

use super::*;
use tenantgate_issuer::config::Config;
use tenantgate_issuer::storage::{Store, StoreError, Tx, Val};

const TENANTS: usize = 10_000;
const CHUNK: usize = 500;

fn id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

/// Sorted, as the document lists them (tenant ids start with `s`).
fn hosts_of(t: &str) -> [String; 2] {
    [format!("portal.{t}.io"), format!("{t}.example.com")]
}

/// Inserts `rows` (each of `width` values) with one multi-row statement per chunk.
fn insert(
    tx: &mut dyn Tx,
    head: &str,
    width: usize,
    rows: Vec<Vec<Val>>,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let groups: Vec<String> = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> =
                    (1..=width).map(|c| format!("${}", r * width + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect();
        let params: Vec<Val> = chunk.iter().flatten().cloned().collect();
        tx.exec(&format!("{head} VALUES {}", groups.join(", ")), &params)?;
    }
    Ok(())
}

fn fill(store: &Store, prefix: &str) {
    let now = tenantgate_issuer::time::now();
    let ids: Vec<String> = (0..TENANTS).map(|i| id(prefix, i)).collect();
    let tenants = ids
        .iter()
        .map(|t| {
            vec![
                t.into(),
                t.into(),
                600.into(),
                3600.into(),
                86_400.into(),
                now.into(),
            ]
        })
        .collect();
    let hosts = ids
        .iter()
        .flat_map(|t| hosts_of(t).map(|h| vec![h.into(), t.into()]))
        .collect();
    let tenth: Vec<&String> = ids.iter().step_by(10).collect();
    let values = tenth
        .iter()
        .map(|t| vec!["entra".into(), format!("guid-{t}").into(), (*t).into()])
        .collect();
    let idps = tenth
        .iter()
        .map(|t| {
            let idp = okta(&format!("{t}.okta.com"));
            let iss = idp["issuer"].as_str().unwrap_or_default().to_string();
            vec![(*t).into(), iss.into(), idp.to_string().into(), now.into()]
        })
        .collect();
    store
        .tx(|tx| {
            insert(
                tx,
                "INSERT INTO tenants (id, name, access_ttl, refresh_idle, session_absolute, created_at)",
                6,
                tenants,
            )?;
            insert(tx, "INSERT INTO tenant_hosts (host, tenant_id)", 2, hosts)?;
            insert(tx, "INSERT INTO tenant_values (provider, value, tenant_id)", 3, values)?;
            insert(
                tx,
                "INSERT INTO tenant_idps (tenant_id, issuer, config, updated_at)",
                4,
                idps,
            )
        })
        .expect("insert the tenants");
}

pub(super) fn ten_thousand(backend: Backend) {
    let issuer = Issuer::start(Options::new(backend));
    let config = Config::load(&issuer.config).expect("the issuer's config");
    let store = Store::open(&config.database).expect("the issuer's database");
    let prefix = format!("s{}", unique());
    fill(&store, &prefix);
    drop(store);

    let started = Instant::now();
    let doc = fetch(&issuer);
    eprintln!(
        "directory of {TENANTS} tenants: {} bytes, served in {:?}",
        doc.len(),
        started.elapsed()
    );
    let claims = verify(&issuer, &doc);
    let tenants = claims["tenants"].as_object().expect("tenants");
    assert_eq!(tenants.len(), TENANTS);
    for i in 0..TENANTS {
        let t = id(&prefix, i);
        let entry = &tenants[&t];
        assert_eq!(entry["hosts"], json!(hosts_of(&t)), "{t}");
        if i % 10 == 0 {
            assert_eq!(entry["idp"], okta(&format!("{t}.okta.com")), "{t}");
            assert_eq!(
                entry["tenant_values"],
                json!({"entra": [format!("guid-{t}")]})
            );
        } else {
            assert!(entry.get("idp").is_none() && entry.get("tenant_values").is_none());
        }
    }
    assert_eq!(pyjwt_directory(&issuer, &doc)["claims"], claims);

    // Concurrent fetches share builds; each answer is a whole, valid document.
    std::thread::scope(|s| {
        let fetches: Vec<_> = (0..8)
            .map(|_| s.spawn(|| verify(&issuer, &fetch(&issuer))))
            .collect();
        for f in fetches {
            let claims = f.join().expect("fetch thread");
            assert_eq!(
                claims["tenants"].as_object().map(|t| t.len()),
                Some(TENANTS)
            );
        }
    });
}
