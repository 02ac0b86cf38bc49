//! The shipped docker-compose stack for real: `envoy/docker-compose.yaml` and `envoy/Dockerfile`,
//! unchanged, built and run by podman-compose (Docker Compose's stand-in where only Debian's
//! podman is at hand) with the images taking scripts/build's binaries
//! (`TENANTGATE_ARTIFACTS=prebuilt`: nothing inside a container build can reach a registry here).
//! A user signs in through the issuer's published port and calls the gateway as the demo does;
//! the issuer's container restarts and its sessions survive (its volume); the stack comes down
//! leaving no container, volume, network or image the test made.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tenantgate_testkit as support;

use support::issuer as issuer_support;
use support::podman::{self, output, podman, run_ok};
use support::{Req, Resp};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The issuer scripts/build made beside the filter (`target/release`), else the test build's.
fn issuer_binary(wasm: &Path) -> PathBuf {
    match wasm.ancestors().nth(3) {
        Some(target) if target.join("release/tenantgate-issuer").is_file() => {
            target.join("release/tenantgate-issuer")
        }
        _ => issuer_support::binary(),
    }
}

/// A build context as a clone with scripts/build's output has it: `envoy/`, `.dockerignore`,
/// and the two artifacts where the Dockerfile's `prebuilt` stage takes them.
fn build_context(dir: &Path, wasm: &Path, issuer: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(root.join("envoy"))
            .arg(root.join(".dockerignore"))
            .arg(dir),
    );
    for (from, to) in [
        (wasm, "target/tenantgate.wasm"),
        (issuer, "target/release/tenantgate-issuer"),
    ] {
        let to = dir.join(to);
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// One compose project; brought down, with everything it made, when dropped.
struct Stack {
    project: String,
    context: tempfile::TempDir,
    env: BTreeMap<&'static str, String>,
    images: Vec<String>,
    gateway: SocketAddr,
    issuer: SocketAddr,
    log: String,
}

impl Stack {
    fn new(wasm: &Path) -> Stack {
        let context = tempfile::tempdir().expect("temp dir");
        build_context(context.path(), wasm, &issuer_binary(wasm));
        let tag = format!("e2e-{}", std::process::id());
        let (gateway, admin, issuer) = (free_port(), free_port(), free_port());
        let env = BTreeMap::from([
            ("TENANTGATE_ARTIFACTS", "prebuilt".to_string()),
            ("TENANTGATE_TAG", tag.clone()),
            ("GATEWAY_PORT", gateway.to_string()),
            ("ADMIN_PORT", admin.to_string()),
            ("ISSUER_PORT", issuer.to_string()),
            // No intermediate images of the multi-stage build are kept.
            ("BUILDAH_LAYERS", "false".to_string()),
        ]);
        Stack {
            project: format!("tenantgate-e2e-{}", std::process::id()),
            context,
            env,
            images: ["issuer", "envoy"]
                .map(|i| format!("localhost/tenantgate-{i}:{tag}"))
                .to_vec(),
            gateway: loopback(gateway),
            issuer: loopback(issuer),
            log: String::new(),
        }
    }

    /// `podman-compose -p PROJECT ARGS` in `envoy/`, as a user runs `docker compose`.
    fn compose(&mut self, args: &[&str]) -> bool {
        let out = output(
            Command::new("podman-compose")
                .arg("-p")
                .arg(&self.project)
                .args(args)
                .current_dir(self.context.path().join("envoy"))
                .envs(&self.env),
        );
        self.log.push_str(&format!(
            "$ podman-compose {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        out.status.success()
    }

    fn label(&self) -> String {
        format!("label=io.podman.compose.project={}", self.project)
    }

    fn container(&self, service: &str) -> String {
        let names = run_ok(&mut podman(&[
            "ps",
            "-a",
            "--filter",
            &self.label(),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}}",
        ]));
        let name = names.lines().next().unwrap_or_default().to_string();
        assert!(!name.is_empty(), "no {service} container:\n{}", self.log);
        name
    }

    /// Runs the service's own health check (podman schedules them with systemd timers, which
    /// this machine lacks) until it passes.
    fn wait_healthy(&self, service: &str) {
        let name = self.container(service);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !output(&mut podman(&["healthcheck", "run", &name]))
            .status
            .success()
        {
            if Instant::now() > deadline {
                let logs = output(&mut podman(&["logs", &name]));
                panic!(
                    "{service} never became healthy; its log:\n{}{}\ncompose:\n{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr),
                    self.log
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// What the test made that still exists.
    fn leftovers(&self) -> Vec<String> {
        let label = self.label();
        let mut left = Vec::new();
        for kind in ["container", "volume", "network"] {
            let list = match kind {
                "container" => vec!["ps", "-a", "--filter", &label, "--format", "{{.Names}}"],
                _ => vec![kind, "ls", "--filter", &label, "--format", "{{.Name}}"],
            };
            let names = run_ok(&mut podman(&list));
            left.extend(names.lines().map(|n| format!("{kind} {n}")));
        }
        for image in &self.images {
            if output(&mut podman(&["image", "exists", image]))
                .status
                .success()
            {
                left.push(format!("image {image}"));
            }
        }
        left
    }

    /// `down -v`, then what podman-compose 1.0 leaves: the network and the built images.
    fn down(&mut self) -> bool {
        let ok = self.compose(&["down", "-v"]);
        let network = format!("{}_default", self.project);
        if output(&mut podman(&["network", "exists", &network]))
            .status
            .success()
        {
            let _ = output(&mut podman(&["network", "rm", &network]));
        }
        for image in self.images.clone() {
            let _ = output(&mut podman(&["image", "rm", "--force", &image]));
        }
        ok
    }
}

impl Drop for Stack {
    /// After a failure too: the containers go with their anonymous volumes (compose's `down`
    /// removes named ones only), then `down` removes the rest.
    fn drop(&mut self) {
        if self.leftovers().is_empty() {
            return;
        }
        let label = self.label();
        let names = run_ok(&mut podman(&[
            "ps",
            "-a",
            "--filter",
            &label,
            "--format",
            "{{.Names}}",
        ]));
        for name in names.lines() {
            let _ = output(&mut podman(&["rm", "--force", "--volumes", name]));
        }
        self.down();
    }
}

fn sign_in(issuer: SocketAddr, email: &str, password: &str) -> Value {
    let body = json!({"email": email, "password": password, "refresh_token_delivery": "body"});
    let r = issuer_post(issuer, "/v1/tenants/acme/sign-in", &body);
    assert_eq!(r.status, 200, "sign-in {email}: {}", r.summary());
    r.json()
}

fn issuer_post(issuer: SocketAddr, path: &str, body: &Value) -> Resp {
    Req::new("POST", &issuer.to_string(), path)
        .header("content-type", "application/json")
        .body(body.to_string().as_bytes())
        .send(issuer)
}

fn token(session: &Value, field: &str) -> String {
    session[field].as_str().expect(field).to_string()
}

/// The demo's walkthrough against the stack's gateway.
fn check_gateway(gateway: SocketAddr, alice: &str, bob: &str) {
    let call = |host: &str, path: &str, token: &str| {
        Req::get(host, path)
            .bearer(token)
            .header("x-tenant-id", "globex")
            .header("x-user-id", "mallory")
            .header("x-user-roles", "admin")
            .send(gateway)
    };
    // Allowed; the app sees the verified identity, not the spoofed headers.
    let r = call("acme.demo.local", "/api/whoami", bob);
    assert_eq!(r.status, 200, "{}", r.summary());
    let seen = r.json();
    assert_eq!(seen["tenant"], "acme", "{seen}");
    assert_eq!(seen["roles"], "member", "{seen}");
    assert_ne!(seen["user"], "mallory", "{seen}");
    assert_eq!(seen["authorization_forwarded"], false, "{seen}");
    // Cross-tenant: acme's token on globex's host.
    let r = call("globex.demo.local", "/api/whoami", alice);
    assert_eq!(r.status, 403, "{}", r.summary());
    assert_eq!(r.error_code().as_deref(), Some("tenant_mismatch"));
    // Missing role: bob is a member, the spoofed admin role counts for nothing.
    let r = call("acme.demo.local", "/api/admin/users", bob);
    assert_eq!(r.status, 403, "{}", r.summary());
    assert_eq!(r.error_code().as_deref(), Some("role_required"));
    let r = call("acme.demo.local", "/api/admin/users", alice);
    assert_eq!(r.status, 200, "{}", r.summary());
    // No token.
    let r = Req::get("acme.demo.local", "/api/whoami").send(gateway);
    assert_eq!(r.status, 401, "{}", r.summary());
    assert_eq!(r.error_code().as_deref(), Some("token_missing"));
}

#[test]
fn the_compose_stack_comes_up_serves_keeps_sessions_and_goes_away() {
    let Some(artifacts) = support::artifacts() else {
        return;
    };
    if !podman::usable(&["podman", "podman-compose"]) {
        return;
    }
    let mut stack = Stack::new(&artifacts.wasm);
    let up = stack.compose(&["up", "-d", "--build"]);
    assert!(up, "podman-compose up failed:\n{}", stack.log);
    for service in ["issuer", "app", "envoy"] {
        stack.wait_healthy(service);
    }

    let alice = sign_in(stack.issuer, "alice@acme.example", "alice-demo-password");
    let bob = sign_in(stack.issuer, "bob@acme.example", "bob-demo-password");
    check_gateway(
        stack.gateway,
        &token(&alice, "access_token"),
        &token(&bob, "access_token"),
    );

    // The issuer's container restarts, then is replaced by a new one: users, keys and sessions
    // are on its named volume, so each refresh token still works (and rotates).
    let mut session = alice;
    for step in ["restart", "recreate"] {
        let issuer = stack.container("issuer");
        if step == "restart" {
            run_ok(&mut podman(&["restart", &issuer]));
        } else {
            run_ok(&mut podman(&["rm", "--force", "--volumes", &issuer]));
            let up = stack.compose(&["up", "-d"]);
            assert!(up, "podman-compose up (again) failed:\n{}", stack.log);
        }
        stack.wait_healthy("issuer");
        let refresh = json!({"refresh_token": token(&session, "refresh_token")});
        let r = issuer_post(stack.issuer, "/v1/tenants/acme/refresh", &refresh);
        assert_eq!(
            r.status,
            200,
            "alice's session after the {step}: {}",
            r.summary()
        );
        session = r.json();
        check_gateway(
            stack.gateway,
            &token(&session, "access_token"),
            &token(&bob, "access_token"),
        );
    }

    // Every service stops on the stop signal itself (exit status 0), not on the SIGKILL that
    // follows the grace period (137): that is what keeps `down` quick.
    let stop = stack.compose(&["stop"]);
    assert!(stop, "podman-compose stop failed:\n{}", stack.log);
    for service in ["issuer", "app", "envoy"] {
        let name = stack.container(service);
        let status = run_ok(&mut podman(&[
            "inspect",
            "--format",
            "{{.State.ExitCode}}",
            &name,
        ]));
        assert_eq!(status.trim(), "0", "{service} did not stop on SIGTERM");
    }
    let started = Instant::now();
    let down = stack.down();
    eprintln!("compose down took {:?}", started.elapsed());
    assert!(down, "podman-compose down failed:\n{}", stack.log);
    let left = stack.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", stack.log);
}
