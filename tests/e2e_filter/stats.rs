//! The filter's stats, as Envoy shows them.

use super::*;

#[test]
fn stats_count_decisions() {
    let Some(gw) = Gateway::start(Setup::default(), jwks_with_key1()) else {
        return;
    };
    let k = key1();
    for _ in 0..3 {
        gw.allow(
            "allowed",
            Req::get(ACME, "/api/x").bearer(&token(&k, "acme", "a", &[])),
        );
    }
    gw.allow("public", Req::get(GLOBEX, "/public"));
    for _ in 0..2 {
        gw.deny("missing", Req::get(ACME, "/api/x"), Denial::TokenMissing);
    }
    gw.deny(
        "mismatch",
        Req::get(GLOBEX, "/api/x").bearer(&token(&k, "acme", "a", &[])),
        Denial::TenantMismatch,
    );
    gw.deny(
        "unknown host",
        Req::get("nobody.test", "/api/x"),
        Denial::HostUnknown,
    );

    let stats = gw.envoy.stats();
    let tg: Vec<String> = stats
        .iter()
        .filter(|(k, _)| k.contains("tenantgate"))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    // Envoy's /stats shows metrics defined by a wasm module in its `wasmcustom.` namespace
    // (Prometheus output drops it, below).
    let get = |name: &str| {
        stats
            .get(&format!("wasmcustom.{name}"))
            .copied()
            .unwrap_or_else(|| panic!("{name} not in /stats; tenantgate stats: {tg:#?}"))
    };
    assert_eq!(get("tenantgate.requests.allowed"), 4);
    assert_eq!(get("tenantgate.requests.denied"), 4);
    assert_eq!(get("tenantgate.denied.token_missing"), 2);
    assert_eq!(get("tenantgate.denied.tenant_mismatch"), 1);
    assert_eq!(get("tenantgate.denied.host_unknown"), 1);
    assert_eq!(get("tenantgate.denied.signature_invalid"), 0);
    assert_eq!(get("tenantgate.tenant.acme.allowed"), 3);
    assert_eq!(get("tenantgate.tenant.acme.denied"), 2);
    assert_eq!(get("tenantgate.tenant.globex.allowed"), 1);
    assert_eq!(get("tenantgate.tenant.globex.denied"), 1);
    assert_eq!(get("tenantgate.tenant._other.denied"), 1);
    assert!(get("tenantgate.jwks.main.fetch.success") >= 1);
    assert_eq!(get("tenantgate.jwks.main.fetch.failure"), 0);
    assert_eq!(get("tenantgate.jwks.main.keys"), 1);

    let prometheus = gw.envoy.admin("/stats/prometheus").text();
    for line in [
        "tenantgate_requests_allowed{} 4",
        "tenantgate_requests_denied{} 4",
        "tenantgate_denied_token_missing{} 2",
        "tenantgate_tenant_acme_allowed{} 3",
    ] {
        assert!(
            prometheus.lines().any(|l| l == line),
            "{line:?} not in /stats/prometheus: {:?}",
            prometheus
                .lines()
                .filter(|l| l.contains("tenantgate"))
                .collect::<Vec<_>>()
        );
    }
}
