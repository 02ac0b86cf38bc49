//! The native command line of `tenantgate`: tools for gateway owners, on the filter's own core.
//!
//! `tenantgate check CONFIG` validates a filter configuration exactly as `on_configure` would.
//! `tenantgate explain` decides one request with the filter's own code and says why.
//! `tenantgate schema` prints the configuration's JSON Schema, generated from the parser's types.
//! Exit codes: 0 valid / allowed, 1 invalid configuration, 2 usage error or unreadable file,
//! 3 refused, 4 undecidable without the provider's keys (pass `--jwks`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use serde_json::{Map, Value};
use tenantgate_core::config::Requirement;
use tenantgate_core::gate::{Gate, Outcome, RequestView};
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::verify::KeySource;

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
    /// Claims as JSON, taken as validly signed (must include iss, aud, exp, sub): to try a
    /// policy before any token exists. A missing `exp` is set to one hour from now.
    #[arg(long)]
    claims: Option<String>,
    /// A JWKS document (file) for every provider with a remote key set.
    #[arg(long)]
    jwks: Option<PathBuf>,
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
        Command::Explain(args) => explain(&args),
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

fn check(path: &Path) -> Status {
    let json = match read_config(path) {
        Ok(json) => json,
        Err(status) => return status,
    };
    // The same steps as the filter's on_configure: parse, validate, compile.
    match Gate::from_json(&json) {
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
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            Status::Invalid
        }
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

/// Inline key sets from the configuration; remote ones from `--jwks`, if given.
struct ExplainKeys(Vec<Option<KeySet>>);

impl KeySource for ExplainKeys {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.0.get(provider).and_then(Option::as_ref)
    }
}

fn explain(args: &ExplainArgs) -> Status {
    let json = match read_config(&args.config) {
        Ok(json) => json,
        Err(status) => return status,
    };
    let gate = match Gate::from_json(&json) {
        Ok(gate) => gate,
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            return Status::Invalid;
        }
    };
    let now = args.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let authorization = args.token.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let request = RequestView {
        method: &args.method,
        authority: &args.host,
        path: &args.path,
        headers: &headers,
    };

    let outcome = match &args.claims {
        Some(claims) => {
            let mut claims: Map<String, Value> = match serde_json::from_str(claims) {
                Ok(claims) => claims,
                Err(err) => {
                    eprintln!("tenantgate: --claims is not a JSON object: {err}");
                    return Status::Usage;
                }
            };
            // Fill what a policy trial rarely cares about, so that only the policy speaks.
            claims
                .entry("exp")
                .or_insert_with(|| Value::from(now.saturating_add(3600)));
            if let Some(provider) = gate.config().providers.first() {
                claims
                    .entry("iss")
                    .or_insert_with(|| Value::from(provider.issuer.clone()));
                if let Some(aud) = provider.audiences.first() {
                    claims
                        .entry("aud")
                        .or_insert_with(|| Value::from(aud.clone()));
                }
            }
            gate.decide_with_claims(&request, &claims, now)
        }
        None => {
            let remote = match &args.jwks {
                Some(path) => match std::fs::read(path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| KeySet::from_json(&b).map_err(|e| e.to_string()))
                {
                    Ok(set) => Some(set),
                    Err(err) => {
                        eprintln!("tenantgate: --jwks {}: {err}", path.display());
                        return Status::Usage;
                    }
                },
                None => None,
            };
            let keys = ExplainKeys(
                gate.config()
                    .providers
                    .iter()
                    .map(|p| match &p.jwks.inline {
                        Some(doc) => KeySet::from_value(doc).ok(),
                        None => remote.clone(),
                    })
                    .collect(),
            );
            gate.decide(&request, &keys, None, now)
        }
    };
    report(&gate, args, &outcome)
}

fn describe_requirement(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Public => "public".into(),
        Requirement::Authenticated => "authenticated".into(),
        Requirement::Deny => "deny".into(),
        Requirement::Roles(roles) => {
            let mut parts = Vec::new();
            if !roles.any_of.is_empty() {
                parts.push(format!("any_of [{}]", roles.any_of.join(", ")));
            }
            if !roles.all_of.is_empty() {
                parts.push(format!("all_of [{}]", roles.all_of.join(", ")));
            }
            format!("roles {}", parts.join(" and "))
        }
    }
}

fn report(gate: &Gate, args: &ExplainArgs, outcome: &Outcome) -> Status {
    let config = gate.config();
    let place = match outcome {
        Outcome::Allow { at, .. } | Outcome::Deny { at, .. } => Some(*at),
        Outcome::AwaitKeys { .. } => None,
    };
    let rule = place
        .and_then(|at| at.rule)
        .and_then(|i| config.routes.get(i).map(|r| (i, r)));
    let rule_text = match (rule, place) {
        (Some((index, route)), _) => format!(
            "#{index}{} requires {}",
            route
                .name
                .as_deref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default(),
            describe_requirement(&route.require)
        ),
        (None, Some(_)) => format!(
            "no rule matched: default_requirement {}",
            describe_requirement(&config.default_requirement)
        ),
        (None, None) => "-".into(),
    };
    let tenant = place
        .and_then(|at| at.tenant)
        .and_then(|i| config.tenants.keys().nth(i).cloned());
    let path = tenantgate_core::policy::path::normalize(&args.path)
        .unwrap_or_else(|d| format!("(refused: {})", d.code()));

    let (status, decision, detail) = match outcome {
        Outcome::Allow { identity, .. } => {
            let who = identity.as_ref().map(|i| {
                format!(
                    "tenant={} user={} roles={}",
                    i.tenant,
                    i.user,
                    i.roles.join(",")
                )
            });
            (Status::Ok, "allow".to_string(), who)
        }
        Outcome::Deny { denial, .. } => (
            Status::Refused,
            format!("deny {} {}", denial.status(), denial.code()),
            Some(denial.message().to_string()),
        ),
        Outcome::AwaitKeys { provider, .. } => (
            Status::NeedsKeys,
            "undecided".to_string(),
            Some(format!(
                "provider {} has a remote key set: pass --jwks FILE (its JWKS document)",
                config
                    .providers
                    .get(*provider)
                    .map_or("?", |p| p.name.as_str())
            )),
        ),
    };
    if args.json {
        let body = serde_json::json!({
            "decision": decision,
            "code": match outcome { Outcome::Deny { denial, .. } => Some(denial.code()), _ => None },
            "status": match outcome { Outcome::Deny { denial, .. } => Some(denial.status()), Outcome::Allow { .. } => Some(200), _ => None },
            "rule": place.and_then(|at| at.rule),
            "rule_name": rule.and_then(|(_, r)| r.name.clone()),
            "host_tenant": tenant,
            "path": path,
            "detail": detail,
        });
        println!("{body}");
    } else {
        println!("decision: {decision}");
        if let Some(detail) = &detail {
            println!("why:      {detail}");
        }
        println!("request:  {} {} {}", args.method, args.host, path);
        println!(
            "host:     {}",
            tenant.as_deref().unwrap_or("(no configured tenant)")
        );
        println!("rule:     {rule_text}");
    }
    status
}
