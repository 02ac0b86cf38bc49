//! docs/idps.md: every ```json block is a whole configuration the filter accepts (parse, then
//! compile), and the page has one for each IdP it names.

use tenantgate_core::gate::Gate;

const DOC: &str = include_str!("../../../docs/idps.md");

fn json_blocks() -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = DOC.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.trim() == "```json" {
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .collect();
            blocks.push((number + 1, body.join("\n")));
        }
    }
    blocks
}

#[test]
fn every_provider_block_compiles() {
    let blocks = json_blocks();
    // One per IdP, and Keycloak's realm through OIDC discovery.
    assert_eq!(blocks.len(), 7, "one block per IdP, and one with discovery");
    for (line, json) in blocks {
        if let Err(errors) = Gate::from_json(json.as_bytes()) {
            panic!("docs/idps.md line {line}: {errors}");
        }
    }
}

#[test]
fn each_idp_has_its_block() {
    for idp in [
        "supertokens",
        "keycloak",
        "entra",
        "auth0",
        "cognito-acme",
        "gcip",
        "acme-keycloak",
    ] {
        let named = format!("\"name\": \"{idp}\"");
        assert!(
            json_blocks().iter().any(|(_, json)| json.contains(&named)),
            "no provider block for {idp}"
        );
    }
}
