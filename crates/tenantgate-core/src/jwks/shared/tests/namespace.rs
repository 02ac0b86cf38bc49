//! Which configurations share an entry, and the key sources that never use one.

use std::collections::BTreeSet;

use super::*;

/// The namespaces of `base` ("acme") with one thing changed each: the provider name, the URI,
/// the cluster, the timeout, a refresh limit, the size limit.
fn one_change_each(base: &config::Jwks) -> Vec<Namespace> {
    let ns = |name: &str, cfg: &config::Jwks| Namespace::new(name, cfg).expect("remote");
    vec![
        ns("other", base),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks2"}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp2", "uri": "https://idp.example.com/jwks"}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &serde_json::from_value(serde_json::json!({
                "remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks",
                           "timeout_ms": 1000}
            }))
            .expect("valid"),
        ),
        ns(
            "acme",
            &jwks_config(serde_json::json!({"refresh_max_seconds": 300})),
        ),
        ns(
            "acme",
            &jwks_config(serde_json::json!({"max_response_bytes": 1024})),
        ),
    ]
}

#[test]
fn a_config_change_starts_a_new_namespace() {
    let base = jwks_config(serde_json::json!({}));
    let ns = |name: &str, cfg: &config::Jwks| Namespace::new(name, cfg).expect("remote");
    let same = ns("acme", &jwks_config(serde_json::json!({})));
    assert_eq!(ns("acme", &base), same);
    assert!(same.state_key().starts_with("tenantgate.jwks.v1."));
    assert_ne!(same.state_key(), same.keys_key());
    let changed = one_change_each(&base);
    let mut keys_seen: BTreeSet<&str> = changed.iter().map(Namespace::state_key).collect();
    keys_seen.insert(same.state_key());
    assert_eq!(keys_seen.len(), changed.len() + 1, "all distinct");
    let inline = jwks_config(serde_json::json!({}));
    let inline = config::Jwks {
        remote: None,
        inline: Some(serde_json::from_slice(&body(&["x"])).expect("json")),
        ..inline
    };
    assert_eq!(Namespace::new("acme", &inline), None);

    // Workers of the old configuration load k0.
    let mut old = Sim::new(4, &base, |_| keys("k0", "max-age=600"));
    old.run_for(1_000);
    assert!(old.all_hold("k0"));
    // A reload with the same key source adopts it: no fetch.
    let mut reloaded = Sim::with_store(4, &base, Rc::clone(&old.store), old.now, |_| {
        keys("never", "max-age=600")
    });
    reloaded.run_for(1_000);
    assert!(reloaded.fetches.is_empty() && reloaded.all_hold("k0"));
    // A reload with another URI fetches its own set, once.
    let moved: config::Jwks = serde_json::from_value(serde_json::json!({
        "remote": {"cluster": "idp", "uri": "https://idp.example.com/other-jwks"}
    }))
    .expect("valid");
    let mut new = Sim::with_store(4, &moved, Rc::clone(&old.store), old.now, |_| {
        keys("k9", "max-age=600")
    });
    new.run_for(1_000);
    assert_eq!(new.fetches.len(), 1);
    assert!(
        new.all_hold("k9")
            && !new
                .workers
                .iter()
                .any(|w| w.fetcher.key_set().is_some_and(|k| k.contains("k0")))
    );
}

#[test]
fn inline_key_sets_never_touch_the_store() {
    let cfg = config::Jwks {
        remote: None,
        inline: Some(serde_json::from_slice(&body(&["x"])).expect("json")),
        ..jwks_config(serde_json::json!({}))
    };
    let mut fetcher = fetcher_for(&cfg, 1);
    let ns = Namespace::new("acme", &jwks_config(serde_json::json!({}))).expect("remote");
    let mut shared = SharedKeys::new(ns, 1);
    let store = MemStore::default();
    assert_eq!(shared.tick(&store, &mut fetcher, START), Tick::default());
    assert_eq!(
        shared.request_refetch(&store, &mut fetcher, START),
        Refetch::Refused
    );
    assert!(store.map.borrow().is_empty());
    assert_eq!(
        fetcher.adopt_key_set(&body(&["y"])),
        Err(JwksError::NoSource)
    );
    assert!(fetcher.key_set().is_some_and(|k| k.contains("x")));
}

#[test]
fn a_discovered_key_set_is_named_by_its_issuer_cluster_and_limits() {
    let provider = |issuer: &str, jwks: serde_json::Value| -> config::Provider {
        serde_json::from_value(serde_json::json!({
            "name": "acme", "issuer": issuer, "audiences": ["api"], "jwks": jwks
        }))
        .expect("valid provider")
    };
    let discovery = serde_json::json!({"discovery": {"cluster": "idp"}});
    let ns = |p: &config::Provider| Namespace::of_provider(p).expect("fetched");
    let base = ns(&provider("https://idp.example.com", discovery.clone()));
    assert_eq!(
        base,
        ns(&provider("https://idp.example.com", discovery.clone())),
        "an identical configuration reuses its entry"
    );
    let others = [
        provider("https://idp.example.com/realms/b", discovery.clone()),
        provider(
            "https://idp.example.com",
            serde_json::json!({"discovery": {"cluster": "idp2"}}),
        ),
        provider(
            "https://idp.example.com",
            serde_json::json!({"discovery": {"cluster": "idp", "timeout_ms": 1000}}),
        ),
        provider(
            "https://idp.example.com",
            serde_json::json!({"discovery": {"cluster": "idp"}, "max_response_bytes": 2048}),
        ),
    ];
    let mut all: BTreeSet<_> = others
        .iter()
        .map(|p| ns(p).state_key().to_owned())
        .collect();
    all.insert(base.state_key().to_owned());
    assert_eq!(
        all.len(),
        others.len() + 1,
        "each change starts a fresh entry"
    );
    // A remote key set keeps the namespace it always had.
    let remote =
        serde_json::json!({"remote": {"cluster": "idp", "uri": "https://idp.example.com/jwks"}});
    let p = provider("https://idp.example.com", remote);
    assert_eq!(Namespace::of_provider(&p), Namespace::new("acme", &p.jwks));
    let inline = provider(
        "https://idp.example.com",
        serde_json::json!({"inline": {"keys": []}}),
    );
    assert_eq!(Namespace::of_provider(&inline), None);
}
