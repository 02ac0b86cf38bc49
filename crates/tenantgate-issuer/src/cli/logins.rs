//! `tenantgate-issuer tenant logins ID [...]`: show or change a tenant's login methods (the
//! same operation as `PATCH /admin/tenants/{tenant}/login-methods`, audited with actor `cli`).

use std::io::BufRead;

use clap::{Args, ValueEnum};

use crate::logins::{self, SsoInput, Totp, Update};
use crate::ops::Ctx;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum TotpArg {
    Off,
    Optional,
    Required,
}

/// With no option: prints the tenant's login methods as JSON.
#[derive(Debug, Args)]
pub(super) struct LoginArgs {
    id: String,
    /// Email-and-password sign-in.
    #[arg(long, value_enum)]
    password: Option<OnOff>,
    /// TOTP second factor after the password: off, optional (enrolled users, and the
    /// --totp-required-roles) or required (every member).
    #[arg(long, value_enum)]
    totp: Option<TotpArg>,
    /// With --totp optional: roles whose holders must use TOTP (comma-separated; '' clears).
    #[arg(long, value_delimiter = ',')]
    totp_required_roles: Option<Vec<String>>,
    /// Single sign-on: the tenant's OIDC IdP issuer (its discovery document is
    /// ISSUER/.well-known/openid-configuration).
    #[arg(long, requires = "sso_client_id")]
    sso_issuer: Option<String>,
    /// Single sign-on: the client id registered at the IdP.
    #[arg(long, requires = "sso_issuer")]
    sso_client_id: Option<String>,
    /// Single sign-on: read the client secret from the first line of stdin (never from the
    /// command line); may be left out when issuer and client id are unchanged.
    #[arg(long, requires = "sso_issuer")]
    sso_client_secret_stdin: bool,
    /// Single sign-on: roles given to users created at their first SSO sign-in (comma-separated).
    #[arg(long, value_delimiter = ',', requires = "sso_issuer")]
    sso_default_roles: Vec<String>,
    /// Turn single sign-on off.
    #[arg(long, conflicts_with = "sso_issuer")]
    no_sso: bool,
}

fn read_secret() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the client secret from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn update_of(a: LoginArgs) -> Result<Update, String> {
    let sso = match (a.sso_issuer, a.sso_client_id, a.no_sso) {
        (_, _, true) => Some(None),
        (Some(issuer), Some(client_id), false) => Some(Some(SsoInput {
            issuer,
            client_id,
            client_secret: a.sso_client_secret_stdin.then(read_secret).transpose()?,
            default_roles: a
                .sso_default_roles
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect(),
        })),
        _ => None,
    };
    Ok(Update {
        password: a.password.map(|p| matches!(p, OnOff::On)),
        totp: a.totp.map(|t| match t {
            TotpArg::Off => Totp::Off,
            TotpArg::Optional => Totp::Optional,
            TotpArg::Required => Totp::Required,
        }),
        totp_required_roles: a
            .totp_required_roles
            .map(|r| r.into_iter().filter(|r| !r.is_empty()).collect()),
        sso,
    })
}

pub(super) fn run(ctx: &Ctx<'_>, a: LoginArgs) -> Result<(), String> {
    let id = a.id.clone();
    let changes = a.password.is_some()
        || a.totp.is_some()
        || a.totp_required_roles.is_some()
        || a.sso_issuer.is_some()
        || a.no_sso;
    let methods = if changes {
        logins::ops::set(ctx, &id, update_of(a)?)
    } else {
        logins::ops::get(ctx, &id)
    }
    .map_err(|e| e.to_string())?;
    let mut v = serde_json::to_value(methods.view()).map_err(|e| e.to_string())?;
    v["tenant"] = id.into();
    println!(
        "{}",
        serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
    );
    Ok(())
}
