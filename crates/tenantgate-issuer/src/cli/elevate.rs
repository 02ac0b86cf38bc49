//! `tenantgate-issuer elevate`: an operator's break-glass token on stdout; the audit line (actor
//! `cli`) on stderr or in `audit.path`.

use clap::Args;

use crate::flows::{self, ElevateInput};
use crate::ops::Ctx;
use crate::time::parse_duration;

#[derive(Debug, Args)]
pub(super) struct ElevateArgs {
    /// The operator's email: a member of [operators] tenant with [operators] role.
    #[arg(long)]
    email: String,
    /// The customer tenant to act on (the token's `target_tenant`).
    #[arg(long)]
    tenant: String,
    /// Why (a ticket, an incident); mandatory, audited.
    #[arg(long)]
    reason: String,
    /// Lifetime, e.g. 5m (default and most: [operators] max_ttl, 15m unless configured).
    #[arg(long)]
    ttl: Option<String>,
}

pub(super) fn run(ctx: &Ctx<'_>, args: ElevateArgs) -> Result<(), String> {
    let ttl = args
        .ttl
        .map(|t| parse_duration(&t).map_err(|m| format!("--ttl: {m}")))
        .transpose()?;
    let input = ElevateInput {
        email: &args.email,
        target: &args.tenant,
        reason: &args.reason,
        ttl,
    };
    let elevated = flows::elevate(ctx, &input).map_err(|e| e.to_string())?;
    println!("{}", elevated.token);
    Ok(())
}
