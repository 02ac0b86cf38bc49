//! Route requirements beyond roles, decided on a verified token: permissions (its provider's
//! permissions claim and the role catalog), OAuth scopes (`scope`, `scp`) and claim conditions.
//! Every part given must hold; the first that does not decides the refusal. The claims read
//! here are the ones verification kept ([`claims_read`] names them), so a cached token is
//! decided exactly like a fresh one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::{ClaimCondition, ClaimTest, Config, Requirement, TokenRequirement};
use crate::denial::Denial;

/// The top-level claim a claim path reads, owned.
fn top_level(path: &str) -> String {
    crate::verify::claim_path::top_level(path).into_owned()
}

/// The claims that carry scopes: `scope` (RFC 8693, a space-delimited string) and `scp` (an
/// array, or a space-delimited string as Entra sends it).
pub const SCOPE_CLAIMS: [&str; 2] = ["scope", "scp"];

/// The part of a requirement that refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Roles,
    Permissions,
    Scopes,
    /// The condition at this index of `claims`.
    Claim(usize),
}

impl Part {
    /// The part's JSON path under `require`, e.g. `claims[1]`.
    pub fn path(self) -> String {
        match self {
            Part::Roles => "roles".into(),
            Part::Permissions => "permissions".into(),
            Part::Scopes => "scopes".into(),
            Part::Claim(i) => format!("claims[{i}]"),
        }
    }
}

/// What a verified token holds, as the requirements read it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub roles: &'a [String],
    /// The claims verification kept.
    pub claims: &'a Map<String, Value>,
    /// The token's provider's `permissions_claim`.
    pub permissions_claim: Option<&'a str>,
    /// The token's provider's `scopes_claim`; `None`: [`SCOPE_CLAIMS`].
    pub scopes_claim: Option<&'a [String]>,
    /// `role_permissions`.
    pub catalog: &'a BTreeMap<String, Vec<String>>,
}

/// Checks every part of `req` in order (roles, permissions, scopes, claims); the first failing
/// part and its refusal.
pub fn check(req: &TokenRequirement, token: &Holder<'_>) -> Result<(), (Part, Denial)> {
    if let Some(roles) = &req.roles {
        if !roles.satisfied_by(token.roles) {
            return Err((Part::Roles, Denial::RoleRequired));
        }
    }
    if let Some(permissions) = &req.permissions {
        let from_claim = names(token.claims, token.permissions_claim)
            .map_err(|denial| (Part::Permissions, denial))?;
        let granted = |wanted: &str| {
            from_claim.iter().any(|p| grants(p, wanted))
                || token.roles.iter().any(|role| {
                    token
                        .catalog
                        .get(role)
                        .is_some_and(|list| list.iter().any(|p| grants(p, wanted)))
                })
        };
        if !permissions.satisfied(granted) {
            return Err((Part::Permissions, Denial::PermissionRequired));
        }
    }
    if let Some(scopes) = &req.scopes {
        let mut held = Vec::new();
        let claims: Vec<&str> = match token.scopes_claim {
            Some(paths) => paths.iter().map(String::as_str).collect(),
            None => SCOPE_CLAIMS.to_vec(),
        };
        for claim in claims {
            held.extend(names(token.claims, Some(claim)).map_err(|d| (Part::Scopes, d))?);
        }
        if !scopes.satisfied(|wanted| held.contains(&wanted)) {
            return Err((Part::Scopes, Denial::ScopeRequired));
        }
    }
    for (i, condition) in req.claims.iter().flatten().enumerate() {
        condition_holds(condition, token.claims).map_err(|denial| (Part::Claim(i), denial))?;
    }
    Ok(())
}

/// Whether a granted permission grants the wanted one: equal, or the granted one ends in `*`
/// and the wanted one starts with what precedes it (`*` alone grants every permission). A `*`
/// anywhere else is an ordinary character; a wanted permission never contains one.
pub fn grants(granted: &str, wanted: &str) -> bool {
    match granted.strip_suffix('*') {
        Some(prefix) => wanted.starts_with(prefix),
        None => granted == wanted,
    }
}

