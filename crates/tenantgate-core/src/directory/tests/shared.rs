//! One directory fetch per Envoy: the election between workers, publication, adoption by the
//! others, shared backoff, and the fallback when shared data fails.

use crate::compile::CompiledDirectory;
use crate::directory::shared::{DirectorySchedule, DirectoryTick, SharedDirectory};
use crate::jwks::shared::mem_store::MemStore;
use crate::jwks::shared::Mode;
use crate::jwks::Callout;

fn section() -> CompiledDirectory {
    CompiledDirectory {
        provider: 0,
        callout: Callout {
            cluster: "issuer".into(),
            authority: "issuer.internal".into(),
            path: "/v1/directory".into(),
            timeout: std::time::Duration::from_millis(5000),
        },
        refresh_ms: 60_000,
        max_bytes: 4096,
        max_age_seconds: 86_400,
    }
}

struct Worker {
    shared: SharedDirectory,
    schedule: DirectorySchedule,
}

fn worker(id: u64) -> Worker {
    Worker {
        shared: SharedDirectory::new(&section(), "issuer", id),
        schedule: DirectorySchedule::new(&section()),
    }
}

impl Worker {
    fn tick(&mut self, store: &MemStore, now: u64) -> DirectoryTick {
        let tick = self.shared.tick(store, &mut self.schedule, now);
        if tick.fetch {
            self.schedule.fetch_started(now);
        }
        tick
    }
}

#[test]
fn one_worker_fetches_and_the_others_adopt_what_it_published() {
    let store = MemStore::default();
    let (mut a, mut b) = (worker(1), worker(2));
    assert_eq!(
        a.tick(&store, 0),
        DirectoryTick::default(),
        "the entry is created first"
    );
    assert!(a.tick(&store, 10).fetch);
    assert!(!b.tick(&store, 10).fetch, "the lease is a's");
    a.shared
        .finished(&store, &mut a.schedule, 20, Some(b"doc-1"));
    let tick = b.tick(&store, 30);
    assert_eq!(tick.published.as_deref(), Some(&b"doc-1"[..]));
    assert!(!tick.fetch, "the next fetch is a refresh away");
    assert_eq!(b.tick(&store, 40), DirectoryTick::default(), "read once");
    assert_eq!(
        a.tick(&store, 40),
        DirectoryTick::default(),
        "the publisher has it"
    );
    // A refresh later, one of them fetches again.
    let fetches = [a.tick(&store, 60_020).fetch, b.tick(&store, 60_020).fetch];
    assert_eq!(fetches.iter().filter(|f| **f).count(), 1);
}

#[test]
fn a_failure_is_shared_and_backs_everyone_off() {
    let store = MemStore::default();
    let (mut a, mut b) = (worker(1), worker(2));
    let _ = a.tick(&store, 0);
    assert!(a.tick(&store, 0).fetch);
    a.shared.finished(&store, &mut a.schedule, 100, None);
    assert_eq!(a.schedule.failures(), 1);
    let tick = b.tick(&store, 200);
    assert!(tick.published.is_none() && !tick.fetch);
    assert_eq!(b.schedule.failures(), 1);
    assert!(
        !a.tick(&store, 1099).fetch && !b.tick(&store, 1099).fetch,
        "backing off"
    );
    let fetches = [a.tick(&store, 1100).fetch, b.tick(&store, 1100).fetch];
    assert_eq!(fetches.iter().filter(|f| **f).count(), 1);
}

#[test]
fn backoff_doubles_up_to_the_refresh_interval() {
    let mut schedule = DirectorySchedule::new(&section());
    let mut delays = Vec::new();
    for _ in 0..9 {
        schedule.finished(0, false);
        delays.push(schedule.backoff_ms());
    }
    assert_eq!(
        delays,
        [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
    );
    schedule.finished(0, true);
    assert_eq!((schedule.failures(), schedule.next_fetch_at()), (0, 60_000));
}

#[test]
fn a_lost_fetch_is_taken_over() {
    let store = MemStore::default();
    let (mut a, mut b) = (worker(1), worker(2));
    let _ = a.tick(&store, 0);
    assert!(a.tick(&store, 0).fetch);
    // a never answers: its lease lapses after twice the timeout and a second.
    assert!(!b.tick(&store, 10_999).fetch);
    assert!(b.tick(&store, 11_000).fetch);
}

#[test]
fn without_shared_data_each_worker_fetches_alone() {
    let store = MemStore::default();
    store.down.set(true);
    let mut a = worker(1);
    assert!(a.tick(&store, 0).fetch);
    assert_eq!(a.shared.mode(), Mode::PerWorker);
    assert!(!a.tick(&store, 10).fetch, "under way");
    a.shared.finished(&store, &mut a.schedule, 20, Some(b"doc"));
    assert!(!a.tick(&store, 30).fetch);
    assert!(a.tick(&store, 60_020).fetch);
}

/// The state key of the directory of configuration `doc`, as a worker of it computes it.
fn state_key_of(doc: &serde_json::Value) -> String {
    let gate = crate::gate::Gate::from_json(doc.to_string().as_bytes()).expect("it compiles");
    let section = gate.directory().expect("a directory section");
    let signer = &gate.config().providers[section.provider];
    SharedDirectory::for_signer(section, signer, 1)
        .state_key()
        .to_owned()
}

/// A configuration push keeps the published directory when only static policy changed (the
/// new configuration's workers adopt it with no fetch), and starts a fresh entry when the
/// section or its signer changed in a way the document's checks depend on.
#[test]
fn a_push_keeps_the_entry_unless_the_section_or_its_signer_changed() {
    use serde_json::json;
    let base = super::static_config();
    let key = state_key_of(&base);
    let mut unrelated = base.clone();
    unrelated["routes"][0]["path"]["prefix"] = json!("/pushed");
    unrelated["tenants"]["globex"] = json!({"hosts": ["globex.example.com"]});
    unrelated["providers"][1]["audiences"] = json!(["api", "other"]);
    unrelated["directory"]["idp_clusters"] = json!(["egress", "more"]);
    assert_eq!(
        state_key_of(&unrelated),
        key,
        "static policy only: same entry"
    );

    let changed = |what: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = base.clone();
        edit(&mut doc);
        assert_ne!(state_key_of(&doc), key, "{what}: a fresh entry");
    };
    changed("another URI", &|d| {
        d["directory"]["remote"]["uri"] = json!("http://issuer.internal/v2/directory");
    });
    changed("another cluster", &|d| {
        d["directory"]["remote"]["cluster"] = json!("entra");
    });
    changed("another provider", &|d| {
        d["directory"]["provider"] = json!("entra")
    });
    changed("another refresh", &|d| {
        d["directory"]["refresh_seconds"] = json!(30)
    });
    changed("the signer's issuer", &|d| {
        d["providers"][0]["issuer"] = json!("https://other.example.com");
    });
    changed("the signer's inline keys", &|d| {
        d["providers"][0]["jwks"]["inline"]["keys"][0]["kid"] = json!("b");
    });
    changed("the signer's key source", &|d| {
        d["providers"][0]["jwks"] = json!({"remote": {"cluster": "issuer",
            "uri": "http://issuer.internal/keys"}});
    });
}
