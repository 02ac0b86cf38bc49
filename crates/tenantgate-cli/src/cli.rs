//! The native command line of `tenantgate`: tools for gateway owners, on the filter's own core.
//!
//! `tenantgate check CONFIG` validates a filter configuration exactly as `on_configure` would.
//! `tenantgate explain` decides one request with the filter's own code and says why.
//! `tenantgate schema` prints the configuration's JSON Schema, generated from the parser's types.
//! Exit codes: 0 valid / allowed, 1 invalid configuration, 2 usage error or unreadable file,
//! 3 refused (a refusal audit mode does not enforce exits 0), 4 undecidable without the provider's keys (pass `--jwks`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tenantgate_core::gate::Gate;

mod explain;

#[derive(Parser)]
#[command(
    name = "tenantgate",
    version,
    about = "Check tenantgate filter configurations and try requests against them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a filter configuration (JSON, as given to Envoy or Istio's pluginConfig).
    Check {
        /// Path of the configuration file.
        config: PathBuf,
    },
    /// Decide one request with the filter's own code: the outcome, the rule that matched and why.
    Explain(ExplainArgs),
    /// Print the JSON Schema of the filter configuration (docs/tenantgate.schema.json).
    Schema,
}

#[derive(clap::Args)]
struct ExplainArgs {
    /// Path of the configuration file.
    #[arg(long)]
    config: PathBuf,
    /// The request's host (`:authority`), e.g. acme.example.com.
    #[arg(long)]
    host: String,
    /// The request's method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request's path, as sent (it is normalized as the filter does).
    #[arg(long)]
    path: String,
    /// A real token, verified in full; remote key sets need `--jwks`.
    #[arg(long, conflicts_with = "claims")]
    token: Option<String>,
    /// Claims as JSON, taken as validly signed: to try a policy before any token exists. A
    /// missing `exp` is one hour from now; a missing `iss` and audience (`aud`, or the
    /// provider's `audience_claim`) are the first provider's, an issuer template taking the
    /// tenant claim's value, else the request's tenant.
    #[arg(long)]
    claims: Option<String>,
    /// A JWKS document (file) for every provider with a remote key set.
    #[arg(long)]
    jwks: Option<PathBuf>,
    /// A request header, `NAME:VALUE` (repeatable), e.g. the tenant header: `x-tenant:acme`.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Decide at this time (unix seconds) instead of now.
    #[arg(long)]
    now: Option<u64>,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit statuses shared by every subcommand.
#[derive(Debug, Clone, Copy)]
enum Status {
    Ok = 0,
    Invalid = 1,
    Usage = 2,
    Refused = 3,
    NeedsKeys = 4,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors.
            let status = if err.use_stderr() {
                Status::Usage
            } else {
                Status::Ok
            };
            // Nothing more to do if the terminal is gone.
            let _ = err.print();
            return status.into();
        }
    };
    let status = match cli.command {
        Command::Check { config } => check(&config),
        Command::Explain(args) => explain::explain(&args),
        Command::Schema => schema(),
    };
    status.into()
}

/// Reads a configuration file, or says why not.
fn read_config(path: &Path) -> Result<Vec<u8>, Status> {
    std::fs::read(path).map_err(|err| {
        eprintln!("tenantgate: cannot read {}: {err}", path.display());
        Status::Usage
    })
}

/// Reads and compiles a configuration with the same steps as the filter's `on_configure`
/// (parse, then compile), or prints every error with its field path.
fn load_gate(path: &Path) -> Result<Gate, Status> {
    let json = read_config(path)?;
    Gate::from_json(&json).map_err(|errors| {
        for error in &errors {
            eprintln!("{error}");
        }
        Status::Invalid
    })
}

fn check(path: &Path) -> Status {
    match load_gate(path) {
        Ok(gate) => {
            let config = gate.config();
            println!(
                "OK: {} providers, {} tenants, {} routes",
                config.providers.len(),
                config.tenants.len(),
                config.routes.len()
            );
            Status::Ok
        }
        Err(status) => status,
    }
}

/// The schema, pretty-printed as the checked-in file is.
fn schema() -> Status {
    match serde_json::to_string_pretty(&tenantgate_core::config::schema()) {
        Ok(text) => {
            println!("{text}");
            Status::Ok
        }
        Err(err) => {
            eprintln!("tenantgate: cannot print the schema: {err}");
            Status::Usage
        }
    }
}
