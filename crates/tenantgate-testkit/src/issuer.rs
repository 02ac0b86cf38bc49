//! Shared harness of the issuer integration tests: start the real `tenantgate-issuer` binary on a
//! free loopback port with a throwaway config, talk HTTP to it, run its CLI, read its audit log,
//! and verify its tokens with PyJWT (an independent implementation) against the served JWKS.
//!
//! Backends: SQLite always; PostgreSQL when `TENANTGATE_PG_URL` is set (start one with
//! `scripts/pg-test-server start`). Without it the PostgreSQL variants fail under `CI=true` and
//! are skipped with a notice otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::issuer_http as http;
pub use crate::resp::Resp;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "api";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres { url: String, schema: String },
}

/// The backend for a test variant, or `None` (with a printed notice) to skip it.
pub fn backend(kind: &str) -> Option<Backend> {
    match kind {
        "sqlite" => Some(Backend::Sqlite),
        "postgres" => match std::env::var("TENANTGATE_PG_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres {
                url,
                schema: format!("t_{}", unique()),
            }),
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("TENANTGATE_PG_URL is not set; under CI the PostgreSQL tests must run (eval \"$(scripts/pg-test-server start)\")");
                }
                eprintln!("notice: TENANTGATE_PG_URL is not set; skipping the PostgreSQL variant (start one with scripts/pg-test-server start)");
                None
            }
        },
        other => panic!("unknown backend {other}"),
    }
}

/// A lower-case unique suffix for schema names, tenants and emails.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}{:x}{}",
        std::process::id(),
        nanos % 0xffff_ffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings a test may change in the generated config.
#[derive(Debug, Clone)]
pub struct Options {
    pub backend: Backend,
    pub sealed_keys: bool,
    pub jwks_max_age: &'static str,
    pub publish_lead: &'static str,
    pub per_user_per_minute: u32,
    pub per_ip_per_minute: u32,
    pub overall_per_minute: u32,
    pub extra: String,
    /// A `[keys.kms]` or `[keys.pkcs11]` table instead of key files (or sealed keys).
    pub custody: Option<String>,
    /// Environment of the issuer's processes (serve and CLI): credentials, SOFTHSM2_CONF.
    pub env: Vec<(String, String)>,
}

impl Options {
    pub fn new(backend: Backend) -> Options {
        Options {
            backend,
            sealed_keys: false,
            jwks_max_age: "5m",
            publish_lead: "15m",
            per_user_per_minute: 1000,
            per_ip_per_minute: 10_000,
            overall_per_minute: 10_000,
            extra: String::new(),
            custody: None,
            env: Vec::new(),
        }
    }
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// A running issuer; killed (and waited for) on drop.
pub struct Issuer {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub addr: String,
    stderr_path: PathBuf,
    pub audit_path: PathBuf,
    starts: u32,
    env: Vec<(String, String)>,
}

/// The `tenantgate-issuer` binary: `TENANTGATE_ISSUER`, else the one cargo built beside the
/// running test (`target/<profile>/`), as it does for every test run that covers the issuer.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TENANTGATE_ISSUER").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("tenantgate-issuer")));
    match beside_tests {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "tenantgate-issuer is not built beside this test: run the tests with cargo test \
             --workspace, or set TENANTGATE_ISSUER"
        ),
    }
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

