//! The shipped deployments (the loopback demo, docker-compose, Istio) must not drift apart: each
//! carries the same filter policy, accepted by the filter's own parser, and the same topology.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use tenantgate_core::gate::Gate;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let yaml = serde_yaml_ng::Value::deserialize(doc).expect("valid YAML");
            serde_json::to_value(yaml).expect("YAML representable as JSON")
        })
        .collect()
}

/// The demo policy every deployment runs.
fn demo_policy() -> Value {
    serde_json::from_str(&read("envoy/tenantgate.json")).expect("envoy/tenantgate.json is JSON")
}

fn assert_accepted(what: &str, policy: &Value) {
    let bytes = serde_json::to_vec(policy).expect("serializes");
    if let Err(errors) = Gate::from_json(&bytes) {
        panic!("{what} is refused by the filter's parser:\n{errors}");
    }
}

/// The `configuration` of the tenantgate filter in an Envoy bootstrap, parsed.
fn envoy_filter_policy(envoy: &Value) -> Value {
    let listeners = envoy["static_resources"]["listeners"]
        .as_array()
        .expect("listeners");
    for listener in listeners {
        for chain in listener["filter_chains"].as_array().into_iter().flatten() {
            for filter in chain["filters"].as_array().into_iter().flatten() {
                let http_filters = &filter["typed_config"]["http_filters"];
                for http in http_filters.as_array().into_iter().flatten() {
                    if http["name"] == "envoy.filters.http.wasm" {
                        let value = &http["typed_config"]["config"]["configuration"]["value"];
                        let text = value.as_str().expect("configuration is a string");
                        return serde_json::from_str(text).expect("filter configuration is JSON");
                    }
                }
            }
        }
    }
    panic!("no envoy.filters.http.wasm filter");
}

