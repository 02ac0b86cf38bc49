//! `tenantgate-issuer tenant show|hosts|values|idp|remove-idp`: what the signed tenant directory
//! says about a tenant. The same operations as the admin API (audited with actor `cli`).

use std::collections::BTreeMap;

use clap::Subcommand;

use crate::entries::{self, Entry};
use crate::ops::Ctx;

#[derive(Debug, Subcommand)]
pub(super) enum EntryCommand {
    /// Print a tenant with its directory entry (hosts, tenant values, IdP) as JSON.
    Show { id: String },
    /// Replace the hosts (custom domains included) the tenant owns in the signed directory.
    Hosts {
        id: String,
        /// Host names, e.g. acme.example.com portal.acme.io (lower-cased; unique across tenants).
        hosts: Vec<String>,
        /// Remove every host (instead of giving none by mistake).
        #[arg(long, conflicts_with = "hosts")]
        clear: bool,
    },
    /// Replace the tenant values: filter provider name -> values of its tenant_map naming this
    /// tenant, as JSON, e.g. '{"entra": ["72f988bf-86f1-41af-91ab-2d7cd011db47"]}' ('{}' clears).
    Values { id: String, json: String },
    /// Set the tenant's own IdP: JSON as PUT /admin/tenants/{tenant}/idp takes it, or @FILE.
    Idp { id: String, json: String },
    /// Remove the tenant's own IdP.
    RemoveIdp { id: String },
}

pub(super) fn run(ctx: &Ctx<'_>, command: EntryCommand) -> Result<(), String> {
    let e = |e: crate::ops::OpError| e.to_string();
    match command {
        EntryCommand::Show { id } => {
            let (tenant, entry) = entries::ops::get_tenant(ctx, &id).map_err(e)?;
            let mut v = serde_json::to_value(&tenant).map_err(|e| e.to_string())?;
            v["hosts"] = serde_json::json!(entry.hosts);
            v["tenant_values"] = serde_json::json!(entry.tenant_values);
            v["idp"] = serde_json::to_value(&entry.idp).map_err(|e| e.to_string())?;
            print_json(&v)?;
        }
        EntryCommand::Hosts { id, hosts, clear } => {
            if hosts.is_empty() && !clear {
                return Err("give the tenant's hosts, or --clear to remove them all".into());
            }
            let entry = entries::ops::set_hosts(ctx, &id, &hosts).map_err(e)?;
            println!("tenant {id} hosts: [{}]", entry.hosts.join(", "));
        }
        EntryCommand::Values { id, json } => {
            let values: BTreeMap<String, Vec<String>> = serde_json::from_str(&json)
                .map_err(|e| format!("tenant_values: not a JSON object of string lists: {e}"))?;
            let entry = entries::ops::set_tenant_values(ctx, &id, &values).map_err(e)?;
            print_entry(&id, &entry)?;
        }
        EntryCommand::Idp { id, json } => {
            let text = match json.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
                }
                None => json,
            };
            let body: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("idp: not JSON: {e}"))?;
            let entry = entries::ops::set_idp(ctx, &id, &body).map_err(e)?;
            print_entry(&id, &entry)?;
        }
        EntryCommand::RemoveIdp { id } => {
            let (_, removed) = entries::ops::remove_idp(ctx, &id).map_err(e)?;
            if removed {
                println!("removed the IdP of tenant {id}");
            } else {
                println!("tenant {id} had no IdP; nothing to do");
            }
        }
    }
    Ok(())
}

fn print_entry(id: &str, entry: &Entry) -> Result<(), String> {
    let mut v = serde_json::to_value(entry).map_err(|e| e.to_string())?;
    v["tenant"] = id.into();
    print_json(&v)
}

fn print_json(v: &serde_json::Value) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
    );
    Ok(())
}
