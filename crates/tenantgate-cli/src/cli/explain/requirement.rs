//! Object requirements (roles, permissions, scopes, claim conditions) in words.

use tenantgate_core::config::{AnyAllOf, ClaimCondition, ClaimTest, Requirement, TokenRequirement};
use tenantgate_core::policy::requirement::Part;

/// Each part of the requirement, in the order they are checked.
pub(super) fn describe(token: &TokenRequirement) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(roles) = &token.roles {
        parts.push(super::describe_roles(roles));
    }
    if let Some(permissions) = &token.permissions {
        parts.push(format!("permissions {}", any_all_of(permissions)));
    }
    if let Some(scopes) = &token.scopes {
        parts.push(format!("scopes {}", any_all_of(scopes)));
    }
    parts.extend(token.claims.iter().flatten().map(condition));
    parts
}

/// The part of `requirement` that decided a refusal: `require.<path>: <what it asks>`.
pub(super) fn decided_by(requirement: &Requirement, part: Part) -> String {
    let what = match (requirement, part) {
        (Requirement::Roles(roles), Part::Roles) => Some(super::describe_roles(roles)),
        (Requirement::Token(token), Part::Roles) => token.roles.as_ref().map(super::describe_roles),
        (Requirement::Token(token), Part::Permissions) => token
            .permissions
            .as_ref()
            .map(|p| format!("permissions {}", any_all_of(p))),
        (Requirement::Token(token), Part::Scopes) => token
            .scopes
            .as_ref()
            .map(|s| format!("scopes {}", any_all_of(s))),
        (Requirement::Token(token), Part::Claim(i)) => {
            token.claims.as_ref().and_then(|c| c.get(i)).map(condition)
        }
        _ => None,
    };
    format!(
        "require.{}: {}",
        part.path(),
        what.unwrap_or_else(|| "?".into())
    )
}

fn any_all_of(rule: &AnyAllOf) -> String {
    rule.lists()
        .map(|(list, names)| format!("{list} [{}]", names.join(", ")))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn condition(condition: &ClaimCondition) -> String {
    match &condition.test {
        ClaimTest::OneOf(values) => {
            let values: Vec<String> = values.iter().map(ToString::to_string).collect();
            format!("claim {} one_of [{}]", condition.claim, values.join(", "))
        }
        ClaimTest::Contains(value) => format!("claim {} contains {value}", condition.claim),
    }
}