fn cluster_names(envoy: &Value) -> Vec<String> {
    let mut names: Vec<String> = envoy["static_resources"]["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| c["name"].as_str().expect("cluster name").to_string())
        .collect();
    names.sort();
    names
}

/// The demo's Envoy template rendered the way scripts/demo renders it.
fn demo_envoy() -> Value {
    let policy = serde_json::to_string_pretty(&demo_policy()).expect("serializes");
    let indented: Vec<String> = policy
        .lines()
        .map(|l| format!("{}{l}", " ".repeat(28)))
        .collect();
    let text = read("envoy/envoy.yaml")
        .replace("${FILTER_CONFIG}", &indented.join("\n"))
        .replace("${ADMIN_PORT}", "9901")
        .replace("${GATEWAY_PORT}", "8080")
        .replace("${APP_PORT}", "8000")
        .replace("${ISSUER_PORT}", "9000")
        .replace("${WASM}", "/tenantgate.wasm");
    assert!(
        !text.contains("${"),
        "envoy/envoy.yaml has a placeholder scripts/demo does not set"
    );
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
        .map(|v| serde_json::to_value(v).expect("JSON"))
        .expect("rendered envoy/envoy.yaml is YAML")
}

#[test]
fn demo_policy_is_accepted() {
    assert_accepted("envoy/tenantgate.json", &demo_policy());
    assert_eq!(envoy_filter_policy(&demo_envoy()), demo_policy());
}

#[test]
fn compose_gateway_runs_the_demo_policy_and_topology() {
    let compose_envoy = yaml_docs("envoy/compose/envoy.yaml").remove(0);
    assert_eq!(
        envoy_filter_policy(&compose_envoy),
        demo_policy(),
        "compose/envoy.yaml drifted"
    );
    assert_eq!(cluster_names(&compose_envoy), cluster_names(&demo_envoy()));

    let compose = yaml_docs("envoy/docker-compose.yaml").remove(0);
    let services = compose["services"].as_object().expect("services");
    for name in ["issuer", "app", "envoy"] {
        assert!(
            services.contains_key(name),
            "compose lacks the {name} service"
        );
    }
    // Cluster addresses point at the compose services, on the ports the demo uses.
    let endpoints = |cluster: &str| -> (String, u64) {
        let c = compose_envoy["static_resources"]["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == cluster))
            .unwrap_or_else(|| panic!("no cluster {cluster}"));
        let sa = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"];
        (
            sa["address"].as_str().unwrap_or_default().to_string(),
            sa["port_value"].as_u64().unwrap_or(0),
        )
    };
    assert_eq!(endpoints("app"), ("app".to_string(), 8000));
    assert_eq!(endpoints("tenantgate_issuer"), ("issuer".to_string(), 9000));
    // Published on loopback only, on the ports (and the variables moving them) of the demo.
    let ports = |svc: &str| services[svc]["ports"].clone();
    assert_eq!(
        ports("envoy"),
        serde_json::json!([
            "127.0.0.1:${GATEWAY_PORT:-8080}:8080",
            "127.0.0.1:${ADMIN_PORT:-9901}:9901"
        ])
    );
    assert_eq!(
        ports("issuer"),
        serde_json::json!(["127.0.0.1:${ISSUER_PORT:-9000}:9000"])
    );
    assert!(
        services["app"].get("ports").is_none(),
        "app is not published"
    );
    let demo = read("scripts/demo");
    for default in [
        "GATEWAY_PORT:-8080",
        "ADMIN_PORT:-9901",
        "ISSUER_PORT:-9000",
        "APP_PORT:-8000",
    ] {
        assert!(
            demo.contains(default),
            "scripts/demo no longer defaults {default}"
        );
    }
}

/// `up --wait` returns when the gateway serves: every service has a health check and the
/// gateway starts after the issuer and the app are healthy.
#[test]
fn compose_services_are_health_checked_and_ordered() {
    let compose = yaml_docs("envoy/docker-compose.yaml").remove(0);
    let services = compose["services"].as_object().expect("services");
    for (name, service) in services {
        let test = &service["healthcheck"]["test"];
        assert_eq!(test[0], "CMD-SHELL", "{name}: a CMD-SHELL health check");
    }
    let depends = &services["envoy"]["depends_on"];
    for dep in ["issuer", "app"] {
        assert_eq!(
            depends[dep]["condition"], "service_healthy",
            "envoy after {dep}"
        );
    }
}

/// The build context is the repository root: `.dockerignore` keeps it to the sources, letting
/// through only the two artifacts the Dockerfile's `prebuilt` stage takes.
#[test]
fn docker_context_is_the_sources_and_the_prebuilt_artifacts() {
    let ignore = read(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"**"), "everything is excluded first");
    let dockerfile = read("envoy/Dockerfile");
    let prebuilt = dockerfile
        .lines()
        .skip_while(|l| !l.starts_with("FROM scratch AS prebuilt"))
        .find(|l| l.starts_with("COPY "))
        .expect("the prebuilt stage copies the artifacts");
    let sources: Vec<&str> = prebuilt.split_whitespace().skip(1).collect();
    let (_dest, artifacts) = sources.split_last().expect("COPY SRC... DEST");
    for artifact in artifacts {
        assert!(
            rules.contains(&format!("!{artifact}").as_str()),
            ".dockerignore lets {artifact} through"
        );
    }
    for rule in &rules {
        let allowed = rule.strip_prefix('!').unwrap_or_default();
        assert!(
            !allowed.starts_with(".venv") && allowed != "target/" && allowed != "target",
            ".dockerignore lets {rule} into the context"
        );
    }
}

#[test]
fn issuer_config_matches_the_policy() {
    let issuer: toml::Value =
        toml::from_str(&read("envoy/issuer.toml")).expect("issuer.toml is TOML");
    let policy = demo_policy();
    let provider = &policy["providers"][0];
    assert_eq!(issuer["issuer"].as_str(), provider["issuer"].as_str());
    let audiences: Vec<&str> = issuer["audience"]
        .as_array()
        .expect("audience list")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(provider["audiences"]
        .as_array()
        .expect("audiences")
        .iter()
        .any(|a| a.as_str().is_some_and(|a| audiences.contains(&a))));
    assert_eq!(issuer["listen"].as_str(), Some("0.0.0.0:9000"));
}

#[test]
fn istio_plugin_config_is_the_demo_policy_with_istio_cluster_names() {
    let docs = yaml_docs("envoy/istio/wasmplugin.yaml");
    let plugin = docs
        .iter()
        .find(|d| d["kind"] == "WasmPlugin")
        .expect("a WasmPlugin");
    // The image scripts/package-oci pushes: tenantgate/tenantgate at the workspace's version.
    assert_eq!(
        plugin["spec"]["url"],
        format!(
            "oci://registry.example.com/tenantgate/tenantgate:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(plugin["spec"]["phase"], "AUTHN");
    assert_eq!(plugin["spec"]["failStrategy"], "FAIL_CLOSE");
    let config = plugin["spec"]["pluginConfig"].clone();
    assert_accepted("the WasmPlugin's pluginConfig", &config);

    // Only where the JWKS is fetched from may differ: Istio names clusters after ServiceEntries.
    let mut normalized = config.clone();
    let mut expected = demo_policy();
    for policy in [&mut normalized, &mut expected] {
        let remote = &mut policy["providers"][0]["jwks"]["remote"];
        remote["cluster"] = Value::Null;
        remote["uri"] = Value::Null;
    }
    assert_eq!(
        normalized, expected,
        "the Istio pluginConfig drifted from envoy/tenantgate.json"
    );

    let cluster = config["providers"][0]["jwks"]["remote"]["cluster"]
        .as_str()
        .expect("cluster");
    let entries = yaml_docs("envoy/istio/serviceentry.yaml");
    let entry = entries
        .iter()
        .find(|d| d["kind"] == "ServiceEntry")
        .expect("a ServiceEntry");
    let host = entry["spec"]["hosts"][0].as_str().expect("host");
    let port = entry["spec"]["ports"][0]["number"].as_u64().expect("port");
    assert_eq!(cluster, format!("outbound|{port}||{host}"));
    assert!(entries
        .iter()
        .any(|d| d["kind"] == "DestinationRule" && d["spec"]["host"] == host));
}

/// The base images the container tests make offline (scripts/lib/stand-in-images, checked by the
/// tests' harness) are the ones the shipped Dockerfile and compose file name, the compiling
/// stage aside (its image is never built where no registry is reachable).
#[test]
fn stand_in_images_are_the_shipped_base_images() {
    let dockerfile = read("envoy/Dockerfile");
    let mut named: Vec<String> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter(|from| !from.ends_with(" AS source"))
        .filter_map(|from| from.split_whitespace().next())
        .filter(|image| image.starts_with("docker.io/"))
        .map(str::to_string)
        .collect();
    let compose = yaml_docs("envoy/docker-compose.yaml").remove(0);
    for service in compose["services"].as_object().expect("services").values() {
        if service.get("build").is_none() {
            named.push(service["image"].as_str().expect("image").to_string());
        }
    }
    named.sort();
    named.dedup();
    let mut stand_ins = tenantgate_testkit::podman::BASE_IMAGES
        .map(str::to_string)
        .to_vec();
    stand_ins.sort();
    assert_eq!(named, stand_ins);
    let script = read("scripts/lib/stand-in-images");
    for image in &named {
        assert!(script.contains(image), "stand-in-images makes {image}");
    }
}
