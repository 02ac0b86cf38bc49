//! Headless Chromium (Debian's `chromium`) driven by `playwright-core` (npm) through the
//! issuer's hosted sign-in page: the scripts are `tests/browser/sign_in.mjs` (password and
//! TOTP) and `tests/browser/sso.mjs` (single sign-on through an IdP); `scripts/setup` installs
//! Chromium and the package. When Chromium, Node.js or the package is missing the test fails under
//! `CI=true` and is skipped otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Where Debian installs Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// One sign-in through the page.
pub struct SignIn<'a> {
    /// `http://localhost:<port>` of the issuer (localhost: a secure context for its cookies).
    pub base_url: String,
    pub tenant: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The user's TOTP secret (base32), when the tenant asks for the TOTP step.
    pub totp_secret: Option<&'a str>,
    pub cookie_name: &'a str,
    /// The screenshots' file name prefix.
    pub name: &'a str,
}

/// Where the screenshots go: `target/test-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    super::repo_root().join("target/test-artifacts")
}

/// One single sign-on through the page and the tenant's IdP (`oidc-provider`'s development
/// login and consent pages).
pub struct SsoSignIn<'a> {
    /// `http://localhost:<port>` of the issuer, as its `[sso] public_url` says.
    pub base_url: String,
    pub tenant: &'a str,
    /// The IdP's issuer URL (its pages are under it).
    pub idp_url: &'a str,
    /// The login name typed at the IdP.
    pub login: &'a str,
    pub cookie_name: &'a str,
    /// The screenshots' file name prefix.
    pub name: &'a str,
}

/// Runs the sign-in in a fresh Chromium profile; returns what the script saw (its JSON line),
/// or `None` to skip (never under CI).
pub fn sign_in(run: &SignIn<'_>) -> Option<Value> {
    let mut cmd = script("sign_in.mjs")?;
    cmd.env("BASE_URL", &run.base_url)
        .env("TENANT", run.tenant)
        .env("EMAIL", run.email)
        .env("PASSWORD", run.password)
        .env("COOKIE_NAME", run.cookie_name)
        .env("NAME", run.name);
    if let Some(secret) = run.totp_secret {
        cmd.env("TOTP_SECRET", secret);
    }
    run_script(cmd)
}

/// Runs the single sign-on in a fresh Chromium profile, like [`sign_in`].
pub fn sso_sign_in(run: &SsoSignIn<'_>) -> Option<Value> {
    let mut cmd = script("sso.mjs")?;
    cmd.env("BASE_URL", &run.base_url)
        .env("TENANT", run.tenant)
        .env("IDP_URL", run.idp_url)
        .env("LOGIN", run.login)
        .env("COOKIE_NAME", run.cookie_name)
        .env("NAME", run.name);
    run_script(cmd)
}

/// `node <file>` in `tests/browser`, with the Chromium and artifacts paths set; `None` (after
/// [`super::missing`]) when Chromium or playwright-core is not installed.
fn script(file: &str) -> Option<Command> {
    let dir = super::repo_root().join("tests/browser");
    if !Path::new(CHROMIUM).is_file() {
        super::missing("Chromium (/usr/bin/chromium, from scripts/setup)");
        return None;
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        super::missing("playwright-core (tests/browser/node_modules, from scripts/setup)");
        return None;
    }
    let mut cmd = Command::new("node");
    cmd.arg(file)
        .current_dir(&dir)
        .env("ARTIFACTS", artifacts_dir())
        .env("CHROMIUM", CHROMIUM);
    Some(cmd)
}

/// Runs a script; its last line of output is what it saw.
fn run_script(mut cmd: Command) -> Option<Value> {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => {
            super::missing(&format!("Node.js (node: {e})"));
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser sign-in failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    Some(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}
