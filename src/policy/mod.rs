//! The policy core: path normalization, tenant ⇄ host ownership and route rules. Pure: no
//! proxy-wasm, no clock. Compiled once per configuration; lookups run on every request and
//! allocate nothing beyond the normalized path and host.

pub mod host;
pub mod path;
pub mod routes;
pub mod tenancy;

use crate::config::{self, Config, ConfigErrors, Requirement};

pub use routes::RouteTable;
pub use tenancy::HostTable;

/// The compiled host and route tables of one configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    hosts: HostTable,
    routes: RouteTable,
}

impl Policy {
    /// Validates the configuration (the same checks as [`config::parse`], so a configuration built
    /// in code is held to them too) and compiles its tables.
    pub fn compile(config: &Config) -> Result<Policy, ConfigErrors> {
        config::validate(config)?;
        let routes =
            RouteTable::compile(&config.routes).map_err(|errors| ConfigErrors { errors })?;
        Ok(Policy {
            hosts: HostTable::compile(config),
            routes,
        })
    }

    /// The tenant that owns a normalized host.
    pub fn owner<'a>(&'a self, host: &'a str) -> Option<&'a str> {
        self.hosts.owner(host)
    }

    /// The first route rule matching the method, normalized host and normalized path, with its
    /// index in `routes`; `None`: the default requirement applies.
    pub fn lookup(&self, method: &str, host: &str, path: &str) -> Option<(usize, &Requirement)> {
        self.routes.lookup(method, host, path)
    }

    pub fn hosts(&self) -> &HostTable {
        &self.hosts
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }
}
