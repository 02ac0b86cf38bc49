//! What the configuration tests share: the parser as the filter runs it, and the published
//! schema.

use serde_json::Value;
use tenantgate_core::config;
use tenantgate_core::gate::Gate;

const SCHEMA: &str = include_str!("../../../../docs/tenantgate.schema.json");

/// The parser as the filter runs it: the shape (`config::parse`), then every other check.
pub fn parse(json: &[u8]) -> Result<config::Config, config::ConfigErrors> {
    Gate::from_json(json).map(|gate| gate.config().clone())
}

pub fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

pub fn validator() -> jsonschema::Validator {
    let schema = schema();
    assert!(
        jsonschema::meta::is_valid(&schema),
        "the schema is a valid draft 2020-12 schema"
    );
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

pub fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {}", e.instance_path, e))
        .collect()
}
