//! Envoy for the end-to-end tests: a bootstrap built in code (one loopback listener with the
//! tenantgate wasm filter or none, a route to the `upstream` cluster, any number of other
//! clusters), started on ports the OS picks, waited for until admin `/ready` says LIVE and the
//! listener accepts, and killed on drop.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{Req, Resp};
use super::process::ChildGuard;

/// The cluster every request is routed to.
pub const UPSTREAM_CLUSTER: &str = "upstream";

/// How long Envoy may take to come up (V8 compiles the module once per worker).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A configured, not yet started Envoy.
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    envoy: PathBuf,
    filter: Option<(PathBuf, String)>,
    clusters: Vec<(String, u16)>,
    /// Clusters spoken to in HTTP/2 (prior knowledge), such as a gRPC upstream.
    http2_clusters: Vec<String>,
    concurrency: u32,
    normalization: bool,
    log_level: String,
    /// The listener comes from a file Envoy watches (LDS), so the filter's configuration can be
    /// pushed as Istio pushes it ([`Envoy::push_filter_config`]).
    file_lds: bool,
}

/// Envoy refused to start, or did not become ready.
#[derive(Debug)]
pub struct StartFailure {
    /// The exit status if Envoy exited (`None`: it kept running but never became ready).
    pub status: Option<ExitStatus>,
    pub log: String,
}

impl EnvoyBuilder {
    pub fn new(envoy: &Path) -> EnvoyBuilder {
        EnvoyBuilder {
            envoy: envoy.to_path_buf(),
            filter: None,
            clusters: Vec::new(),
            http2_clusters: Vec::new(),
            concurrency: 1,
            normalization: true,
            log_level: "warn".into(),
            file_lds: false,
        }
    }

    /// Serve the listener through file-based LDS, so that [`Envoy::push_filter_config`] can
    /// replace the filter's configuration while Envoy runs.
    pub fn pushable(mut self) -> EnvoyBuilder {
        self.file_lds = true;
        self
    }

    /// The tenantgate filter from `wasm` with this JSON configuration.
    pub fn filter(self, wasm: &Path, config: &Value) -> EnvoyBuilder {
        self.filter_text(wasm, &config.to_string())
    }

    /// The filter with this configuration text, exactly (for invalid configurations).
    pub fn filter_text(mut self, wasm: &Path, config: &str) -> EnvoyBuilder {
        self.filter = Some((wasm.to_path_buf(), config.to_string()));
        self
    }

    /// The cluster requests are routed to.
    pub fn upstream(self, port: u16) -> EnvoyBuilder {
        self.cluster(UPSTREAM_CLUSTER, port)
    }

    /// A STATIC cluster `name` with one endpoint 127.0.0.1:`port` (for example the JWKS server
    /// named by `providers[].jwks.remote.cluster`).
    pub fn cluster(mut self, name: &str, port: u16) -> EnvoyBuilder {
        self.clusters.push((name.into(), port));
        self
    }

    /// Speak HTTP/2 to cluster `name` (a gRPC server).
    pub fn http2_cluster(mut self, name: &str) -> EnvoyBuilder {
        self.http2_clusters.push(name.into());
        self
    }

    /// Worker threads, each with its own wasm VM (default 1).
    pub fn concurrency(mut self, n: u32) -> EnvoyBuilder {
        self.concurrency = n;
        self
    }

    /// Envoy's own path handling. On (the default, as envoy/envoy.yaml): `normalize_path`,
    /// `merge_slashes` and escaped slashes rejected. Off: the path reaches the filter as sent.
    pub fn envoy_normalization(mut self, on: bool) -> EnvoyBuilder {
        self.normalization = on;
        self
    }

    pub fn log_level(mut self, level: &str) -> EnvoyBuilder {
        self.log_level = level.into();
        self
    }

