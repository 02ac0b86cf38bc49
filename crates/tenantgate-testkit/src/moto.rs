//! `moto` (PyPI `moto[server]`) on loopback as Amazon Cognito user pools: its Cognito Identity
//! Provider API, each pool's JWKS at `/<pool id>/.well-known/jwks.json`, and the RS256 access
//! tokens `InitiateAuth` issues. The server is `tests/moto/server.py`, run by the `.venv` Python
//! that `scripts/setup` installs moto into. When the virtualenv or moto is missing the test fails
//! under `CI=true` and is skipped otherwise.
//!
//! moto signs the tokens of every pool with one RSA key (2048 bits, `kid` "dummy") shipped in its
//! package: pools are told apart by `iss`, never by key, and the key is public.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::http::Req;
use super::process::ChildGuard;

/// The region of the pools; moto puts it in the pool ids and the issuers.
pub const REGION: &str = "us-east-1";
/// The host of Cognito's API and issuers in that region; moto routes requests by it.
pub const HOST: &str = "cognito-idp.us-east-1.amazonaws.com";

/// A running moto server; killed on drop.
pub struct Moto {
    _process: ChildGuard,
    port: u16,
}

/// A user pool moto created.
#[derive(Debug, Clone)]
pub struct UserPool {
    pub id: String,
}

impl UserPool {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`, the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        format!("https://{HOST}/{}", self.id)
    }

    /// Where Cognito publishes the pool's keys (its path is what moto serves too).
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer())
    }
}

impl Moto {
    /// Starts the server and waits until it listens; `None` to skip (never under CI).
    pub fn start() -> Option<Moto> {
        let python = super::repo_root().join(".venv/bin/python");
        if !python.is_file() {
            super::missing("the .venv Python with moto (scripts/setup)");
            return None;
        }
        let mut child = Command::new(&python)
            .arg(super::repo_root().join("tests/moto/server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let process = ChildGuard::new("moto", child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the moto address");
        if line.is_empty() {
            // The server ended before listening: moto is not importable from .venv.
            super::missing("moto in .venv (moto[server], from scripts/setup)");
            return None;
        }
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto did not start ({e}): {line:?}"));
        let port = started["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("moto said {line:?}"));
        Some(Moto {
            _process: process,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// One Cognito Identity Provider API call (AWS JSON 1.1); its answer, which must be a 200.
    fn call(&self, action: &str, body: &Value) -> Value {
        let resp = Req::new("POST", HOST, "/")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "X-Amz-Target",
                &format!("AWSCognitoIdentityProviderService.{action}"),
            )
            .body(body.to_string().as_bytes())
            .send(SocketAddr::from(([127, 0, 0, 1], self.port)));
        assert_eq!(resp.status, 200, "moto {action}: {}", resp.text());
        resp.json()
    }

    /// `CreateUserPool`.
    pub fn user_pool(&self, name: &str) -> UserPool {
        let created = self.call("CreateUserPool", &json!({"PoolName": name}));
        let id = created["UserPool"]["Id"]
            .as_str()
            .unwrap_or_else(|| panic!("CreateUserPool said {created}"));
        UserPool { id: id.to_owned() }
    }

    /// `CreateUserPoolClient` allowing the password flow; the client id.
    pub fn app_client(&self, pool: &UserPool, name: &str) -> String {
        let created = self.call(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool.id, "ClientName": name,
                    "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
        );
        created["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap_or_else(|| panic!("CreateUserPoolClient said {created}"))
            .to_owned()
    }

    /// A confirmed user with a permanent password, in `groups` (created as needed).
    pub fn user(&self, pool: &UserPool, username: &str, password: &str, groups: &[&str]) {
        self.call(
            "AdminCreateUser",
            &json!({"UserPoolId": pool.id, "Username": username, "MessageAction": "SUPPRESS"}),
        );
        self.call(
            "AdminSetUserPassword",
            &json!({"UserPoolId": pool.id, "Username": username, "Password": password,
                    "Permanent": true}),
        );
        for group in groups {
            self.ensure_group(pool, group);
            self.call(
                "AdminAddUserToGroup",
                &json!({"UserPoolId": pool.id, "Username": username, "GroupName": group}),
            );
        }
    }

    fn ensure_group(&self, pool: &UserPool, group: &str) {
        let listed = self.call("ListGroups", &json!({"UserPoolId": pool.id}));
        let exists = listed["Groups"]
            .as_array()
            .is_some_and(|gs| gs.iter().any(|g| g["GroupName"] == group));
        if !exists {
            self.call(
                "CreateGroup",
                &json!({"UserPoolId": pool.id, "GroupName": group}),
            );
        }
    }

    /// The access token of `InitiateAuth` with `USER_PASSWORD_AUTH`, as an app signs a user in.
    pub fn access_token(&self, client_id: &str, username: &str, password: &str) -> String {
        let auth = self.call(
            "InitiateAuth",
            &json!({"ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
                    "AuthParameters": {"USERNAME": username, "PASSWORD": password}}),
        );
        auth["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("InitiateAuth said {auth}"))
            .to_owned()
    }

    /// The key set moto serves for `pool`, fetched as Envoy will (path and host of the pool).
    pub fn jwks(&self, pool: &UserPool) -> Value {
        let resp = Req::get(HOST, &format!("/{}/.well-known/jwks.json", pool.id))
            .send(SocketAddr::from(([127, 0, 0, 1], self.port)));
        assert_eq!(resp.status, 200, "moto JWKS: {}", resp.text());
        resp.json()
    }
}
