//! Properties of the requirement matchers (permission grants with trailing `*` against the role
//! catalog and a permissions claim, scopes from `scope`/`scp`, claim conditions with JSON
//! Pointers) and of claim values forwarded as headers, each checked against a reference written
//! independently of the code under test. Shared by the fuzz targets and by the core's test
//! `tests/fuzz_properties.rs`, which runs them on every build.

// Each includer uses part of the properties.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tenantgate_core::config::{AnyAllOf, ClaimCondition, ClaimTest, TokenRequirement};
use tenantgate_core::denial::Denial;
use tenantgate_core::policy::headers::claim_value;
use tenantgate_core::policy::requirement::{check, grants, lookup, Holder, Part};

/// The permissions claim the properties use.
const PERMISSIONS_CLAIM: &str = "perms";

/// Lines of `data`: the claims as a JSON object (anything else is `{}`), a claim name or JSON
/// Pointer, a wanted name, then the permissions the role catalog grants the token's role.
pub fn requirements(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let claims: Map<String, Value> = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    let name = lines.next().unwrap_or_default();
    let wanted = lines.next().unwrap_or_default();
    let granted: Vec<String> = lines.map(str::to_owned).collect();
    pointer(&claims, name);
    for g in granted
        .iter()
        .map(String::as_str)
        .chain([name, wanted, "*"])
    {
        grant(g, wanted);
    }
    permissions(&claims, wanted, &granted);
    scopes(&claims, wanted);
    conditions(&claims, name, wanted);
}

/// `data` as a JSON value (or, when it is not JSON, as a string), forwarded as a header.
pub fn forwarded(data: &[u8]) {
    let value = serde_json::from_slice::<Value>(data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
    forwarded_value(&value);
    if let Value::Object(map) = &value {
        for item in map.values() {
            forwarded_value(item);
        }
    }
}

/// A claim name is a top-level claim; a JSON Pointer resolves as serde_json resolves it.
fn pointer(claims: &Map<String, Value>, name: &str) {
    let found = lookup(claims, name);
    if name.starts_with('/') {
        let whole = Value::Object(claims.clone());
        assert_eq!(found, whole.pointer(name), "pointer {name:?}");
    } else {
        assert_eq!(found, claims.get(name), "name {name:?}");
    }
}

/// The reference: equal, or a trailing `*` and a byte prefix.
fn grants_reference(granted: &str, wanted: &str) -> bool {
    let g = granted.as_bytes();
    match g.split_last() {
        Some((b'*', prefix)) => wanted.as_bytes().get(..prefix.len()) == Some(prefix),
        _ => granted == wanted,
    }
}

fn grant(granted: &str, wanted: &str) {
    assert_eq!(
        grants(granted, wanted),
        grants_reference(granted, wanted),
        "{granted:?} grants {wanted:?}"
    );
    assert!(grants(wanted, wanted) || wanted.ends_with('*'));
    assert!(grants("*", wanted));
    // A wildcard grant also grants every longer permission it grants a prefix of.
    if granted.ends_with('*') && grants(granted, wanted) {
        assert!(grants(granted, &format!("{wanted}:more")));
    }
}

/// The names a claim holds as the reference reads them: absent is none, a string is split on
/// spaces, an array must hold strings only; anything else is malformed.
fn names_reference(claims: &Map<String, Value>, claim: &str) -> Result<Vec<String>, Denial> {
    match claims.get(claim) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(Denial::ClaimInvalid),
                }
            }
            Ok(out)
        }
        Some(_) => Err(Denial::ClaimInvalid),
    }
}

fn holder<'a>(
    claims: &'a Map<String, Value>,
    roles: &'a [String],
    catalog: &'a BTreeMap<String, Vec<String>>,
) -> Holder<'a> {
    Holder {
        roles,
        claims,
        permissions_claim: Some(PERMISSIONS_CLAIM),
        scopes_claim: None,
        catalog,
    }
}

fn one(name: &str) -> AnyAllOf {
    AnyAllOf {
        any_of: Some(vec![name.to_owned()]),
        all_of: None,
    }
}

fn permissions(claims: &Map<String, Value>, wanted: &str, granted: &[String]) {
    let catalog = BTreeMap::from([("r".to_string(), granted.to_vec())]);
    let req = TokenRequirement {
        permissions: Some(one(wanted)),
        ..TokenRequirement::default()
    };
    for roles in [vec!["r".to_string()], vec!["other".to_string()], vec![]] {
        let got = check(&req, &holder(claims, &roles, &catalog));
        let expected = names_reference(claims, PERMISSIONS_CLAIM).and_then(|from_claim| {
            let by_role = roles.iter().any(|r| r == "r")
                && granted.iter().any(|g| grants_reference(g, wanted));
            let by_claim = from_claim.iter().any(|g| grants_reference(g, wanted));
            if by_role || by_claim {
                Ok(())
            } else {
                Err(Denial::PermissionRequired)
            }
        });
        assert_eq!(
            got,
            expected.map_err(|d| (Part::Permissions, d)),
            "{wanted:?} {roles:?}"
        );
    }
}