/// The names a claim holds: an array of strings, or one space-delimited string; none when the
/// claim (or its name) is absent. Any other shape is a malformed claim. The claim is a claim
/// path: a name taken literally, or a JSON Pointer ([`lookup`]).
fn names<'a>(claims: &'a Map<String, Value>, claim: Option<&str>) -> Result<Vec<&'a str>, Denial> {
    match claim.and_then(|name| lookup(claims, name)) {
        None => Ok(Vec::new()),
        Some(Value::String(list)) => Ok(list.split(' ').filter(|s| !s.is_empty()).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(Denial::ClaimInvalid))
            .collect(),
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

fn condition_holds(condition: &ClaimCondition, claims: &Map<String, Value>) -> Result<(), Denial> {
    let Some(value) = lookup(claims, &condition.claim) else {
        return Err(Denial::ClaimConditionInvalid);
    };
    let met = match &condition.test {
        ClaimTest::OneOf(values) => {
            if !values.iter().any(|v| same_kind(v, value)) {
                return Err(Denial::ClaimConditionInvalid);
            }
            values.contains(value)
        }
        ClaimTest::Contains(wanted) => match value {
            Value::Array(items) => items.contains(wanted),
            _ => return Err(Denial::ClaimConditionInvalid),
        },
    };
    if met {
        Ok(())
    } else {
        Err(Denial::ClaimConditionUnmet)
    }
}

/// Whether a claim value has the kind of a configured value (string, integer or boolean).
fn same_kind(configured: &Value, claim: &Value) -> bool {
    match (configured, claim) {
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Number(_), Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// The claim a condition names: a top-level name taken literally, or, when it starts with `/`,
/// a JSON Pointer (RFC 6901) whose first token is the top-level claim.
pub fn lookup<'a>(claims: &'a Map<String, Value>, claim: &str) -> Option<&'a Value> {
    let Some(pointer) = claim.strip_prefix('/') else {
        return claims.get(claim);
    };
    let mut tokens = pointer.split('/').map(unescape);
    let first = tokens.next()?;
    let mut value = claims.get(first.as_ref())?;
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get(token.as_ref())?,
            Value::Array(items) => items.get(array_index(&token)?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// An array index token: digits without a leading zero (RFC 6901 section 4).
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// `~1` is `/` and `~0` is `~`, in that order (RFC 6901 section 4).
fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Why a JSON Pointer is not well formed (`~` must be followed by `0` or `1`); `None` when it is
/// or when the name is not a pointer.
pub fn pointer_error(claim: &str) -> Option<String> {
    let pointer = claim.strip_prefix('/')?;
    let bytes = pointer.as_bytes();
    let bad = bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')));
    bad.then(|| {
        format!(
            "{claim:?} is not a JSON Pointer: `~` must be followed by 0 (for `~`) or 1 (for `/`)"
        )
    })
}

/// The top-level claims the configuration reads (route requirements and `headers.claims`),
/// sorted and without duplicates: what verification keeps for them.
pub fn claims_read(config: &Config) -> Vec<String> {
    let requirements = config
        .routes
        .iter()
        .map(|r| &r.require)
        .chain([&config.default_requirement]);
    let mut names: Vec<String> = Vec::new();
    for requirement in requirements {
        let Requirement::Token(req) = requirement else {
            continue;
        };
        if req.permissions.is_some() {
            let claims = config.providers.iter();
            names.extend(claims.filter_map(|p| p.permissions_claim.as_deref().map(top_level)));
        }
        if req.scopes.is_some() {
            for provider in &config.providers {
                match &provider.scopes_claim {
                    Some(paths) => names.extend(paths.iter().map(|p| top_level(p))),
                    None => names.extend(SCOPE_CLAIMS.map(String::from)),
                }
            }
        }
        for condition in req.claims.iter().flatten() {
            let top = match condition.claim.strip_prefix('/') {
                Some(pointer) => unescape(pointer.split('/').next().unwrap_or_default()),
                None => Cow::Borrowed(condition.claim.as_str()),
            };
            names.push(top.into_owned());
        }
    }
    names.extend(config.headers.claims.values().cloned());
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests;
