//! docs/configuration.md and docs/tenantgate.schema.json against the real parser.
//!
//! Every ```json block of the page is a whole configuration. Valid ones must pass the schema and
//! the parser (`Gate::from_json`: parse, then compile). A block after a `<!-- invalid -->` line must be refused by the parser with
//! exactly the text of the ```text block that follows it. The schema's agreement with the parser
//! is checked in `config_schema.rs`.

mod common;

use serde_json::Value;

use common::{parse, schema_errors, validator};

const DOC: &str = include_str!("../../../docs/configuration.md");
const INVALID_MARK: &str = "<!-- invalid -->";

struct Example {
    line: usize,
    json: String,
    /// For an invalid example, the documented error text.
    expected_error: Option<String>,
}

/// Fenced blocks as (language, first line number, body).
fn fenced_blocks(doc: &str) -> Vec<(String, usize, String, bool)> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let marked = previous.trim() == INVALID_MARK;
            let mut body = String::new();
            for (_, inner) in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            blocks.push((lang.trim().to_owned(), number + 1, body, marked));
            previous = "";
            continue;
        }
        previous = line;
    }
    blocks
}

fn examples() -> Vec<Example> {
    let blocks = fenced_blocks(DOC);
    let mut out = Vec::new();
    for (i, (lang, line, body, marked)) in blocks.iter().enumerate() {
        if lang != "json" {
            assert!(
                !marked,
                "line {line}: {INVALID_MARK} must precede a ```json block"
            );
            continue;
        }
        let expected_error = marked.then(|| {
            let (next_lang, _, text, _) = blocks
                .get(i + 1)
                .unwrap_or_else(|| panic!("line {line}: an invalid example needs a ```text block"));
            assert_eq!(
                next_lang, "text",
                "line {line}: the error follows as ```text"
            );
            text.trim_end().to_owned()
        });
        out.push(Example {
            line: *line,
            json: body.clone(),
            expected_error,
        });
    }
    out
}

#[test]
fn documented_examples_pass_or_fail_as_documented() {
    let validator = validator();
    let examples = examples();
    let valid = examples
        .iter()
        .filter(|e| e.expected_error.is_none())
        .count();
    assert!(valid >= 4, "a full example and the smaller ones");
    assert!(
        examples.len() - valid >= 3,
        "invalid examples with their errors"
    );
    let mut failures = Vec::new();
    for example in &examples {
        let parsed = parse(example.json.as_bytes());
        match (&example.expected_error, parsed) {
            (None, Ok(_)) => {
                let instance: Value = serde_json::from_str(&example.json).expect("JSON");
                let errors = schema_errors(&validator, &instance);
                if !errors.is_empty() {
                    failures.push(format!(
                        "line {}: schema refuses a valid example: {errors:?}",
                        example.line
                    ));
                }
            }
            (None, Err(errors)) => failures.push(format!(
                "line {}: parser refuses a valid example:\n{errors}",
                example.line
            )),
            (Some(expected), Ok(_)) => failures.push(format!(
                "line {}: parser accepts an invalid example (documented: {expected})",
                example.line
            )),
            (Some(expected), Err(errors)) => {
                if errors.to_string() != *expected {
                    failures.push(format!(
                        "line {}: documented error differs.\n--- documented\n{expected}\n--- actual\n{errors}",
                        example.line
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The modulus of a 2048-bit RSA public key (base64url), for inline key sets.
#[test]
fn the_demo_filter_configuration_passes_both() {
    let json = include_str!("../../../envoy/tenantgate.json");
    let instance: Value = serde_json::from_str(json).expect("envoy/tenantgate.json is JSON");
    assert_eq!(schema_errors(&validator(), &instance), Vec::<String>::new());
    let config = parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.providers.is_empty() && !config.routes.is_empty());
}
