//! Key custodies outside the issuer, real and on loopback: moto's AWS KMS server (`moto[server]`
//! in `.venv`) and a SoftHSM2 token initialised in a temporary directory. Both come from
//! `scripts/setup`; when missing, the tests that need them fail under `CI=true` and are skipped
//! with a notice otherwise. Each handle stops what it started when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::ChildGuard;
use crate::{missing, repo_root, wait_until};

/// The credentials the issuer is given for moto (which accepts any).
pub const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

/// A moto server (AWS KMS among others) on a free loopback port.
pub struct Moto {
    _process: ChildGuard,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Moto {
    /// Starts `moto_server`, or `None` to skip (never under CI).
    pub fn start() -> Option<Moto> {
        let binary = repo_root().join(".venv/bin/moto_server");
        if !binary.is_file() {
            missing("moto_server (moto[server] in .venv from scripts/setup)");
            return None;
        }
        // The port is chosen before moto binds it: another process may take it first, so retry.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut process = ChildGuard::new("moto_server", child);
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let up = wait_until(Duration::from_secs(60), || {
                process.try_wait().is_some()
                    || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            });
            if up && process.try_wait().is_none() {
                return Some(Moto {
                    _process: process,
                    port,
                });
            }
        }
        panic!("moto_server did not start on a free port");
    }

    /// `http://127.0.0.1:<port>`, the KMS endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A SoftHSM2 token in a temporary directory, initialised with a user PIN.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    pub module: PathBuf,
    pub label: String,
}

const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];
const PIN: &str = "246810";

impl SoftHsm {
    /// Initialises a token, or `None` to skip (never under CI).
    pub fn init() -> Option<SoftHsm> {
        let module = MODULES.iter().map(PathBuf::from).find(|p| p.is_file());
        let util = Command::new("softhsm2-util").arg("--version").output();
        let (Some(module), Ok(_)) = (module, util) else {
            missing("SoftHSM2 (the softhsm2 package, from scripts/setup)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        let hsm = SoftHsm {
            dir,
            module,
            label: "tenantgate-test".into(),
        };
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &hsm.label])
            .args(["--so-pin", "13579135", "--pin", PIN])
            .env("SOFTHSM2_CONF", hsm.conf())
            .output()
            .expect("softhsm2-util");
        assert!(out.status.success(), "softhsm2-util --init-token: {out:?}");
        let pin = hsm.pin_file();
        std::fs::write(&pin, PIN).expect("pin file");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        Some(hsm)
    }

    /// The `SOFTHSM2_CONF` every process using the token needs.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub fn pin_file(&self) -> PathBuf {
        self.dir.path().join("user-pin")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
