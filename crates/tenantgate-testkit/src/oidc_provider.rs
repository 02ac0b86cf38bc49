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

/// A client registered for the authorization code flow (a tenant's SSO client).
#[derive(Debug, Clone)]
pub struct SsoClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

/// A running `oidc-provider`; killed on drop.
pub struct OidcProvider {
    _process: ChildGuard,
    port: u16,
    issuer: String,
}

impl OidcProvider {
    /// Starts the server and waits until it listens; `None` to skip (never under CI).
    pub fn start() -> Option<OidcProvider> {
        OidcProvider::start_with(&[])
    }

    /// Like [`OidcProvider::start`], with `clients` registered for the authorization code flow.
    pub fn start_with(clients: &[SsoClient]) -> Option<OidcProvider> {
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
            .env("SSO_CLIENTS", sso_clients(clients))
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

    /// Signs `login` in at the provider as a browser would, through its development login and
    /// consent pages, starting at `authorize_url` (the issuer's redirect). Redirects are followed
    /// by hand, keeping the provider's cookies; returns the `Location` that leaves the provider
    /// (the client's callback with `code` and `state`).
    pub fn browser_sign_in(&self, authorize_url: &str, login: &str) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        // The provider builds its absolute URLs from the Host header.
        let host = format!("127.0.0.1:{}", self.port);
        let mut cookies: Vec<(String, String)> = Vec::new();
        let mut next = authorize_url
            .strip_prefix(&self.issuer)
            .unwrap_or_else(|| panic!("{authorize_url} is not at {}", self.issuer))
            .to_string();
        for _ in 0..12 {
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let jar = jar.join("; ");
            let path = next.clone();
            let resp = if let Some(uid) = interaction_uid(&path) {
                let page = Req::get(&host, &path).header("Cookie", &jar).send(addr);
                assert_eq!(page.status, 200, "interaction page: {}", page.text());
                let form = if page.text().contains("name=\"login\"") {
                    format!("prompt=login&login={login}&password=any")
                } else {
                    "prompt=consent".to_string()
                };
                Req::new("POST", &host, &format!("/interaction/{uid}"))
                    .header("Cookie", &jar)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form.as_bytes())
                    .send(addr)
            } else {
                Req::get(&host, &path).header("Cookie", &jar).send(addr)
            };
            for (k, v) in resp
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            {
                let _ = k;
                if let Some((name, value)) = v.split(';').next().and_then(|c| c.split_once('=')) {
                    cookies.retain(|(n, _)| n != name);
                    cookies.push((name.to_string(), value.to_string()));
                }
            }
            assert!(
                (300..400).contains(&resp.status),
                "oidc-provider at {path}: {} {}",
                resp.status,
                resp.text()
            );
            let location = resp
                .header("location")
                .expect("a redirect names its target");
            match location.strip_prefix(&self.issuer) {
                Some(rest) => next = rest.to_string(),
                None if location.starts_with('/') => next = location.to_string(),
                None => return location.to_string(),
            }
        }
        panic!("oidc-provider redirected more than 12 times");
    }
}

fn sso_clients(clients: &[SsoClient]) -> String {
    let list: Vec<Value> = clients
        .iter()
        .map(|c| {
            serde_json::json!({"client_id": c.client_id, "client_secret": c.client_secret,
                "redirect_uris": c.redirect_uris})
        })
        .collect();
    Value::Array(list).to_string()
}

/// The interaction id of `/interaction/<uid>`.
fn interaction_uid(path: &str) -> Option<&str> {
    path.strip_prefix("/interaction/")
        .filter(|uid| !uid.is_empty() && !uid.contains(['/', '?']))
}
