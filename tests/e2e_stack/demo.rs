//! `scripts/demo` run as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use super::*;

/// A loopback port nothing listens on (released at once; the demo binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The demo's process group: whatever happens, the test leaves nothing running.
struct DemoGroup(u32);

impl DemoGroup {
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for DemoGroup {
    fn drop(&mut self) {
        self.signal("-KILL");
    }
}

/// `scripts/demo` as a user runs it (without the install and build, done by the test script):
/// it comes up, a request goes through, and Ctrl-C stops everything it started.
#[test]
fn the_demo_comes_up_serves_and_stops_cleanly() {
    use std::os::unix::process::CommandExt;

    let Some(artifacts) = support::artifacts() else {
        return;
    };
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut demo = Command::new("bash")
        .arg(format!("{root}/scripts/demo"))
        .env("DEMO_SKIP_SETUP", "1")
        .env("TENANTGATE_WASM", &artifacts.wasm)
        .env("TENANTGATE_ENVOY", &artifacts.envoy)
        .env("TENANTGATE_ISSUER", issuer_support::binary())
        .env("GATEWAY_PORT", ports[0].to_string())
        .env("ADMIN_PORT", ports[1].to_string())
        .env("ISSUER_PORT", ports[2].to_string())
        .env("APP_PORT", ports[3].to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("start scripts/demo");
    let group = DemoGroup(demo.id());
    let stdout = demo.stdout.take().expect("demo stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !output.contains("The stack is up") {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
            }
            Err(_) => panic!("the demo did not come up; it printed:\n{output}"),
        }
    }
    // Its walkthrough showed what a user should see.
    for expected in [
        "\"tenant\": \"acme\"",
        "\"error\":\"tenant_mismatch\"",
        "\"error\":\"role_required\"",
        "\"error\":\"token_missing\"",
        "\"error\":\"token_theft_detected\"",
    ] {
        assert!(
            output.contains(expected),
            "the walkthrough lacks {expected}:\n{output}"
        );
    }

    // One request of our own through the running gateway.
    let gateway = std::net::SocketAddr::from(([127, 0, 0, 1], ports[0]));
    let r = Req::get("globex.demo.local", "/healthz").send(gateway);
    assert_eq!(r.status, 200, "{}", r.summary());

    // Ctrl-C: everything stops, and the script says so.
    group.signal("-INT");
    let stopped_by = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = demo.try_wait().expect("wait for the demo") {
            break status;
        }
        assert!(
            Instant::now() < stopped_by,
            "the demo did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    while let Ok(line) = received.recv_timeout(Duration::from_secs(2)) {
        output.push_str(&line);
        output.push('\n');
    }
    assert!(output.contains("demo: stopped"), "{output}");
    assert_eq!(status.code(), Some(130), "Ctrl-C exit status");
    for port in &ports {
        assert!(
            !listening(*port),
            "port {port} still has a listener after the demo stopped"
        );
    }
}