impl Issuer {
    pub fn start(opts: Options) -> Issuer {
        let dir = tempfile::tempdir().expect("temp dir");
        write_private(&dir.path().join("admin-token"), ADMIN_TOKEN);
        let database = match &opts.backend {
            Backend::Sqlite => "sqlite = \"state/issuer.db\"".to_string(),
            Backend::Postgres { url, schema } => {
                format!("postgres = \"{url}\"\nschema = \"{schema}\"\npool_size = 4")
            }
        };
        let keys = if opts.custody.is_some() {
            String::new()
        } else if opts.sealed_keys {
            write_private(
                &dir.path().join("kek"),
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            );
            "encryption_key_file = \"kek\"".to_string()
        } else {
            "dir = \"keys\"".to_string()
        };
        let config = format!(
            r#"listen = "127.0.0.1:0"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"

[database]
{database}

[keys]
{keys}
publish_lead = "{lead}"
max_token_ttl = "1h"

[jwks]
max_age = "{max_age}"

[admin]
token_file = "admin-token"

[rate_limit]
sign_in_per_user_per_minute = {per_user}
sign_in_per_ip_per_minute = {per_ip}
sign_in_overall_per_minute = {overall}

[audit]
path = "audit.log"
{extra}
{custody}
"#,
            lead = opts.publish_lead,
            max_age = opts.jwks_max_age,
            per_user = opts.per_user_per_minute,
            per_ip = opts.per_ip_per_minute,
            overall = opts.overall_per_minute,
            extra = opts.extra,
            custody = opts.custody.as_deref().unwrap_or_default(),
        );
        Issuer::launch(dir, &config, opts.env)
    }

    /// A second process on the same database and keys (own port, audit log and stderr), as a
    /// replica behind a load balancer would be. Meaningful on PostgreSQL; on SQLite the file is
    /// meant for one process at a time.
    pub fn replica(&self) -> Issuer {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = |name: &str| self.dir.path().join(name).display().to_string();
        let config = std::fs::read_to_string(&self.config)
            .expect("read config")
            .replace("dir = \"keys\"", &format!("dir = \"{}\"", shared("keys")))
            .replace(
                "encryption_key_file = \"kek\"",
                &format!("encryption_key_file = \"{}\"", shared("kek")),
            )
            .replace(
                "token_file = \"admin-token\"",
                &format!("token_file = \"{}\"", shared("admin-token")),
            )
            .replace(
                "sqlite = \"state/issuer.db\"",
                &format!("sqlite = \"{}\"", shared("state/issuer.db")),
            );
        Issuer::launch(dir, &config, self.env.clone())
    }

    fn launch(dir: tempfile::TempDir, config: &str, env: Vec<(String, String)>) -> Issuer {
        let config_path = dir.path().join("issuer.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut issuer = Issuer {
            child: None,
            stderr_path: dir.path().join("stderr.log"),
            audit_path: dir.path().join("audit.log"),
            config: config_path,
            dir,
            addr: String::new(),
            starts: 0,
            env,
        };
        issuer.spawn();
        issuer
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let stderr_path = self.dir.path().join(format!("stderr.{}.log", self.starts));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start tenantgate-issuer");
        self.child = Some(child);
        self.stderr_path = stderr_path;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(addr) = self.listening_addr() {
                self.addr = addr;
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("issuer exited with {status}: {}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "issuer did not start: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn listening_addr(&self) -> Option<String> {
        let f = std::fs::File::open(&self.stderr_path).ok()?;
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                let v: Value = serde_json::from_str(&line).ok()?;
                (v["msg"] == "listening")
                    .then(|| v["addr"].as_str().map(str::to_string))
                    .flatten()
            })
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops the process (SIGKILL: nothing may depend on a clean shutdown) and starts it again
    /// on the same config, database and keys.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id of the running issuer.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        http::request(&self.addr, method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let text = body.map(Value::to_string);
        let mut headers = vec![("authorization", auth.as_str())];
        if text.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.request(method, path, &headers, text.as_deref().map(str::as_bytes))
    }

    /// Runs a CLI command on this issuer's config.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cli_with_env(&self.config, args, stdin, &self.env)
    }

    /// The environment the issuer's processes get (for a `serve` a test starts itself).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Creates a tenant (admin API) with optional lifetimes.
    pub fn tenant(&self, id: &str, settings: Value) -> Value {
        let mut body = settings;
        body["id"] = id.into();
        let r = self.admin("POST", "/admin/tenants", Some(&body));
        assert_eq!(r.status, 201, "create tenant: {}", r.text());
        r.json()
    }

