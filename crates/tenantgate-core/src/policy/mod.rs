//! The policy core: path normalization, tenant ⇄ host ownership and route rules. Pure: no
//! proxy-wasm, no clock. Compiled once per configuration; lookups run on every request, allocate
//! nothing beyond the normalized path and host, and cost the same whatever the number of
//! tenants, hosts and route rules (hash maps and a path trie).

pub mod context;
pub mod headers;
pub mod host;
pub mod path;
pub mod requirement;
pub mod routes;
pub mod tenancy;

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use crate::config::Requirement;

/// The hasher of the policy's lookup maps: without per-process keys, so there is no randomness
/// to ask the host for inside the VM. Their keys come from the configuration, so a client cannot
/// choose colliding ones.
pub(crate) type FixedHasher = BuildHasherDefault<DefaultHasher>;

pub use context::ContextPolicy;
pub use routes::RouteTable;
pub use tenancy::HostTable;

/// The compiled host and route tables of one configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    hosts: HostTable,
    routes: RouteTable,
    context: ContextPolicy,
}

impl Policy {
    /// The policy of compiled tables ([`crate::compile`] builds them from a configuration).
    pub fn new(hosts: HostTable, routes: RouteTable) -> Policy {
        Policy {
            hosts,
            routes,
            context: ContextPolicy::default(),
        }
    }

    /// The policy with the tenant sources besides the host, and the shared hosts.
    pub fn with_context(self, context: ContextPolicy) -> Policy {
        Policy { context, ..self }
    }

    /// The tenant sources besides the host, and the shared hosts.
    pub fn context(&self) -> &ContextPolicy {
        &self.context
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config, PathMatch, Route};

    fn compile(config: &Config) -> Result<Policy, config::ConfigErrors> {
        crate::compile::compile(config).map(|compiled| compiled.policy)
    }

    fn config() -> Config {
        config::parse(
            br#"{
              "providers": [{"name": "corp", "issuer": "https://issuer", "audiences": ["api"],
                             "jwks": {"remote": {"cluster": "idp",
                                                 "uri": "https://issuer/jwks.json"}}}],
              "tenants": {"acme": {"hosts": ["acme.example.com"]}},
              "host_templates": ["{tenant}.app.example.com"],
              "routes": [
                {"path": {"exact": "/health"}, "require": "public"},
                {"path": {"prefix": "/admin"}, "hosts": ["ACME.example.com"],
                 "require": {"roles": {"any_of": ["admin"]}}}
              ],
              "default_requirement": "authenticated"
            }"#,
        )
        .expect("valid")
    }

    #[test]
    fn compiled_policy_answers_ownership_and_routes() {
        let policy = compile(&config()).expect("compiles");
        assert_eq!(policy.owner("acme.example.com"), Some("acme"));
        assert_eq!(policy.owner("acme.app.example.com"), Some("acme"));
        assert_eq!(policy.owner("other.app.example.com"), None);
        let path = path::normalize("/x/../health?probe=1").expect("valid");
        let host = host::normalize("ACME.example.com:443").expect("valid");
        assert_eq!(
            policy.lookup("GET", &host, &path),
            Some((0, &Requirement::Public))
        );
        let (rule, _) = policy
            .lookup("POST", &host, "/admin/users")
            .expect("admin rule");
        assert_eq!(rule, 1);
        assert_eq!(
            policy.lookup("POST", "acme.app.example.com", "/admin"),
            None
        );
        assert_eq!(policy.routes().len(), 2);
    }

    #[test]
    fn compile_validates_configurations_built_in_code() {
        let mut config = config();
        config.routes.push(Route {
            name: None,
            path: PathMatch::Glob("/a**".into()),
            methods: None,
            hosts: None,
            require: Requirement::Public,
            tenant_context: None,
            audit: None,
            operators: false,
        });
        config.host_templates.push("nope".into());
        let errors = compile(&config).expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["host_templates[1]", "routes[2].path.glob"]);
    }
}
