//! What reaches the upstream beside the verified identity (claims in headers, client copies
//! under folded names), and refusals in the form a gRPC client reads.

use serde_json::json;

use super::*;

fn with_claim_headers() -> Value {
    let mut config = config();
    config["headers"] = json!({"claims": {"x-plan": "plan", "x-features": "features"}});
    config
}

fn token_with(extra: Value) -> String {
    let mut c = claims(ISSUER, AUDIENCE, "acme", "alice", &["viewer"]);
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    key_a().sign(&c)
}

fn grpc(host: &str, path: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = request(host, path, &[("content-type", "application/grpc")]);
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    headers
}

#[test]
fn claims_are_forwarded_and_client_copies_under_any_spelling_stripped() {
    let mut sim = Sim::loaded(&with_claim_headers(), &[&key_a()]);
    let tok = token_with(json!({"plan": "pro", "features": ["sso", "audit"]}));
    let spoofed = [
        ("x_tenant_id", "globex"),
        ("x-user_id", "mallory"),
        ("x_user_roles", "admin"),
        ("x-plan", "enterprise"),
        ("x_plan", "enterprise"),
        ("x_features", "everything"),
        ("x-other_header", "kept"),
    ];
    let mut headers = bearer(ACME, &tok);
    headers.extend(spoofed.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let (ctx, verdict) = sim.send(headers);
    assert_eq!(verdict, Verdict::Continue);
    let seen = sim.host.headers_of(ctx);
    // The client's x-plan is replaced by the claim's; every other spelling is gone.
    for (name, _) in spoofed[..6].iter().filter(|(n, _)| *n != "x-plan") {
        assert_eq!(header(&seen, name), None, "{name} kept: {seen:?}");
    }
    assert_eq!(header(&seen, "x-plan"), Some("pro"));
    assert_eq!(seen.iter().filter(|(n, _)| n == "x-plan").count(), 1);
    assert_eq!(header(&seen, "x-features"), Some("sso,audit"));
    assert_eq!(header(&seen, "x-tenant-id"), Some("acme"));
    assert_eq!(header(&seen, "x-other_header"), Some("kept"));

    // Public and refused requests lose them too.
    for path in ["/public/x", "/internal"] {
        let (ctx, _) = sim.send(request(ACME, path, &spoofed));
        let seen = sim.host.headers_of(ctx);
        for (name, _) in &spoofed[..6] {
            assert_eq!(header(&seen, name), None, "{path}: {name} kept");
        }
    }
}

#[test]
fn a_claim_no_header_can_carry_refuses_the_request() {
    let mut sim = Sim::loaded(&with_claim_headers(), &[&key_a()]);
    for bad in [
        json!({"plan": "pro\r\nx-tenant-id: globex"}),
        json!({"features": ["sso,admin"]}),
    ] {
        let (ctx, verdict) = sim.send(bearer(ACME, &token_with(bad.clone())));
        assert_eq!(verdict, Verdict::Pause, "{bad}");
        assert_refused(&sim.reply(ctx), 401, "claim_not_forwardable");
    }
}

/// Asserts a gRPC refusal: HTTP 200, no body, `grpc-status` and the encoded `grpc-message`.
fn assert_grpc_refused(reply: &Reply, grpc_status: &str, code: &str) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.is_empty(), "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/grpc"));
    assert_eq!(reply.header("grpc-status"), Some(grpc_status), "{reply:?}");
    let message = reply.header("grpc-message").unwrap_or_default();
    assert!(message.ends_with(&format!("({code})")), "{reply:?}");
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer realm=\"unit\"")),
        "{reply:?}"
    );
}

#[test]
fn grpc_calls_get_grpc_refusals() {
    let mut sim = Sim::loaded(&config(), &[&key_a()]);
    let acme = format!("Bearer {}", token(&key_a(), "acme", "alice"));
    let cases = [
        (grpc(ACME, "/api/x", &[]), "16", "token_missing"),
        (
            grpc(GLOBEX, "/api/x", &[("authorization", &acme)]),
            "7",
            "tenant_mismatch",
        ),
        (grpc(ACME, "/internal", &[]), "7", "route_denied"),
        (grpc(ACME, "/api/a%zz", &[]), "3", "path_invalid"),
    ];
    for (headers, status, code) in cases {
        let (ctx, verdict) = sim.send(headers);
        assert_eq!(verdict, Verdict::Pause, "{code}");
        assert_grpc_refused(&sim.reply(ctx), status, code);
    }
    // An allowed call goes on with its identity; gRPC-Web is answered over HTTP.
    let (ctx, verdict) = sim.send(grpc(ACME, "/api/x", &[("authorization", &acme)]));
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(
        header(&sim.host.headers_of(ctx), "x-tenant-id"),
        Some("acme")
    );
    let web = request(
        ACME,
        "/api/x",
        &[("content-type", "application/grpc-web+proto")],
    );
    let (ctx, _) = sim.send(web);
    assert_refused(&sim.reply(ctx), 401, "token_missing");
}

#[test]
fn a_grpc_call_waiting_for_keys_gets_unavailable() {
    let mut sim = Sim::start(&config());
    let tok = format!("Bearer {}", token(&key_a(), "acme", "alice"));
    let (ctx, verdict) = sim.send(grpc(ACME, "/api/x", &[("authorization", &tok)]));
    assert_eq!(verdict, Verdict::Pause);
    sim.run(WAIT_MS + TICK_MS);
    let reply = sim.reply(ctx);
    assert_grpc_refused(&reply, "14", "jwks_unavailable");
    assert_eq!(reply.header("retry-after"), Some("7"));
}
