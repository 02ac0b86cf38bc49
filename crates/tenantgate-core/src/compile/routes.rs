//! The routes section and requirements, compiled into the route table: path matchers, methods
//! and normalized hosts.

use std::collections::BTreeMap;

use super::Compiler;
use crate::config::{syntax, Requirement, Route};
use crate::policy::routes::{path_kind, PathMatcher, Rule};
use crate::policy::RouteTable;

impl Compiler {
    /// Checks the route rules; returns the table they make.
    pub(super) fn routes(&mut self, routes: &[Route]) -> RouteTable {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut rules = Vec::with_capacity(routes.len());
        for (i, route) in routes.iter().enumerate() {
            let at = format!("routes[{i}]");
            if let Some(name) = &route.name {
                if name.is_empty() {
                    self.err(format!("{at}.name"), "must not be empty (omit it instead)");
                } else if let Some(first) = names.insert(name, i) {
                    self.err(
                        format!("{at}.name"),
                        format!("duplicate route name {name:?} (also routes[{first}].name)"),
                    );
                }
            }
            let path = match PathMatcher::compile(&route.path) {
                Ok(path) => Some(path),
                Err(why) => {
                    self.err(format!("{at}.path.{}", path_kind(&route.path)), why);
                    None
                }
            };
            if let Some(methods) = &route.methods {
                self.methods(&at, methods);
            }
            let hosts = route.hosts.as_ref().map(|hosts| self.hosts(&at, hosts));
            self.requirement(&format!("{at}.require"), &route.require);
            if let Some(path) = path {
                rules.push(Rule {
                    path,
                    methods: route.methods.clone(),
                    hosts,
                    require: route.require.clone(),
                });
            }
        }
        RouteTable::new(rules)
    }

    fn methods(&mut self, at: &str, methods: &[String]) {
        if methods.is_empty() {
            self.err(
                format!("{at}.methods"),
                "an empty list matches no request; omit `methods` to match every method",
            );
        }
        for (m, method) in methods.iter().enumerate() {
            let path = format!("{at}.methods[{m}]");
            if !syntax::is_token(method) || method.bytes().any(|b| b.is_ascii_lowercase()) {
                self.err(
                    path,
                    format!("{method:?} is not an upper-case HTTP method, e.g. \"GET\""),
                );
            } else if methods.iter().take(m).any(|x| x == method) {
                self.err(path, format!("duplicate method {method:?}"));
            }
        }
    }

    /// The rule's hosts, normalized as requests' hosts are.
    fn hosts(&mut self, at: &str, hosts: &[String]) -> Vec<String> {
        if hosts.is_empty() {
            self.err(
                format!("{at}.hosts"),
                "an empty list matches no request; omit `hosts` to match every host",
            );
        }
        let mut normalized = Vec::with_capacity(hosts.len());
        for (h, host) in hosts.iter().enumerate() {
            match syntax::dns_name(host) {
                Ok(host) => normalized.push(host),
                Err(why) => self.err(format!("{at}.hosts[{h}]"), why),
            }
        }
        normalized
    }

    pub(super) fn requirement(&mut self, at: &str, requirement: &Requirement) {
        let roles = match requirement {
            Requirement::Roles(roles) => roles,
            Requirement::Token(token) => {
                self.token_requirement(at, token);
                match &token.roles {
                    Some(roles) => roles,
                    None => return,
                }
            }
            Requirement::Public | Requirement::Authenticated | Requirement::Deny => return,
        };
        if roles.any_of.is_empty() && roles.all_of.is_empty() {
            self.err(
                format!("{at}.roles"),
                "name at least one role in `any_of` or `all_of`",
            );
        }
        for (list, names) in [("any_of", &roles.any_of), ("all_of", &roles.all_of)] {
            for (k, name) in names.iter().enumerate() {
                self.not_empty(format!("{at}.roles.{list}[{k}]"), name);
            }
        }
    }
}
