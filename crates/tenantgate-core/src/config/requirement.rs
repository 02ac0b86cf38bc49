//! Route requirements beyond a word: roles, permissions, scopes and claim conditions, every
//! part given must hold. The object form of `require` is deserialized by hand (`de.rs`) and its
//! schema written by hand (`schema.rs`); the parts below are plain serde types.

use serde::Deserialize;
use serde_json::Value;

use super::RoleRequirement;

/// `require` as an object with more than `roles`: each part given must hold (they combine with
/// AND), checked in the order roles, permissions, scopes, claims.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRequirement {
    pub roles: Option<RoleRequirement>,
    /// Permission strings: the permissions claim of the token's provider, and the
    /// `role_permissions` of its roles.
    pub permissions: Option<AnyAllOf>,
    /// OAuth scopes: the `scope` and `scp` claims.
    pub scopes: Option<AnyAllOf>,
    /// Conditions on claim values (entitlements), each of which must hold.
    pub claims: Option<Vec<ClaimCondition>>,
}

/// Names a token must carry: at least one of `any_of` (when given) and every one of `all_of`
/// (when given). An empty list is refused rather than read as "no condition".
/// (Its schema is written by hand: `schema::list_of`.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyAllOf {
    /// At least one of these.
    #[serde(default)]
    pub any_of: Option<Vec<String>>,
    /// Every one of these.
    #[serde(default)]
    pub all_of: Option<Vec<String>>,
}

impl AnyAllOf {
    /// Whether `has` holds for one of `any_of` (when given) and every one of `all_of`. A rule
    /// naming nothing (which the compile step refuses) is never satisfied.
    pub fn satisfied(&self, mut has: impl FnMut(&str) -> bool) -> bool {
        if self.any_of.is_none() && self.all_of.is_none() {
            return false;
        }
        let any = self
            .any_of
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| has(n)));
        any && self
            .all_of
            .as_ref()
            .is_none_or(|names| names.iter().all(|n| has(n)))
    }

    /// Every name, with the list it is in, for checks and explanations.
    pub fn lists(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        [("any_of", &self.any_of), ("all_of", &self.all_of)]
            .into_iter()
            .filter_map(|(key, list)| list.as_deref().map(|l| (key, l)))
    }
}

/// One condition on a claim of the token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawClaimCondition")]
pub struct ClaimCondition {
    /// A top-level claim name, taken literally (dots and all), or, when it starts with `/`, a
    /// JSON Pointer (RFC 6901) into the claims: `/org/plan`.
    pub claim: String,
    pub test: ClaimTest,
}

/// What a claim must be. Values are strings, integers or booleans, compared with their type:
/// `"1"` is not `1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimTest {
    /// The claim is a scalar equal to one of these.
    OneOf(Vec<Value>),
    /// The claim is an array one of whose items equals this.
    Contains(Value),
}

/// `{"claim": ..., "one_of": [...]}` or `{"claim": ..., "contains": ...}`: exactly one test.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimCondition {
    claim: String,
    #[serde(default)]
    one_of: Option<Vec<Value>>,
    #[serde(default)]
    contains: Option<Value>,
}

impl TryFrom<RawClaimCondition> for ClaimCondition {
    type Error = String;

    fn try_from(raw: RawClaimCondition) -> Result<ClaimCondition, String> {
        let test = match (raw.one_of, raw.contains) {
            (Some(values), None) => ClaimTest::OneOf(values),
            (None, Some(value)) => ClaimTest::Contains(value),
            _ => return Err("give exactly one of `one_of` or `contains`".into()),
        };
        Ok(ClaimCondition {
            claim: raw.claim,
            test,
        })
    }
}

/// The JSON key of a claim test, for error paths.
pub fn test_key(test: &ClaimTest) -> &'static str {
    match test {
        ClaimTest::OneOf(_) => "one_of",
        ClaimTest::Contains(_) => "contains",
    }
}
