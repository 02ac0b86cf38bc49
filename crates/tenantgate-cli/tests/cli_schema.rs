//! `tenantgate schema` and the checked-in docs/tenantgate.schema.json: one is generated from the
//! configuration types, the other must be exactly its output.

use std::process::Command;

const CHECKED_IN: &str = include_str!("../../../docs/tenantgate.schema.json");

fn generated() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .arg("schema")
        .output()
        .expect("the tenantgate binary runs");
    assert!(output.status.success(), "exit status {}", output.status);
    assert!(output.stderr.is_empty());
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    assert!(
        generated() == CHECKED_IN,
        "docs/tenantgate.schema.json differs from the schema generated from the configuration \
         types; regenerate it with:\n\n    cargo run -p tenantgate-cli -- schema > docs/tenantgate.schema.json\n"
    );
}

#[test]
fn the_schema_is_draft_2020_12_and_names_every_section() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], serde_json::json!(["providers"]));
    for def in [
        "provider",
        "jwks",
        "remote_jwks",
        "route",
        "requirement",
        "token_source",
    ] {
        assert!(schema["$defs"].get(def).is_some(), "no $defs/{def}");
    }
}
