//! The signed tenant directory in the worker: fetched once the signer's keys are in, adopted
//! (new tenants, hosts and IdPs enforced at once), refused documents keeping the last good one,
//! 503 before the first, key sets kept across adoptions, a strict token cache, one fetch per
//! Envoy, and backoff.

use std::rc::Rc;

use serde_json::json;
use tenantgate_testkit::keys::{claims, jwks};

use super::*;

const DIRECTORY_CLUSTER: &str = "issuer";
const IDP_ISSUER: &str = "https://zeta-idp.test";

/// The unit configuration with a directory signed by provider `main`.
fn directory_config() -> Value {
    let mut config = config();
    config["directory"] = json!({
        "provider": "main",
        "remote": {"cluster": DIRECTORY_CLUSTER, "uri": "http://issuer.test/v1/directory", "timeout_ms": 1000},
        "refresh_seconds": 5,
        "idp_clusters": ["egress"]
    });
    config
}

/// A directory document signed by `key`, issued `iat_delta` seconds from now.
fn document(key: &TestKey, tenants: Value, iat_delta: i64) -> Vec<u8> {
    let header = json!({"alg": "RS256", "typ": "tenantgate-directory+jwt", "kid": key.kid});
    let payload = json!({"iss": ISSUER, "iat": now() + iat_delta, "tenants": tenants});
    key.sign_with_header(&header, &payload).into_bytes()
}

fn zeta() -> Value {
    json!({"zeta": {"hosts": ["zeta.test"]}})
}

impl Sim {
    /// Keys loaded, then ticks until the directory's callout goes out; its token.
    fn directory_due(&mut self) -> u32 {
        for _ in 0..5 {
            if let Some(token) = self.directory_callout() {
                return token;
            }
            self.tick(TICK_MS);
        }
        panic!("no directory callout: {:?}", self.host.callouts());
    }

    /// The token of the last directory callout not yet seen as answered.
    fn directory_callout(&self) -> Option<u32> {
        let callouts = self.host.callouts();
        let last = callouts
            .iter()
            .rev()
            .find(|c| c.cluster == DIRECTORY_CLUSTER)?;
        let answered = self.host.stat("tenantgate.directory.adopted")
            + self.host.stat("tenantgate.directory.rejected")
            + self.host.stat("tenantgate.directory.fetch_failed");
        let count = callouts
            .iter()
            .filter(|c| c.cluster == DIRECTORY_CLUSTER)
            .count();
        (count as i64 > answered).then_some(last.token)
    }

    fn serve_directory(&mut self, token: u32, body: Vec<u8>) {
        let headers = vec![
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), "application/jwt".to_string()),
        ];
        self.answer_raw(token, headers, body);
    }

    /// Keys loaded and `tenants` adopted.
    fn with_directory(tenants: Value) -> Sim {
        let mut sim = Sim::loaded(&directory_config(), &[&key_a()]);
        let token = sim.directory_due();
        sim.serve_directory(token, document(&key_a(), tenants, 0));
        assert_eq!(sim.stat("tenantgate.directory.adopted"), 1);
        sim
    }
}

#[test]
fn before_the_first_directory_what_it_could_allow_is_503() {
    let mut sim = Sim::loaded(&directory_config(), &[&key_a()]);
    let (ctx, verdict) = sim.send(bearer("zeta.test", &token(&key_a(), "zeta", "zed")));
    assert_eq!(verdict, Verdict::Pause);
    assert_refused(&sim.reply(ctx), 503, "directory_unavailable");
    // A static tenant is decided as always.
    let (ctx, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));
    let (ctx, _) = sim.send(request(ACME, "/nothing", &[]));
    assert_refused(&sim.reply(ctx), 403, "route_denied");
}

#[test]
fn an_adopted_directory_is_enforced_at_once() {
    let mut sim = Sim::with_directory(zeta());
    assert_eq!(sim.stat("tenantgate.directory.tenants"), 1);
    let (ctx, verdict) = sim.send(bearer("zeta.test", &token(&key_a(), "zeta", "zed")));
    assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-tenant-id"),
        Some("zeta")
    );
    // Another tenant's token on zeta's host, and an unknown host, are refused as usual now.
    let (ctx, _) = sim.send(bearer("zeta.test", &token(&key_a(), "acme", "alice")));
    assert_refused(&sim.reply(ctx), 403, "tenant_mismatch");
    let (ctx, _) = sim.send(bearer("nobody.test", &token(&key_a(), "zeta", "zed")));
    assert_refused(&sim.reply(ctx), 403, "host_unknown");
    // Directory tenants count under `_other`; static ones keep their own counters.
    assert_eq!(sim.stat("tenantgate.tenant._other.allowed"), 1);
    let (_, verdict) = sim.send(bearer(ACME, &token(&key_a(), "acme", "alice")));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(sim.stat("tenantgate.tenant.acme.allowed"), 1);
}