fn scopes(claims: &Map<String, Value>, wanted: &str) {
    let req = TokenRequirement {
        scopes: Some(AnyAllOf {
            any_of: None,
            all_of: Some(vec![wanted.to_owned()]),
        }),
        ..TokenRequirement::default()
    };
    let got = check(&req, &holder(claims, &[], &BTreeMap::new()));
    let expected = names_reference(claims, "scope").and_then(|mut held| {
        held.extend(names_reference(claims, "scp")?);
        if held.iter().any(|s| s == wanted) {
            Ok(())
        } else {
            Err(Denial::ScopeRequired)
        }
    });
    assert_eq!(
        got,
        expected.map_err(|d| (Part::Scopes, d)),
        "scope {wanted:?}"
    );
}

fn conditions(claims: &Map<String, Value>, name: &str, wanted: &str) {
    let whole = Value::Object(claims.clone());
    let value = if name.starts_with('/') {
        whole.pointer(name)
    } else {
        claims.get(name)
    };
    let number = Value::from(wanted.len());
    let tests = [
        ClaimTest::Contains(Value::from(wanted)),
        ClaimTest::OneOf(vec![Value::from(wanted)]),
        ClaimTest::OneOf(vec![number.clone()]),
        ClaimTest::OneOf(vec![Value::Bool(true)]),
    ];
    for test in tests {
        let expected = match (&test, value) {
            (_, None) => Err(Denial::ClaimConditionInvalid),
            (ClaimTest::Contains(item), Some(Value::Array(items))) => {
                if items.iter().any(|i| i == item) {
                    Ok(())
                } else {
                    Err(Denial::ClaimConditionUnmet)
                }
            }
            (ClaimTest::Contains(_), Some(_)) => Err(Denial::ClaimConditionInvalid),
            (ClaimTest::OneOf(values), Some(v)) => {
                let kind = match (&values[0], v) {
                    (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) => true,
                    (Value::Number(_), Value::Number(n)) => n.is_i64() || n.is_u64(),
                    _ => false,
                };
                match (kind, values[0] == *v) {
                    (false, _) => Err(Denial::ClaimConditionInvalid),
                    (true, true) => Ok(()),
                    (true, false) => Err(Denial::ClaimConditionUnmet),
                }
            }
        };
        let req = TokenRequirement {
            claims: Some(vec![ClaimCondition {
                claim: name.to_owned(),
                test: test.clone(),
            }]),
            ..TokenRequirement::default()
        };
        let got = check(&req, &holder(claims, &[], &BTreeMap::new()));
        assert_eq!(
            got,
            expected.map_err(|d| (Part::Claim(0), d)),
            "{name:?} {test:?}"
        );
    }
}

/// What a forwarded value may be: a string as it is, a number or boolean as its JSON text, a
/// list of non-empty strings without the separator joined so that splitting gives it back;
/// never a control character; nothing for null or an empty list; everything else refused.
fn forwarded_value(value: &Value) {
    let got = claim_value(Some(value));
    let clean = |s: &str| !s.chars().any(char::is_control);
    match value {
        Value::Null => assert_eq!(got, Ok(None)),
        Value::String(s) if clean(s) => assert_eq!(got, Ok(Some(s.clone()))),
        Value::Bool(_) | Value::Number(_) => assert_eq!(got, Ok(Some(value.to_string()))),
        Value::Array(items) if items.is_empty() => assert_eq!(got, Ok(None)),
        Value::Array(items) => {
            let strings: Option<Vec<&str>> = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .filter(|s| !s.is_empty() && !s.contains(',') && clean(s))
                })
                .collect();
            match strings {
                Some(strings) => {
                    let text = got
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| panic!("{value} refused"));
                    assert_eq!(text.split(',').collect::<Vec<_>>(), strings, "{value}");
                }
                None => assert_eq!(got, Err(Denial::ClaimNotForwardable), "{value}"),
            }
        }
        Value::String(_) | Value::Object(_) => {
            assert_eq!(got, Err(Denial::ClaimNotForwardable), "{value}")
        }
    }
    if let Ok(Some(text)) = claim_value(Some(value)) {
        assert!(
            !text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0),
            "{text:?}"
        );
    }
}
