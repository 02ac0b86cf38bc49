//! The `directory` section: each wrong field at its path.

use serde_json::{json, Value};

use super::{assert_one_error, errors_of};
use crate::config::tests::base;

/// `base()` with a valid directory section, one member replaced.
fn directory(member: &str, value: Value) -> Value {
    let mut doc = base();
    doc["directory"] = json!({
        "provider": "corp",
        "remote": {"cluster": "issuer", "uri": "http://issuer.internal/v1/directory"},
        "idp_clusters": ["egress"]
    });
    if let Some((outer, inner)) = member.split_once('.') {
        doc["directory"][outer][inner] = value;
    } else if !member.is_empty() {
        doc["directory"][member] = value;
    }
    doc
}

#[test]
fn a_valid_section_compiles() {
    assert_eq!(
        errors_of(&directory("", json!(null))),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn each_field_is_checked_at_its_path() {
    let cases = [
        (
            directory("provider", json!("nobody")),
            "directory.provider",
            "not the name of a configured provider",
        ),
        (
            directory("remote.cluster", json!("")),
            "directory.remote.cluster",
            "must not be empty",
        ),
        (
            directory("remote.uri", json!("ftp://x/y")),
            "directory.remote.uri",
            "http",
        ),
        (
            directory("remote.uri", json!("http://issuer.internal")),
            "directory.remote.uri",
            "path",
        ),
        (
            directory("remote.timeout_ms", json!(0)),
            "directory.remote.timeout_ms",
            "between 1 and 60000",
        ),
        (
            directory("refresh_seconds", json!(0)),
            "directory.refresh_seconds",
            "between 1 and 86400",
        ),
        (
            directory("max_bytes", json!(100)),
            "directory.max_bytes",
            "between 1024 and 16777216",
        ),
        (
            directory("max_age_seconds", json!(10)),
            "directory.max_age_seconds",
            "between 60 and 31536000",
        ),
        (
            directory("idp_clusters", json!(["egress", "egress"])),
            "directory.idp_clusters[1]",
            "duplicate cluster",
        ),
        (
            directory("idp_clusters", json!([""])),
            "directory.idp_clusters[0]",
            "must not be empty",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
}

#[test]
fn the_signer_needs_an_exact_issuer() {
    let mut doc = directory("", json!(null));
    doc["providers"][0]["issuer"] = json!("https://login.example.com/{tenant}/v2.0");
    assert_one_error(doc, "directory.provider", "issuer template");
}

#[test]
fn shape_errors_name_the_path() {
    let err = errors_of(&directory("refresh", json!(5)));
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].0.starts_with("directory"), "{err:?}");
    assert!(err[0].1.contains("unknown field `refresh`"), "{err:?}");
}
