//! The `tenantgate-issuer` command line. Every command reads the same config file as `serve` and
//! works on the same database and keys, so operators can script everything the admin API does.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

mod elevate;
mod entries;
mod logins;

use super::audit::AuditLog;
use super::config::Config;
use super::directory::Tenant;
use super::flows;
use super::http::{self, App};
use super::keys::{KeyRing, Rotation, Vault};
use super::ops::{self, Ctx, TenantSettings};
use super::storage::Store;
use super::time::{format_duration, now, parse_duration, rfc3339};

/// tenantgate-issuer: signs in users per tenant and issues the RS256 access tokens that the
/// tenantgate filter verifies.
#[derive(Debug, Parser)]
#[command(name = "tenantgate-issuer", version)]
pub struct Cli {
    /// The issuer configuration file (TOML; see docs/issuer.md).
    #[arg(
        long,
        short,
        global = true,
        env = "TENANTGATE_ISSUER_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server: sign-in, refresh, sign-out, JWKS, admin API, metrics; rotates
    /// signing keys on schedule.
    Serve,
    /// Print an access token for any tenant, subject and roles, signed with the current key
    /// (for integration tests of route policies; the user need not exist).
    Mint(MintArgs),
    /// Print an operator's break-glass token for one customer tenant: short-lived (at most
    /// [operators] max_ttl), for a member of the operator tenant holding the operator role,
    /// with a mandatory reason; audited.
    Elevate(elevate::ElevateArgs),
    /// Create, list, disable or enable tenants; set what the signed directory says about them.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Add users to tenants.
    #[command(subcommand)]
    User(UserCommand),
    /// Define catalog roles and grant or revoke them per tenant.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Revoke sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// List signing keys or rotate them.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
struct MintArgs {
    /// Tenant id for the `tenantId` claim.
    #[arg(long)]
    tenant: String,
    /// Subject (`sub` claim).
    #[arg(long)]
    sub: String,
    /// Comma-separated roles (`roles` claim); empty for none.
    #[arg(long, value_delimiter = ',', default_value = "")]
    roles: Vec<String>,
    /// Lifetime, e.g. 90s, 10m, 1h (at most keys.max_token_ttl).
    #[arg(long, default_value = "10m")]
    ttl: String,
    /// Audience(s) instead of the configured ones (repeatable).
    #[arg(long)]
    aud: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant (lifetimes default to [tenant_defaults] in the config).
    Add {
        /// Tenant id: lower-case letters, digits and '-'.
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// Access-token lifetime, e.g. 10m.
        #[arg(long)]
        access_ttl: Option<String>,
        /// Sessions not refreshed for this long end, e.g. 72h.
        #[arg(long)]
        refresh_idle: Option<String>,
        /// Sessions end this long after sign-in whatever happens, e.g. 30d.
        #[arg(long)]
        session_absolute: Option<String>,
    },
    /// List tenants with their state and lifetimes.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a tenant: no sign-in, no refresh; its open sessions are revoked.
    Disable { id: String },
    /// Enable a disabled tenant again.
    Enable { id: String },
    #[command(flatten)]
    Entry(entries::EntryCommand),
    /// Show or change a tenant's login methods: password on/off, TOTP policy, single sign-on.
    Logins(logins::LoginArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user to a tenant; a new user needs a password (read from stdin with
    /// --password-stdin, never from the command line).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Read the new user's password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the members of a tenant and their roles there.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Remove a user's TOTP enrollment (lost authenticator and recovery codes); where TOTP
    /// applies, their next sign-in enrolls again.
    ResetTotp {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum RoleCommand {
    /// Create or update a catalog role and its permission strings.
    Define {
        name: String,
        /// Comma-separated permission strings.
        #[arg(long, value_delimiter = ',', default_value = "")]
        permissions: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the role catalog.
    List,
    /// Grant a catalog role to a member of a tenant (effective at their next sign-in or refresh).
    Grant {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Revoke a role from a member of a tenant (effective at their next refresh).
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Revoke every open session of a user (optionally only in one tenant).
    Revoke {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys: kid, state (next, current, retired), activation and unpublish times.
    List,
    /// Publish a new key now; it starts signing after keys.publish_lead, once every cached
    /// JWKS has it.
    Rotate,
    /// Check that every published key's private key matches its public key and kid (exit
    /// status 1 and the reason otherwise); `serve` runs the same check before it starts.
    Check,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

struct Services {
    config: Config,
    store: Store,
    keys: KeyRing,
}

fn open(config: Option<PathBuf>) -> Result<Services, String> {
    let path =
        config.ok_or("no configuration: pass --config <FILE> or set TENANTGATE_ISSUER_CONFIG")?;
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    let store = Store::open(&config.database).map_err(|e| e.to_string())?;
    let vault = Vault::open(&config.keys).map_err(|e| e.to_string())?;
    let keys = KeyRing::new(vault, config.timing);
    Ok(Services {
        config,
        store,
        keys,
    })
}

fn duration_arg(field: &str, v: Option<String>) -> Result<Option<i64>, String> {
    v.map(|s| parse_duration(&s).map_err(|m| format!("--{field}: {m}")))
        .transpose()
}

fn run(cli: Cli) -> Result<(), String> {
    let s = open(cli.config)?;
    match cli.command {
        Command::Serve => serve(s),
        Command::Mint(m) => with_ctx(&s, |ctx| mint(ctx, m)),
        Command::Elevate(e) => with_ctx(&s, |ctx| elevate::run(ctx, e)),
        Command::Tenant(c) => with_ctx(&s, |ctx| tenant(ctx, c)),
        Command::User(c) => with_ctx(&s, |ctx| user(ctx, c)),
        Command::Role(c) => with_ctx(&s, |ctx| role(ctx, c)),
        Command::Session(c) => with_ctx(&s, |ctx| session(ctx, c)),
        Command::Keys(c) => with_ctx(&s, |ctx| keys(ctx, c)),
    }
}

/// Runs a one-shot command as actor `cli`; its audit lines go to stderr (stdout is the answer).
fn with_ctx(
    s: &Services,
    command: impl FnOnce(&Ctx<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let audit = AuditLog::open(s.config.audit_path.as_deref(), Box::new(std::io::stderr()))
        .map_err(|e| format!("cannot open the audit log: {e}"))?;
    command(&Ctx {
        config: &s.config,
        store: &s.store,
        keys: &s.keys,
        audit: &audit,
        metrics: None,
        actor: "cli",
        ip: None,
    })
}

/// `serve`: audit lines go to stdout (next to the server's log on stderr).
fn serve(s: Services) -> Result<(), String> {
    let audit = AuditLog::open(s.config.audit_path.as_deref(), Box::new(std::io::stdout()))
        .map_err(|e| format!("cannot open the audit log: {e}"))?;
    let app = App::new(s.config, s.store, s.keys, audit)?;
    let report = app
        .keys
        .maintain(&app.store, now())
        .map_err(|e| e.to_string())?;
    ops::record_maintenance(&app.audit, Some(&app.metrics), &report, "scheduler");
    app.keys
        .check(&app.store, now())
        .map_err(|e| format!("refusing to serve: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(http::serve(Arc::new(app)))
}

fn op_error(e: ops::OpError) -> String {
    e.to_string()
}

fn mint(ctx: &Ctx<'_>, m: MintArgs) -> Result<(), String> {
    let ttl = parse_duration(&m.ttl).map_err(|msg| format!("--ttl: {msg}"))?;
    let roles: Vec<String> = m.roles.into_iter().filter(|r| !r.is_empty()).collect();
    let aud = if m.aud.is_empty() { None } else { Some(m.aud) };
    let token = flows::mint(ctx, &m.tenant, &m.sub, &roles, ttl, aud).map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

fn tenant(ctx: &Ctx<'_>, command: TenantCommand) -> Result<(), String> {
    match command {
        TenantCommand::Add {
            id,
            name,
            access_ttl,
            refresh_idle,
            session_absolute,
        } => {
            let settings = TenantSettings {
                access_ttl: duration_arg("access-ttl", access_ttl)?,
                refresh_idle: duration_arg("refresh-idle", refresh_idle)?,
                session_absolute: duration_arg("session-absolute", session_absolute)?,
            };
            let t = ops::create_tenant(ctx, &id, name.as_deref(), settings).map_err(op_error)?;
            println!("created tenant {}", t.id);
        }
        TenantCommand::List { json } => {
            print_tenants(ops::list_tenants(ctx).map_err(op_error)?, json)?
        }
        TenantCommand::Disable { id } => {
            let (_, revoked) = ops::set_tenant_disabled(ctx, &id, true).map_err(op_error)?;
            println!("disabled tenant {id}; revoked {revoked} open session(s)");
        }
        TenantCommand::Enable { id } => {
            ops::set_tenant_disabled(ctx, &id, false).map_err(op_error)?;
            println!("enabled tenant {id}");
        }
        TenantCommand::Entry(c) => entries::run(ctx, c)?,
        TenantCommand::Logins(a) => logins::run(ctx, a)?,
    }
    Ok(())
}

fn print_tenants(tenants: Vec<Tenant>, json: bool) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&tenants).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{:<24} {:<9} {:>10} {:>12} {:>16}  NAME",
        "ID", "STATE", "ACCESS", "REFRESH-IDLE", "SESSION-ABSOLUTE"
    );
    for t in tenants {
        println!(
            "{:<24} {:<9} {:>10} {:>12} {:>16}  {}",
            t.id,
            if t.disabled { "disabled" } else { "enabled" },
            format_duration(t.access_ttl),
            format_duration(t.refresh_idle),
            format_duration(t.session_absolute),
            t.name
        );
    }
    Ok(())
}

/// The first line of stdin, without its line ending.
fn password_from_stdin() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn user(ctx: &Ctx<'_>, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add {
            tenant,
            email,
            password_stdin,
        } => {
            let password = password_stdin.then(password_from_stdin).transpose()?;
            let added =
                ops::add_user(ctx, &tenant, &email, password.as_deref()).map_err(op_error)?;
            println!(
                "{} user {} ({}) {} tenant {tenant}",
                if added.created { "created" } else { "existing" },
                added.user.email,
                added.user.id,
                if added.joined {
                    "added to"
                } else {
                    "already in"
                }
            );
        }
        UserCommand::ResetTotp { email } => {
            let had = crate::logins::ops::reset_totp(ctx, &email).map_err(op_error)?;
            println!(
                "{}",
                if had {
                    "removed the TOTP enrollment of "
                } else {
                    "no TOTP enrollment for "
                }
                .to_string()
                    + &email
            );
        }
        UserCommand::List { tenant } => {
            for m in ops::list_members(ctx, &tenant).map_err(op_error)? {
                println!(
                    "{:<40} {:<26} {}",
                    m.user.email,
                    m.user.id,
                    m.roles.join(",")
                );
            }
        }
    }
    Ok(())
}

fn role(ctx: &Ctx<'_>, command: RoleCommand) -> Result<(), String> {
    match command {
        RoleCommand::Define {
            name,
            permissions,
            description,
        } => {
            let perms: Vec<String> = permissions.into_iter().filter(|p| !p.is_empty()).collect();
            let role = ops::define_role(ctx, &name, &description, &perms).map_err(op_error)?;
            println!("role {} = [{}]", role.name, role.permissions.join(", "));
        }
        RoleCommand::List => {
            for r in ops::list_roles(ctx).map_err(op_error)? {
                println!(
                    "{:<32} [{}] {}",
                    r.name,
                    r.permissions.join(", "),
                    r.description
                );
            }
        }
        RoleCommand::Grant {
            tenant,
            email,
            role,
        } => {
            let changed = ops::change_role(ctx, &tenant, &email, &role, true).map_err(op_error)?;
            println!(
                "{} role {role} to {email} in {tenant}",
                if changed {
                    "granted"
                } else {
                    "already granted"
                }
            );
        }
        RoleCommand::Revoke {
            tenant,
            email,
            role,
        } => {
            let changed = ops::change_role(ctx, &tenant, &email, &role, false).map_err(op_error)?;
            println!(
                "{} role {role} of {email} in {tenant}",
                if changed { "revoked" } else { "no grant of" }
            );
        }
    }
    Ok(())
}

fn session(ctx: &Ctx<'_>, command: SessionCommand) -> Result<(), String> {
    let SessionCommand::Revoke { email, tenant } = command;
    let n = ops::revoke_sessions(ctx, &email, tenant.as_deref()).map_err(op_error)?;
    println!("revoked {n} session(s) of {email}");
    Ok(())
}

fn keys(ctx: &Ctx<'_>, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::List => {
            let keys = ctx.keys.list(ctx.store, now()).map_err(|e| e.to_string())?;
            println!(
                "{:<44} {:<8} {:<25} {:<25}",
                "KID", "STATE", "ACTIVATES", "UNPUBLISHED"
            );
            for k in keys {
                let state = serde_json::to_value(k.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                println!(
                    "{:<44} {:<8} {:<25} {:<25}",
                    k.kid,
                    state,
                    rfc3339(k.activates_at, 0),
                    k.unpublish_at.map_or("-".to_string(), |t| rfc3339(t, 0))
                );
            }
        }
        KeysCommand::Rotate => match ops::rotate_keys(ctx).map_err(op_error)? {
            Rotation::Created(k) => println!(
                "published key {}; it signs from {}",
                k.kid,
                rfc3339(k.activates_at, 0)
            ),
            Rotation::AlreadyPending(k) => println!(
                "key {} is already published and signs from {}; nothing to do",
                k.kid,
                rfc3339(k.activates_at, 0)
            ),
        },
        KeysCommand::Check => {
            let kids = ctx
                .keys
                .check(ctx.store, now())
                .map_err(|e| e.to_string())?;
            for kid in &kids {
                println!("{kid} ok");
            }
            println!("{} key(s) match their published public keys", kids.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