    /// The bootstrap configuration (JSON, which Envoy reads as YAML).
    pub fn bootstrap(&self) -> Value {
        let mut http_filters = Vec::new();
        if let Some((wasm, config)) = &self.filter {
            http_filters.push(json!({
                "name": "envoy.filters.http.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": "tenantgate",
                        "root_id": "tenantgate",
                        "fail_open": false,
                        "vm_config": {
                            "vm_id": "tenantgate",
                            "runtime": "envoy.wasm.runtime.v8",
                            "code": { "local": { "filename": wasm.to_string_lossy() } }
                        },
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": config
                        }
                    }
                }
            }));
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            }
        }));
        let escaped_slashes = if self.normalization {
            "REJECT_REQUEST"
        } else {
            "KEEP_UNCHANGED"
        };
        let hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "gateway",
            "normalize_path": self.normalization,
            "merge_slashes": self.normalization,
            "path_with_escaped_slashes_action": escaped_slashes,
            "route_config": {
                "virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{ "match": { "prefix": "/" }, "route": { "cluster": UPSTREAM_CLUSTER } }]
                }]
            },
            "http_filters": http_filters
        });
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|(name, port)| {
                let mut cluster = json!({
                    "name": name,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": name,
                        "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                            "socket_address": { "address": "127.0.0.1", "port_value": port }
                        } } }] }]
                    }
                });
                if self.http2_clusters.contains(name) {
                    cluster["typed_extension_protocol_options"] = json!({
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": { "http2_protocol_options": {} }
                        }
                    });
                }
                cluster
            })
            .collect();
        json!({
            "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
            "static_resources": {
                "listeners": [{
                    "name": "gateway",
                    "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } },
                    "filter_chains": [{ "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm
                    }] }]
                }],
                "clusters": clusters
            }
        })
    }

    /// Starts Envoy and waits until it serves; panics with Envoy's log if it does not.
    pub fn start(self) -> Envoy {
        self.try_start()
            .unwrap_or_else(|f| panic!("Envoy did not start ({:?}); its log:\n{}", f.status, f.log))
    }

    /// Starts Envoy and waits until it serves, or until it exits or times out.
    pub fn try_start(self) -> Result<Envoy, StartFailure> {
        let dir = tempfile::Builder::new()
            .prefix("tenantgate-envoy")
            .tempdir()
            .expect("temporary directory");
        let config_path = dir.path().join("envoy.yaml");
        let admin_path = dir.path().join("admin-address");
        let log_path = dir.path().join("envoy.log");
        let mut bootstrap = self.bootstrap();
        let lds = self
            .file_lds
            .then(|| Lds::move_listener(&mut bootstrap, dir.path()));
        std::fs::write(
            &config_path,
            serde_json::to_string_pretty(&bootstrap).expect("bootstrap JSON"),
        )
        .expect("write the Envoy config");
        let log = std::fs::File::create(&log_path).expect("Envoy log file");
        let child = Command::new(&self.envoy)
            .arg("-c")
            .arg(&config_path)
            .args(["--concurrency", &self.concurrency.to_string()])
            // No hot-restart shared memory: Envoys of parallel tests need no distinct --base-id.
            .arg("--disable-hot-restart")
            .args(["--log-level", &self.log_level])
            .arg("--admin-address-path")
            .arg(&admin_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.envoy.display()));
        let mut envoy = Envoy {
            process: ChildGuard::new("envoy", child),
            admin: None,
            listener: None,
            log_path,
            lds,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = envoy.process.try_wait() {
                return Err(StartFailure {
                    status: Some(status),
                    log: envoy.log(),
                });
            }
            if Instant::now() > deadline {
                envoy.process.stop();
                return Err(StartFailure {
                    status: None,
                    log: envoy.log(),
                });
            }
            if envoy.poll_ready(&admin_path) {
                return Ok(envoy);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running Envoy; killed when dropped (its log is printed if the test is failing).
pub struct Envoy {
    process: ChildGuard,
    admin: Option<SocketAddr>,
    listener: Option<SocketAddr>,
    log_path: PathBuf,
    lds: Option<Lds>,
    _dir: tempfile::TempDir,
}

/// The listener served through file-based LDS: the file, the listener as first written, and the
/// version of the last push.
struct Lds {
    path: PathBuf,
    listener: Value,
    version: AtomicU64,
}

impl Lds {
    /// Moves the bootstrap's listener into an LDS file in `dir`, on a port picked now (an
    /// in-place update keeps the listener's socket only when its address does not change).
    fn move_listener(bootstrap: &mut Value, dir: &Path) -> Lds {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut listener = bootstrap["static_resources"]["listeners"][0].take();
        listener["address"]["socket_address"]["port_value"] = json!(port);
        listener["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
        bootstrap["static_resources"]["listeners"] = json!([]);
        let lds = Lds {
            path: dir.join("lds.yaml"),
            listener,
            version: AtomicU64::new(1),
        };
        lds.write(&lds.listener, 1);
        // Envoy requires a node identity for any dynamic resource.
        bootstrap["node"] = json!({ "id": "tenantgate-e2e", "cluster": "tenantgate-e2e" });
        bootstrap["dynamic_resources"] = json!({
            "lds_config": {
                "path_config_source": {
                    "path": lds.path.to_string_lossy(),
                    "watched_directory": { "path": dir.to_string_lossy() }
                },
                "resource_api_version": "V3"
            }
        });
        lds
    }

    /// Replaces the file in one rename, as Envoy's file watch expects.
    fn write(&self, listener: &Value, version: u64) {
        let response = json!({ "version_info": version.to_string(), "resources": [listener] });
        let staged = self.path.with_extension("staged");
        std::fs::write(&staged, response.to_string()).expect("write the LDS file");
        std::fs::rename(&staged, &self.path).expect("move the LDS file into place");
    }
}

impl Envoy {
    /// One step of waiting for readiness: admin address known, `/ready` LIVE, listener bound
    /// and accepting.
    fn poll_ready(&mut self, admin_path: &Path) -> bool {
        if self.admin.is_none() {
            let Ok(text) = std::fs::read_to_string(admin_path) else {
                return false;
            };
            let Ok(addr) = text.trim().parse() else {
                return false;
            };
            self.admin = Some(addr);
        }
        let Some(admin) = self.admin else {
            return false;
        };
        let ready = Req::get("127.0.0.1", "/ready").try_send(admin);
        if !ready.is_ok_and(|r| r.status == 200 && r.text().trim() == "LIVE") {
            return false;
        }
        if self.listener.is_none() {
            let Ok(listeners) = Req::get("127.0.0.1", "/listeners?format=json").try_send(admin)
            else {
                return false;
            };
            let Ok(value) = serde_json::from_slice::<Value>(&listeners.body) else {
                return false;
            };
            let socket = &value["listener_statuses"][0]["local_address"]["socket_address"];
            let (Some(ip), Some(port)) =
                (socket["address"].as_str(), socket["port_value"].as_u64())
            else {
                return false;
            };
            let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>() else {
                return false;
            };
            if addr.port() == 0 {
                return false;
            }
            self.listener = Some(addr);
        }
        self.listener
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
    }

    /// The gateway listener.
    pub fn addr(&self) -> SocketAddr {
        self.listener.expect("Envoy is ready")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.expect("Envoy is ready")
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Sends a request to the gateway.
    pub fn send(&self, req: &Req) -> Resp {
        req.send(self.addr())
    }

    /// GET on the admin interface.
    pub fn admin(&self, path: &str) -> Resp {
        Req::get("127.0.0.1", path).send(self.admin_addr())
    }

    /// Every counter and gauge of admin `/stats`, by name, once the filter's counters have
    /// settled: tenantgate hands its request counters to Envoy on its 100 ms tick, so the
    /// `wasmcustom.` stats are read until two reads more than a tick apart agree (at most 5 s).
    pub fn stats(&self) -> std::collections::BTreeMap<String, u64> {
        const APART: Duration = Duration::from_millis(300);
        const AT_MOST: Duration = Duration::from_secs(5);
        let wasm = |stats: &std::collections::BTreeMap<String, u64>| {
            let custom = stats.iter().filter(|(k, _)| k.starts_with("wasmcustom."));
            custom.map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()
        };
        let deadline = Instant::now() + AT_MOST;
        let mut last = self.stats_now();
        loop {
            std::thread::sleep(APART);
            let now = self.stats_now();
            if wasm(&now) == wasm(&last) || Instant::now() >= deadline {
                return now;
            }
            last = now;
        }
    }

    /// Every counter and gauge of admin `/stats` as Envoy shows them at this moment.
    pub fn stats_now(&self) -> std::collections::BTreeMap<String, u64> {
        self.admin("/stats")
            .text()
            .lines()
            .filter_map(|line| line.split_once(": "))
            .filter_map(|(name, value)| Some((name.to_string(), value.trim().parse().ok()?)))
            .collect()
    }

    /// One stat's value; `None` when Envoy does not show it.
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.stats().get(name).copied()
    }

    /// A stat defined by the wasm module, such as `tenantgate.requests.allowed`. Envoy's
    /// `/stats` lists those under its `wasmcustom.` namespace (`/stats/prometheus` drops it).
    pub fn wasm_stat(&self, name: &str) -> Option<u64> {
        self.stat(&format!("wasmcustom.{name}"))
    }

    /// Pushes a new filter configuration through LDS (Envoy built with
    /// [`EnvoyBuilder::pushable`]) and waits until Envoy accepted it; the new listener may
    /// still be warming, so poll for the new policy to apply.
    pub fn push_filter_config(&self, config: &Value) {
        let lds = self.lds.as_ref().expect("Envoy built with pushable()");
        let mut listener = lds.listener.clone();
        let value = listener
            .pointer_mut(
                "/filter_chains/0/filters/0/typed_config/http_filters/0/typed_config/config/configuration/value",
            )
            .expect("the listener has the tenantgate filter");
        *value = json!(config.to_string());
        let accepted = |s: &Self| s.stat("listener_manager.lds.update_success").unwrap_or(0);
        let before = accepted(self);
        let version = lds.version.fetch_add(1, Ordering::SeqCst) + 1;
        lds.write(&listener, version);
        let deadline = Instant::now() + START_TIMEOUT;
        while accepted(self) <= before {
            let rejected = self
                .stat("listener_manager.lds.update_rejected")
                .unwrap_or(0);
            assert!(
                rejected == 0 && Instant::now() < deadline,
                "Envoy did not accept the pushed configuration; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether Envoy is still running.
    pub fn running(&mut self) -> bool {
        self.process.try_wait().is_none()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.process.stop();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines.len().saturating_sub(80);
            eprintln!(
                "--- Envoy log (last lines) ---\n{}\n---",
                lines[tail..].join("\n")
            );
        }
    }
}
