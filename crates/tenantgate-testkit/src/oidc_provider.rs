//! `oidc-provider` (npm; an OpenID Certified authorization server) on loopback: its discovery
//! document, its JWKS and RS256 JWT access tokens from the client credentials grant. The server
//! is `tests/oidc_provider/server.mjs`; `scripts/setup` installs its `node_modules`. When Node.js
//! or the package is missing the test fails under `CI=true` and is skipped otherwise.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::Value;

use super::http::Req;
use super::process::ChildGuard;

/// The client the server registers, and the resource (audience) of its access tokens.
pub const CLIENT_ID: &str = "tenantgate-e2e";
const CLIENT_SECRET: &str = "tenantgate-e2e-secret";
pub const RESOURCE: &str = "https://api.e2e.test";

/// A running `oidc-provider`; killed on drop.
pub struct OidcProvider {
    _process: ChildGuard,
    port: u16,
    issuer: String,
}

impl OidcProvider {
    /// Starts the server and waits until it listens; `None` to skip (never under CI).
    pub fn start() -> Option<OidcProvider> {
        let dir = super::repo_root().join("tests/oidc_provider");
        if !dir
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            super::missing("oidc-provider (tests/oidc_provider/node_modules, from scripts/setup)");
            return None;
        }
        let spawned = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                super::missing(&format!("Node.js (node: {e})"));
                return None;
            }
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let process = ChildGuard::new("oidc-provider", child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the oidc-provider address");
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider did not start ({e}): {line:?}"));
        let port = started["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        let issuer = started["issuer"].as_str().map(str::to_owned);
        let (Some(port), Some(issuer)) = (port, issuer) else {
            panic!("oidc-provider said {line:?}");
        };
        Some(OidcProvider {
            _process: process,
            port,
            issuer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, the `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// An access token (a JWT for [`RESOURCE`]) from the client credentials grant.
    pub fn access_token(&self, scope: &str) -> String {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let body = format!(
            "grant_type=client_credentials&scope={}",
            scope.replace(' ', "+")
        );
        let resp = Req::new("POST", "127.0.0.1", "/token")
            .header("Authorization", &format!("Basic {basic}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.as_bytes())
            .send(SocketAddr::from(([127, 0, 0, 1], self.port)));
        assert_eq!(resp.status, 200, "token endpoint: {}", resp.text());
        resp.json()["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {}", resp.text()))
            .to_owned()
    }
}
