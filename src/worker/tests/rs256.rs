//! The worker's signatures through the host's `verify_signature` when the probe trusts it.

use crate::fake_host::VerifySignature;

use super::*;

/// A worker on a host with `behaviour`, its keys loaded (key A).
fn loaded_on(behaviour: VerifySignature) -> Sim {
    let store = Rc::new(MemStore::default());
    let mut sim = Sim::start_prepared(&config(), store, 1, |host| {
        host.set_verify_signature(behaviour)
    });
    sim.tick(TICK_MS);
    let token = sim.only_callout();
    sim.answer(token, &jwks(&[&key_a()]));
    sim
}

fn flip_signature(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII")
}

#[test]
fn a_correct_host_decides_signatures_and_the_cache_spares_it() {
    let mut sim = loaded_on(VerifySignature::Correct);
    assert_eq!(sim.host.stat("tenantgate.rs256.host"), 1);
    let calls = sim.host.foreign_calls();

    let tok = token(&key_a(), "acme", "alice");
    let (_, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(sim.host.foreign_calls(), calls + 1);

    let (ctx, verdict) = sim.send(bearer(ACME, &flip_signature(&tok)));
    assert_eq!(verdict, Verdict::Pause);
    assert_eq!(sim.reply(ctx).code(), "signature_invalid");
    assert_eq!(sim.stat("tenantgate.denied.signature_invalid"), 1);
    assert_eq!(sim.host.foreign_calls(), calls + 2);

    // A token signed by a key the set does not hold under that kid: refused by the host.
    let forged = TestKey::b("a1").sign(&claims(ISSUER, AUDIENCE, "acme", "eve", &[]));
    let (ctx, _) = sim.send(bearer(ACME, &forged));
    assert_eq!(sim.reply(ctx).code(), "signature_invalid");
    assert_eq!(sim.host.foreign_calls(), calls + 3);

    let (_, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue, "a cache hit");
    assert_eq!(sim.host.foreign_calls(), calls + 3);
}

#[test]
fn a_host_that_accepts_forgeries_is_never_asked() {
    let mut sim = loaded_on(VerifySignature::AlwaysValid);
    assert_eq!(sim.host.stat("tenantgate.rs256.host"), 0);
    let calls = sim.host.foreign_calls();
    let tok = token(&key_a(), "acme", "alice");
    let (ctx, verdict) = sim.send(bearer(ACME, &flip_signature(&tok)));
    assert_eq!(verdict, Verdict::Pause);
    assert_eq!(sim.reply(ctx).code(), "signature_invalid");
    let (_, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(sim.host.foreign_calls(), calls);
}

#[test]
fn a_failing_host_call_is_decided_by_ring() {
    let mut sim = loaded_on(VerifySignature::FailsAfter(3));
    assert_eq!(sim.host.stat("tenantgate.rs256.host"), 1);
    let tok = token(&key_a(), "acme", "alice");
    let (ctx, _) = sim.send(bearer(ACME, &flip_signature(&tok)));
    assert_eq!(sim.reply(ctx).code(), "signature_invalid");
    let (_, verdict) = sim.send(bearer(ACME, &tok));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(sim.host.stat("tenantgate.rs256.host_failures"), 2);
}
