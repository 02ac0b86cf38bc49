//! A configuration the filter refuses never lets a request through.

use super::*;

/// What Envoy does with a configuration the filter refuses: it must never let a request through.
fn refused_configuration(what: &str, config: &str) {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let upstream = EchoUpstream::start();
    let jwks = jwks_with_key1();
    let started = EnvoyBuilder::new(&artifacts.envoy)
        .filter_text(&artifacts.wasm, config)
        .upstream(upstream.port())
        .cluster(JWKS_CLUSTER, jwks.port())
        .try_start();
    match started {
        Err(failure) => {
            // Envoy refused the configuration at start and exited with an error, saying why.
            let status = failure.status.expect("Envoy exited rather than hung");
            assert!(!status.success(), "{what}: Envoy exited 0");
            assert!(
                failure.log.contains("tenantgate: invalid configuration"),
                "{what}: the log does not say why: {}",
                failure.log
            );
        }
        Ok(envoy) => {
            let tok = token(&key1(), "acme", "alice", &["admin"]);
            for req in [
                Req::get(ACME, "/public/x"),
                Req::get(ACME, "/api/x").bearer(&tok),
            ] {
                let resp = envoy.send(&req);
                assert_ne!(resp.status, 200, "{what}: {}", resp.summary());
            }
            assert_eq!(
                upstream.count(),
                0,
                "{what}: a request got through a refused configuration"
            );
            panic!(
                "{what}: Envoy started with a configuration the filter refuses (requests were refused); its log:\n{}",
                envoy.log()
            );
        }
    }
}

#[test]
fn a_bad_configuration_is_refused_by_envoy() {
    refused_configuration("not JSON", "{\"providers\": [");
    let mut unknown_field = policy();
    unknown_field["providerz"] = json!([]);
    refused_configuration("unknown field", &unknown_field.to_string());
    let mut bad_route = policy();
    bad_route["routes"][0]["require"] = json!("sometimes");
    refused_configuration("bad requirement", &bad_route.to_string());
    let mut no_providers = policy();
    no_providers["providers"] = json!([]);
    refused_configuration("no providers", &no_providers.to_string());
}
