//! podman, podman-compose and an image registry on loopback, for the tests of the shipped
//! container files (`envoy/Dockerfile`, `envoy/docker-compose.yaml`, `scripts/package-oci`).
//!
//! `scripts/setup` installs the tools and makes, offline, the base images those files name
//! (`scripts/lib/stand-in-images`): no image registry is reachable where the tests run. A missing
//! tool or base image fails the test under CI and skips it with a notice otherwise; where podman
//! is installed but cannot run a container at all, the test is skipped with a loud notice.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::http::Req;
use crate::process::ChildGuard;

/// The base images the shipped Dockerfile and compose file name.
pub const BASE_IMAGES: [&str; 3] = [
    "docker.io/library/debian:bookworm-slim",
    "docker.io/library/python:3.12-slim",
    "docker.io/envoyproxy/envoy:v1.40-latest",
];

/// Runs a command to its end; its output whatever the status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; its standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `podman ARGS`.
pub fn podman(args: &[&str]) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(args);
    cmd
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the container tests can run here with `tools`; says why not otherwise.
pub fn usable(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        let what = format!(
            "{} not installed (scripts/setup installs them)",
            missing.join(", ")
        );
        assert!(!in_ci(), "{what}; under CI the container tests must run");
        eprintln!("notice: {what}; skipping this container test");
        return false;
    }
    let info = output(&mut podman(&["info"]));
    if !info.status.success() {
        cannot_run(&info);
        return false;
    }
    let absent: Vec<&str> = BASE_IMAGES
        .into_iter()
        .filter(|image| {
            !output(&mut podman(&["image", "exists", image]))
                .status
                .success()
        })
        .collect();
    if !absent.is_empty() {
        let what = format!(
            "base images {} are missing (scripts/setup makes them)",
            absent.join(", ")
        );
        assert!(!in_ci(), "{what}; under CI the container tests must run");
        eprintln!("notice: {what}; skipping this container test");
        return false;
    }
    let probe = output(&mut podman(&[
        "run",
        "--rm",
        "--network=none",
        BASE_IMAGES[0],
        "true",
    ]));
    if !probe.status.success() {
        cannot_run(&probe);
        return false;
    }
    true
}

fn cannot_run(out: &Output) {
    eprintln!(
        "\n********************************************************************\n\
         SKIPPED: podman cannot run a container on this machine:\n{}\n\
         ********************************************************************\n",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Debian's `docker-registry` (the CNCF distribution registry) on a free loopback port, storing
/// into `dir` and logging to `dir/registry.log` (its 404s on pushes are routine); stopped when
/// dropped.
pub struct Registry {
    pub addr: SocketAddr,
    _process: ChildGuard,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{ level: warn }}\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-only\n",
                dir.join("data").display()
            ),
        )
        .expect("write the registry's configuration");
        let log = std::fs::File::create(dir.join("registry.log")).expect("create the registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _process: ChildGuard::new("docker-registry", child),
        };
        let up = crate::wait_until(std::time::Duration::from_secs(30), || {
            Req::get("registry", "/v2/")
                .try_send(registry.addr)
                .is_ok_and(|r| r.status == 200)
        });
        assert!(up, "docker-registry did not come up on {}", registry.addr);
        registry
    }
}
