//! `scripts/package-oci` for real: it pushes the filter, as the OCI image Istio's `WasmPlugin`
//! pulls, to a registry on loopback; the test pulls it back the way Istio's fetcher does (the
//! registry's HTTP API: manifest, then the layer), extracts `plugin.wasm`, checks that it is the
//! built module byte for byte, and runs it in Envoy.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use tenantgate_testkit as support;

use support::keys::{self, claims};
use support::podman::{self, Registry};
use support::{EchoUpstream, EnvoyBuilder, JwksServer, Req, TestKey};

const ISSUER: &str = "https://issuer.oci.test";
const AUDIENCE: &str = "api";

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The repository path and tag of the image `envoy/istio/wasmplugin.yaml` names.
fn wasmplugin_image() -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("envoy/istio/wasmplugin.yaml");
    let text = std::fs::read_to_string(&path).expect("read wasmplugin.yaml");
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("url: "))
        .expect("the WasmPlugin has a url");
    let reference = url.strip_prefix("oci://").expect("an oci:// url");
    let (_registry, rest) = reference.split_once('/').expect("registry/repository:tag");
    let (repository, tag) = rest.rsplit_once(':').expect("a tag");
    (repository.to_string(), tag.to_string())
}

fn registry_get(registry: SocketAddr, path: &str, accept: &str) -> Vec<u8> {
    let r = Req::get(&registry.to_string(), path)
        .header("Accept", accept)
        .send(registry);
    assert_eq!(r.status, 200, "GET {path}: {}", r.summary());
    r.body
}

/// The image's manifest and its one layer, checked against Istio's "compat" variant.
fn pull_layer(registry: SocketAddr, repository: &str, reference: &str) -> Vec<u8> {
    let manifest = registry_get(
        registry,
        &format!("/v2/{repository}/manifests/{reference}"),
        "application/vnd.oci.image.manifest.v1+json",
    );
    if reference.starts_with("sha256:") {
        // What the WasmPlugin's `sha256` pin is compared with.
        assert_eq!(format!("sha256:{}", sha256_hex(&manifest)), reference);
    }
    let manifest: Value = serde_json::from_slice(&manifest).expect("the manifest is JSON");
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{manifest}"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"], "compat",
        "{manifest}"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "exactly one layer: {manifest}");
    assert_eq!(
        layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "{manifest}"
    );
    let digest = layers[0]["digest"].as_str().expect("layer digest");
    let blob = registry_get(registry, &format!("/v2/{repository}/blobs/{digest}"), "*/*");
    assert_eq!(
        format!("sha256:{}", sha256_hex(&blob)),
        digest,
        "the layer's content matches its digest"
    );
    blob
}

/// `plugin.wasm` out of the layer (a gzip'd tar), as Istio extracts it.
fn extract_plugin(layer: &[u8], dir: &Path) -> std::path::PathBuf {
    let tarball = dir.join("layer.tar.gz");
    std::fs::write(&tarball, layer).expect("write the layer");
    let listing = podman::run_ok(Command::new("tar").arg("-tzf").arg(&tarball));
    assert_eq!(
        listing
            .lines()
            .map(|l| l.trim_start_matches("./"))
            .collect::<Vec<_>>(),
        ["plugin.wasm"],
        "the layer holds plugin.wasm alone"
    );
    let out = dir.join("extracted");
    std::fs::create_dir(&out).expect("mkdir");
    podman::run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&out),
    );
    out.join("plugin.wasm")
}

fn policy(jwks_cluster: &str) -> Value {
    json!({
        "realm": "tenantgate-oci",
        "providers": [{
            "name": "main",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "jwks": {"remote": {"cluster": jwks_cluster, "uri": "http://jwks.oci.test/keys", "timeout_ms": 1000}}
        }],
        "tenants": {"acme": {}},
        "host_templates": ["{tenant}.oci.test"],
        "routes": [{"path": {"prefix": "/api"}, "require": "authenticated"}],
        "default_requirement": "deny"
    })
}

#[test]
fn package_oci_pushes_an_image_istio_pulls_and_envoy_runs() {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    if !podman::usable(&["podman", "docker-registry", "tar"]) {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::start(dir.path());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package-oci");
    let pushed = podman::run_ok(
        Command::new("bash")
            .arg(&script)
            .arg(registry.addr.to_string())
            .env("TENANTGATE_WASM", &artifacts.wasm),
    );
    let pushed = pushed.trim();

    // The WasmPlugin names the image the script pushed (its registry aside).
    let (repository, tag) = wasmplugin_image();
    let (name, digest) = pushed.split_once('@').expect("REF@DIGEST on stdout");
    assert_eq!(name, format!("{}/{repository}:{tag}", registry.addr));

    // Pulled by tag and by the digest the script printed: the same module, byte for byte.
    let built = std::fs::read(&artifacts.wasm).expect("read the built module");
    for reference in [tag.as_str(), digest] {
        let layer = pull_layer(registry.addr, &repository, reference);
        let sub = dir.path().join(reference.replace(':', "-"));
        std::fs::create_dir(&sub).expect("mkdir");
        let module = extract_plugin(&layer, &sub);
        let pulled = std::fs::read(&module).expect("read plugin.wasm");
        assert_eq!(
            sha256_hex(&pulled),
            sha256_hex(&built),
            "plugin.wasm is the built module"
        );
    }

    // The pulled module, run in Envoy, decides requests.
    let module = dir
        .path()
        .join(tag.replace(':', "-"))
        .join("extracted/plugin.wasm");
    let key = TestKey::a("oci-1");
    let jwks = JwksServer::serving(&keys::jwks(&[&key]), 300);
    let echo = EchoUpstream::start();
    let envoy = EnvoyBuilder::new(&artifacts.envoy)
        .filter(&module, &policy("jwks"))
        .upstream(echo.port())
        .cluster("jwks", jwks.port())
        .start();
    let token = key.sign(&claims(ISSUER, AUDIENCE, "acme", "alice", &["member"]));
    let id = support::request_id();
    let allowed = envoy.send(
        &Req::get("acme.oci.test", "/api/x")
            .bearer(&token)
            .header("x-request-id", &id),
    );
    assert_eq!(allowed.status, 200, "{}", allowed.summary());
    let seen = echo
        .find(&id)
        .expect("the allowed request reached the upstream");
    assert_eq!(seen.header("x-tenant-id"), Some("acme"));
    let refused = envoy.send(&Req::get("acme.oci.test", "/api/x"));
    assert_eq!(refused.status, 401, "{}", refused.summary());
    assert_eq!(refused.error_code().as_deref(), Some("token_missing"));
}
