//! `tenantgate`: tools for gateway owners, on the filter's own core.
//!
//! `tenantgate check CONFIG` validates a filter configuration exactly as `on_configure` would.
//! Exit codes: 0 valid, 1 invalid, 2 usage error or unreadable file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tenantgate::config;
use tenantgate::policy::Policy;

#[derive(Parser)]
#[command(
    name = "tenantgate",
    version,
    about = "Check tenantgate filter configurations"
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
}

/// Exit statuses shared by every subcommand.
#[derive(Debug, Clone, Copy)]
enum Status {
    Ok = 0,
    Invalid = 1,
    Usage = 2,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

fn main() -> ExitCode {
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

fn check(path: &Path) -> Status {
    let json = match read_config(path) {
        Ok(json) => json,
        Err(status) => return status,
    };
    // The same two steps as the filter's on_configure: parse and validate, then compile.
    let result = config::parse(&json).and_then(|config| Policy::compile(&config).map(|_| config));
    match result {
        Ok(config) => {
            println!(
                "OK: {} providers, {} tenants, {} routes",
                config.providers.len(),
                config.tenants.len(),
                config.routes.len()
            );
            Status::Ok
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            Status::Invalid
        }
    }
}
