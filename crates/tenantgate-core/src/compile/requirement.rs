//! Requirements beyond roles (permissions, scopes, claim conditions), the role catalog
//! (`role_permissions`) and the providers' `permissions_claim`.

use serde_json::Value;

use super::Compiler;
use crate::config::{AnyAllOf, ClaimCondition, ClaimTest, Config, TokenRequirement};
use crate::policy::requirement::pointer_error;

impl Compiler {
    /// The catalog and the providers' permissions claims; records whether any token could hold
    /// a permission at all, for the `permissions` rules compiled after.
    pub(super) fn permission_sources(&mut self, config: &Config) {
        for (i, provider) in config.providers.iter().enumerate() {
            if let Some(claim) = &provider.permissions_claim {
                self.not_empty(format!("providers[{i}].permissions_claim"), claim);
            }
        }
        for (role, permissions) in &config.role_permissions {
            let at = format!("role_permissions.{role}");
            if role.is_empty() {
                self.err(&*at, "a role name must not be empty");
            }
            for (k, permission) in permissions.iter().enumerate() {
                if let Some(why) = granted_permission_error(permission) {
                    self.err(format!("{at}[{k}]"), why);
                }
            }
        }
        self.permissions_possible = !config.role_permissions.is_empty()
            || config
                .providers
                .iter()
                .any(|p| p.permissions_claim.is_some());
    }

    /// The parts of an object requirement other than `roles` (checked by the caller).
    pub(super) fn token_requirement(&mut self, at: &str, req: &TokenRequirement) {
        if let Some(permissions) = &req.permissions {
            let at = format!("{at}.permissions");
            self.any_all_of(&at, permissions, "permission", required_permission_error);
            if !self.permissions_possible {
                self.err(
                    at,
                    "no token can hold a permission: no provider has a `permissions_claim` and \
                     `role_permissions` is empty",
                );
            }
        }
        if let Some(scopes) = &req.scopes {
            self.any_all_of(&format!("{at}.scopes"), scopes, "scope", scope_error);
        }
        if let Some(claims) = &req.claims {
            if claims.is_empty() {
                self.err(
                    format!("{at}.claims"),
                    "an empty list: give at least one condition, or omit `claims`",
                );
            }
            for (i, condition) in claims.iter().enumerate() {
                self.claim_condition(&format!("{at}.claims[{i}]"), condition);
            }
        }
    }

    fn any_all_of(
        &mut self,
        at: &str,
        rule: &AnyAllOf,
        what: &str,
        invalid: fn(&str) -> Option<String>,
    ) {
        if rule.any_of.is_none() && rule.all_of.is_none() {
            self.err(
                at,
                format!("name at least one {what} in `any_of` or `all_of`"),
            );
        }
        for (list, names) in rule.lists() {
            if names.is_empty() {
                self.err(
                    format!("{at}.{list}"),
                    format!("an empty list: name at least one {what}, or omit `{list}`"),
                );
            }
            for (k, name) in names.iter().enumerate() {
                if let Some(why) = invalid(name) {
                    self.err(format!("{at}.{list}[{k}]"), why);
                }
            }
        }
    }

    fn claim_condition(&mut self, at: &str, condition: &ClaimCondition) {
        if condition.claim.is_empty() {
            self.err(format!("{at}.claim"), "must not be empty");
        } else if let Some(why) = pointer_error(&condition.claim) {
            self.err(format!("{at}.claim"), why);
        }
        match &condition.test {
            ClaimTest::OneOf(values) => {
                if values.is_empty() {
                    self.err(
                        format!("{at}.one_of"),
                        "a condition without values matches no token: name at least one",
                    );
                }
                for (k, value) in values.iter().enumerate() {
                    self.claim_value(format!("{at}.one_of[{k}]"), value);
                }
            }
            ClaimTest::Contains(value) => self.claim_value(format!("{at}.contains"), value),
        }
    }

    fn claim_value(&mut self, at: String, value: &Value) {
        let scalar = match value {
            Value::String(_) | Value::Bool(_) => true,
            Value::Number(n) => n.is_i64() || n.is_u64(),
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        };
        if !scalar {
            self.err(
                at,
                format!("{value} is not a string, an integer or a boolean, which claims are compared with"),
            );
        }
    }
}

/// Printable ASCII without spaces: what a permission or scope name can be.
fn printable(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
}

/// A permission a route requires: no `*` (a route names what it needs).
fn required_permission_error(permission: &str) -> Option<String> {
    if !printable(permission) {
        Some(format!(
            "{permission:?} is not a permission: use printable ASCII without spaces"
        ))
    } else if permission.contains('*') {
        Some(format!(
            "{permission:?}: a route names the exact permission it needs; `*` belongs in the \
             grants of `role_permissions`"
        ))
    } else {
        None
    }
}

/// A permission the catalog grants: a `*` may only end it.
fn granted_permission_error(permission: &str) -> Option<String> {
    if !printable(permission) {
        Some(format!(
            "{permission:?} is not a permission: use printable ASCII without spaces"
        ))
    } else if permission.trim_end_matches('*').contains('*') || permission.ends_with("**") {
        Some(format!(
            "{permission:?}: `*` may only end a permission, as in \"deploy:*\" (every permission \
             starting with \"deploy:\")"
        ))
    } else {
        None
    }
}

/// An OAuth scope token (RFC 6749 section 3.3): printable ASCII without space, `"` or `\`.
fn scope_error(scope: &str) -> Option<String> {
    if printable(scope) && !scope.contains(['"', '\\']) {
        None
    } else {
        Some(format!(
            "{scope:?} is not an OAuth scope: printable ASCII without spaces, '\"' or '\\'"
        ))
    }
}
