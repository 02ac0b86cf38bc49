//! Headless Chromium (Debian's `chromium`) driven by `playwright-core` (npm) through the
//! issuer's hosted sign-in page: the script is `tests/browser/sign_in.mjs`, `scripts/setup`
//! installs both. When Chromium, Node.js or the package is missing the test fails under
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

/// Runs the sign-in in a fresh Chromium profile; returns what the script saw (its JSON line),
/// or `None` to skip (never under CI).
pub fn sign_in(run: &SignIn<'_>) -> Option<Value> {
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
    cmd.arg("sign_in.mjs")
        .current_dir(&dir)
        .env("BASE_URL", &run.base_url)
        .env("TENANT", run.tenant)
        .env("EMAIL", run.email)
        .env("PASSWORD", run.password)
        .env("COOKIE_NAME", run.cookie_name)
        .env("NAME", run.name)
        .env("ARTIFACTS", artifacts_dir())
        .env("CHROMIUM", CHROMIUM);
    if let Some(secret) = run.totp_secret {
        cmd.env("TOTP_SECRET", secret);
    }
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