#[test]
fn a_refused_document_keeps_the_last_good_one() {
    let mut sim = Sim::with_directory(zeta());
    let bad = [
        document(&key_b(), json!({}), 1),
        document(
            &key_a(),
            json!({"a": {"hosts": ["x.test"]}, "b": {"hosts": ["x.test"]}}),
            1,
        ),
        document(&key_a(), json!({}), -10),
        b"not a document".to_vec(),
    ];
    for (n, body) in bad.into_iter().enumerate() {
        sim.run(6000);
        let token = sim.directory_due();
        sim.serve_directory(token, body);
        assert_eq!(sim.stat("tenantgate.directory.rejected"), n as i64 + 1);
        let (ctx, verdict) = sim.send(bearer("zeta.test", &token_for("zeta")));
        assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));
    }
    assert_eq!(sim.stat("tenantgate.directory.adopted"), 1);
}

fn token_for(tenant: &str) -> String {
    token(&key_a(), tenant, "someone")
}

#[test]
fn a_failed_fetch_backs_off_and_keeps_the_directory() {
    let mut sim = Sim::with_directory(zeta());
    sim.run(5000);
    let token = sim.directory_due();
    sim.fail(token);
    assert_eq!(sim.stat("tenantgate.directory.fetch_failed"), 1);
    sim.run(900);
    assert!(sim.directory_callout().is_none(), "backing off");
    sim.run(200);
    assert!(sim.directory_callout().is_some(), "retried after a second");
    let (_, verdict) = sim.send(bearer("zeta.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue);
}

#[test]
fn a_directory_idp_is_fetched_and_the_held_key_sets_are_kept() {
    let idp = json!({"zeta": {"hosts": ["zeta.test"], "idp": {
        "issuer": IDP_ISSUER, "audiences": ["zeta-api"],
        "jwks": {"remote": {"cluster": "egress", "uri": "https://zeta-idp.test/keys"}}}}});
    let mut sim = Sim::with_directory(idp);
    sim.run(300);
    let fetched = |sim: &Sim, cluster: &str| {
        sim.host
            .callouts()
            .iter()
            .filter(|c| c.cluster == cluster)
            .count()
    };
    assert_eq!(
        fetched(&sim, "jwks"),
        1,
        "main's key set is not fetched again"
    );
    assert_eq!(fetched(&sim, "egress"), 1, "the new IdP's is");
    let idp_callout = sim
        .host
        .callouts()
        .iter()
        .rev()
        .find(|c| c.cluster == "egress")
        .expect("idp")
        .token;
    sim.answer(idp_callout, &jwks(&[&key_b()]));
    assert_eq!(sim.stat("tenantgate.jwks.zeta-idp.keys"), 1);
    let own = key_b().sign(&claims(
        IDP_ISSUER,
        "zeta-api",
        "ignored",
        "zoe",
        &["viewer"],
    ));
    let (ctx, verdict) = sim.send(bearer("zeta.test", &own));
    assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-tenant-id"),
        Some("zeta")
    );
    // The IdP is bound to zeta: its token on acme's host is refused.
    let (ctx, _) = sim.send(bearer(ACME, &own));
    assert_refused(&sim.reply(ctx), 403, "tenant_mismatch");

    // The next directory drops the IdP: its token, cached a moment ago, allows nothing more.
    sim.run(5000);
    let token = sim.directory_due();
    sim.serve_directory(token, document(&key_a(), zeta(), 1));
    assert_eq!(sim.stat("tenantgate.directory.adopted"), 2);
    let (ctx, _) = sim.send(bearer("zeta.test", &own));
    assert_refused(&sim.reply(ctx), 401, "issuer_not_trusted");
    let (_, verdict) = sim.send(bearer("zeta.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(
        fetched(&sim, "jwks"),
        1,
        "main's key set is still the first"
    );
}

#[test]
fn one_worker_fetches_the_directory_for_the_envoy() {
    let store = Rc::new(MemStore::default());
    let mut a = Sim::start_on(&directory_config(), store.clone(), 1);
    a.tick(TICK_MS);
    let keys = a.only_callout();
    a.answer(keys, &jwks(&[&key_a()]));
    let token = a.directory_due();
    a.serve_directory(token, document(&key_a(), zeta(), 0));

    let mut b = Sim::start_on(&directory_config(), store, 2);
    b.run(500);
    assert!(
        b.host
            .callouts()
            .iter()
            .all(|c| c.cluster != DIRECTORY_CLUSTER),
        "b fetched nothing"
    );
    assert_eq!(
        b.stat("tenantgate.directory.adopted"),
        1,
        "b adopted a's publication"
    );
    let (ctx, verdict) = b.send(bearer("zeta.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue, "{:?}", b.host.replies_to(ctx));
}

#[test]
fn the_same_tenants_again_change_nothing() {
    let mut sim = Sim::with_directory(zeta());
    let (_, verdict) = sim.send(bearer("zeta.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue);
    sim.run(5000);
    let token = sim.directory_due();
    sim.serve_directory(token, document(&key_a(), zeta(), 1));
    assert_eq!(sim.stat("tenantgate.directory.adopted"), 2);
    assert_eq!(sim.stat("tenantgate.directory.tenants"), 1);
}

#[test]
fn a_directory_signed_by_a_new_key_refetches_the_signers_key_set() {
    let mut sim = Sim::with_directory(zeta());
    let key_set_fetches = |sim: &Sim| {
        sim.host
            .callouts()
            .iter()
            .filter(|c| c.cluster == "jwks")
            .count()
    };
    assert_eq!(key_set_fetches(&sim), 1);
    sim.run(5000);
    let token = sim.directory_due();
    let rotated = document(
        &key_b(),
        json!({"zeta": {"hosts": ["zeta.test", "z.test"]}}),
        1,
    );
    sim.serve_directory(token, rotated.clone());
    assert_eq!(sim.stat("tenantgate.directory.rejected"), 1);
    sim.tick(TICK_MS);
    assert_eq!(
        key_set_fetches(&sim),
        2,
        "the unknown key asked for the key set again"
    );
    let keys = sim
        .host
        .callouts()
        .iter()
        .rev()
        .find(|c| c.cluster == "jwks")
        .expect("refetch")
        .token;
    sim.answer(keys, &jwks(&[&key_a(), &key_b()]));
    sim.run(1000); // The refused fetch's backoff.
    let token = sim.directory_due();
    sim.serve_directory(token, rotated);
    assert_eq!(sim.stat("tenantgate.directory.adopted"), 2);
    let (_, verdict) = sim.send(bearer("z.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue);
}

#[test]
fn an_unchanged_idp_keeps_its_keys_and_a_moved_one_is_fetched_anew() {
    let idp = |uri: &str| {
        json!({"issuer": IDP_ISSUER, "audiences": ["zeta-api"],
               "jwks": {"remote": {"cluster": "egress", "uri": uri}}})
    };
    let first = json!({"zeta": {"hosts": ["zeta.test"], "idp": idp("https://zeta-idp.test/keys")}});
    let mut sim = Sim::with_directory(first);
    sim.run(300);
    let idp_fetches = |sim: &Sim| {
        sim.host
            .callouts()
            .iter()
            .filter(|c| c.cluster == "egress")
            .count()
    };
    let last_idp = |sim: &Sim| {
        sim.host
            .callouts()
            .iter()
            .rev()
            .find(|c| c.cluster == "egress")
            .expect("idp")
            .token
    };
    sim.answer(last_idp(&sim), &jwks(&[&key_b()]));
    let own = key_b().sign(&claims(IDP_ISSUER, "zeta-api", "x", "zoe", &[]));

    // Another tenant added, zeta's IdP as it was: its keys stay, nothing is fetched again.
    let second = json!({"zeta": {"hosts": ["zeta.test"], "idp": idp("https://zeta-idp.test/keys")},
                        "initech": {"hosts": ["initech.test"]}});
    sim.run(5000);
    let token = sim.directory_due();
    sim.serve_directory(token, document(&key_a(), second, 1));
    sim.run(300);
    assert_eq!(idp_fetches(&sim), 1);
    let (ctx, verdict) = sim.send(bearer("zeta.test", &own));
    assert_eq!(verdict, Verdict::Continue, "{:?}", sim.host.replies_to(ctx));

    // The IdP's key set moved: a new fetcher, whose first fetch the request waits for.
    let third =
        json!({"zeta": {"hosts": ["zeta.test"], "idp": idp("https://zeta-idp.test/v2/keys")}});
    sim.run(5000);
    let token = sim.directory_due();
    sim.serve_directory(token, document(&key_a(), third, 2));
    let (ctx, verdict) = sim.send(bearer("zeta.test", &own));
    assert_eq!(verdict, Verdict::Pause, "no keys yet for the moved IdP");
    sim.run(300);
    assert_eq!(idp_fetches(&sim), 2);
    let moved = sim
        .host
        .callouts()
        .iter()
        .rev()
        .find(|c| c.cluster == "egress")
        .expect("idp")
        .clone();
    assert_eq!(header(&moved.headers, ":path"), Some("/v2/keys"));
    sim.answer(moved.token, &jwks(&[&key_b()]));
    assert_eq!(sim.host.resumed(), vec![ctx]);
}

#[test]
fn a_worker_behind_catches_up_on_a_request_rather_than_refuse_it() {
    let store = Rc::new(MemStore::default());
    let mut b = Sim::start_on(&directory_config(), store.clone(), 2);
    let mut a = Sim::start_on(&directory_config(), store, 1);
    a.tick(TICK_MS);
    let keys = a.only_callout();
    a.answer(keys, &jwks(&[&key_a()]));
    let token = a.directory_due();
    a.serve_directory(token, document(&key_a(), zeta(), 0));

    // b has not ticked since a published: the request itself adopts the keys and the directory.
    let (ctx, verdict) = b.send(bearer("zeta.test", &token_for("zeta")));
    assert_eq!(verdict, Verdict::Continue, "{:?}", b.host.replies_to(ctx));
    assert_eq!(b.stat("tenantgate.directory.adopted"), 1);
    assert_eq!(b.stat("tenantgate.jwks.main.keys"), 1);
    // Nothing was fetched from the request's context, nor on b's next ticks.
    b.run(500);
    assert!(b.host.callouts().is_empty(), "{:?}", b.host.callouts());
    assert_eq!(b.stat("tenantgate.directory.adopted"), 1, "adopted once");
}
