//! The issuer end to end: the real binary on loopback, HTTP in and out, tokens cross-checked with
//! PyJWT against the served JWKS. The scenarios under `on_both_backends!` run on SQLite and on
//! PostgreSQL; the others (behaviour independent of the backend) on SQLite. One test binary, one
//! module per area.

use tenantgate_testkit::issuer as issuer_support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use issuer_support::*;
use serde_json::{json, Value};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                if let Some(b) = super::backend("sqlite") {
                    super::$name(b)
                }
            }
            #[test]
            fn postgres() {
                if let Some(b) = super::backend("postgres") {
                    super::$name(b)
                }
            }
        }
    )*};
}

mod admin;
mod bad_input;
mod browser;
mod cli;
mod connections;
mod custody;
mod directory;
mod elevate;
mod keys;
mod logins;
mod page;
mod sessions;
mod sign_in;
mod sso;
mod totp;
mod well_known;

const PW: &str = "correct horse battery";

fn email() -> String {
    format!("user{}@example.com", unique())
}

fn tenant_id(prefix: &str) -> String {
    format!("{prefix}-{}", unique())
}

fn csrf_headers<'a>(cookie: &'a str, csrf: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("cookie", cookie), ("x-csrf-token", csrf)]
}

/// The lifetime PyJWT sees in the access token of a sign-in or refresh answer.
fn pyjwt_exp_minus_iat(issuer: &Issuer, r: &Resp) -> i64 {
    let claims = pyjwt_verify(
        &issuer.url("/.well-known/jwks.json"),
        r.json()["access_token"].as_str().expect("token"),
    )
    .expect("verifies");
    claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat")
}
