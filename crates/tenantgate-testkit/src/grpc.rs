//! gRPC for the end-to-end tests, with grpcio from the `.venv` (`scripts/setup` installs it): a
//! Python upstream with one unary method that echoes and records each call's metadata, and a
//! Python client that makes calls through Envoy and reports their status. Both speak raw bytes,
//! so no code is generated.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::process::ChildGuard;
use super::{in_ci, repo_root};

/// The upstream's one method.
pub const ECHO_METHOD: &str = "/tenantgate.test.Echo/Call";

/// The `.venv` Python with grpcio, or `None` to skip (never under CI).
pub fn python() -> Option<PathBuf> {
    let python = repo_root().join(".venv/bin/python");
    let usable = Command::new(&python)
        .args(["-c", "import grpc"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    let what = "Python with grpcio (.venv from scripts/setup)";
    if in_ci() {
        panic!("{what} is missing; under CI the end-to-end tests must run");
    }
    eprintln!("notice: {what} is missing; skipping this end-to-end test");
    None
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/python")).join(name)
}

/// The Python gRPC upstream on 127.0.0.1; killed on drop.
pub struct GrpcUpstream {
    port: u16,
    calls: Arc<Mutex<Vec<Value>>>,
    _process: ChildGuard,
}

impl GrpcUpstream {
    pub fn start(python: &PathBuf) -> GrpcUpstream {
        let mut child = Command::new(python)
            .arg(script("grpc_upstream.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the gRPC upstream: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .expect("the gRPC upstream prints its port");
        let port = serde_json::from_str::<Value>(&first).expect("port line")["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("a port");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&calls);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(call) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("gRPC calls").push(call);
                }
            }
        });
        GrpcUpstream {
            port,
            calls,
            _process: ChildGuard::new("grpc upstream", child),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metadata of the call that carried `x-request-id: <id>`, if it reached the upstream.
    pub fn find(&self, request_id: &str) -> Option<Vec<(String, String)>> {
        // The upstream prints a call before answering it; allow the line a moment to arrive.
        for _ in 0..20 {
            let calls = self.calls.lock().expect("gRPC calls");
            let found = calls.iter().find_map(|call| {
                let metadata = metadata(&call["metadata"]);
                let hit = metadata
                    .iter()
                    .any(|(k, v)| k == "x-request-id" && v == request_id);
                hit.then_some(metadata)
            });
            if found.is_some() {
                return found;
            }
            drop(calls);
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }
}

fn metadata(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|pair| Some((pair[0].as_str()?.into(), pair[1].as_str()?.into())))
        .collect()
}

/// One unary call for [`call_all`].
#[derive(Debug, Clone)]
pub struct GrpcCall {
    pub authority: String,
    pub method: String,
    pub metadata: Vec<(String, String)>,
}

impl GrpcCall {
    /// A call of the echo method at `authority`.
    pub fn echo(authority: &str) -> GrpcCall {
        GrpcCall {
            authority: authority.into(),
            method: ECHO_METHOD.into(),
            metadata: Vec::new(),
        }
    }

    pub fn metadata(mut self, key: &str, value: &str) -> GrpcCall {
        self.metadata.push((key.into(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> GrpcCall {
        self.metadata("authorization", &format!("Bearer {token}"))
    }
}

/// What the client got for one call.
#[derive(Debug, Clone)]
pub struct GrpcResult {
    /// The status name, e.g. `OK`, `UNAUTHENTICATED`.
    pub code: String,
    pub code_value: u64,
    /// The decoded `grpc-message`.
    pub details: String,
    pub trailing: Vec<(String, String)>,
    /// The response message (the upstream's echo), when the call succeeded.
    pub response: Option<String>,
}

impl GrpcResult {
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailing
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Makes `calls` with the Python client against `target` (Envoy's listener), in order.
pub fn call_all(
    python: &PathBuf,
    target: std::net::SocketAddr,
    calls: &[GrpcCall],
) -> Vec<GrpcResult> {
    let spec = json!({
        "target": target.to_string(),
        "calls": calls.iter().map(|c| json!({
            "authority": c.authority,
            "method": c.method,
            "metadata": c.metadata.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(script("grpc_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the gRPC client: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("write the calls");
    let output = child.wait_with_output().expect("the gRPC client ends");
    assert!(
        output.status.success(),
        "the gRPC client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).expect("JSON results");
    results
        .as_array()
        .expect("a list of results")
        .iter()
        .map(|r| GrpcResult {
            code: r["code"].as_str().unwrap_or_default().into(),
            code_value: r["code_value"].as_u64().unwrap_or(u64::MAX),
            details: r["details"].as_str().unwrap_or_default().into(),
            trailing: metadata(&r["trailing"]),
            response: r["response"].as_str().map(str::to_string),
        })
        .collect()
}