    /// Sets `tenant`'s login methods (`PATCH /admin/tenants/{tenant}/login-methods`).
    pub fn login_methods(&self, tenant: &str, body: &Value) {
        let r = self.admin(
            "PATCH",
            &format!("/admin/tenants/{tenant}/login-methods"),
            Some(body),
        );
        assert_eq!(r.status, 200, "set login methods: {}", r.text());
    }

    /// Defines `role` in the catalog (idempotent).
    pub fn role(&self, role: &str) {
        let r = self.admin(
            "PUT",
            &format!("/admin/roles/{role}"),
            Some(&serde_json::json!({"permissions": [format!("{role}:*")]})),
        );
        assert_eq!(r.status, 200, "define role: {}", r.text());
    }

    /// Adds a user (created with `password` if new) to a tenant and grants roles there.
    pub fn member(&self, tenant: &str, email: &str, password: Option<&str>, roles: &[&str]) {
        let mut body = serde_json::json!({"email": email});
        if let Some(p) = password {
            body["password"] = p.into();
        }
        let r = self.admin(
            "POST",
            &format!("/admin/tenants/{tenant}/users"),
            Some(&body),
        );
        assert!(r.status == 201 || r.status == 200, "add user: {}", r.text());
        for role in roles {
            self.role(role);
            let r = self.admin(
                "PUT",
                &format!("/admin/tenants/{tenant}/users/{email}/roles/{role}"),
                None,
            );
            assert_eq!(r.status, 200, "grant: {}", r.text());
        }
    }

    pub fn sign_in(&self, tenant: &str, email: &str, password: &str, delivery: &str) -> Resp {
        self.post_json(
            &format!("/v1/tenants/{tenant}/sign-in"),
            &serde_json::json!({"email": email, "password": password, "refresh_token_delivery": delivery}),
        )
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    cli_with_env(config, args, stdin, &[])
}

pub fn cli_with_env(
    config: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(String, String)],
) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tenantgate-issuer");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("stdin");
        }
    }
    child.wait_with_output().expect("wait")
}

/// The decoded JSON payload of a compact JWS (no verification: for inspecting claims).
pub fn payload(token: &str) -> Value {
    part(token, 1)
}

pub fn header(token: &str) -> Value {
    part(token, 0)
}

fn part(token: &str, i: usize) -> Value {
    use base64::Engine;
    let seg = token.split('.').nth(i).expect("JWS part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

const PYJWT_CHECK: &str = r#"
import base64, hashlib, json, sys
import jwt

jwks_url, token, audience, issuer = sys.argv[1:5]
client = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False)
signing_key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=audience, issuer=issuer,
                    options={"require": ["exp", "iat", "nbf", "iss", "sub", "aud", "jti"]})
kid = jwt.get_unverified_header(token)["kid"]
jwk = next(k for k in client.get_jwk_set().keys if k.key_id == kid)._jwk_data
canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
thumb = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
print(json.dumps({"claims": claims, "kid": kid, "thumbprint": thumb}))
"#;

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TENANTGATE_PYTHON") {
        return PathBuf::from(p);
    }
    crate::repo_root().join(".venv/bin/python")
}

/// Verifies `token` with PyJWT against the JWKS served at `jwks_url`; returns the claims. Also
/// checks, independently of the issuer's code, that `kid` is the RFC 7638 thumbprint.
pub fn pyjwt_verify(jwks_url: &str, token: &str) -> Result<Value, String> {
    let py = python();
    let out = Command::new(&py)
        .args(["-c", PYJWT_CHECK, jwks_url, token, AUDIENCE, ISSUER])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); set TENANTGATE_PYTHON or create .venv with `python3 -m venv .venv && .venv/bin/pip install 'pyjwt[crypto]'`",
                py.display()
            )
        });
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !err.contains("ModuleNotFoundError"),
            "PyJWT is not installed for {}: {err}",
            py.display()
        );
        return Err(err);
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("python output");
    assert_eq!(
        v["kid"], v["thumbprint"],
        "kid must be the RFC 7638 thumbprint of the published key"
    );
    Ok(v["claims"].clone())
}
