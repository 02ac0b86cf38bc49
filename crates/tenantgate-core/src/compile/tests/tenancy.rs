use serde_json::json;

use super::{assert_one_error, errors_of};
use crate::config::tests::{set, with, Tap};

#[test]
fn tenancy_checks() {
    let cases = [
        (
            with("/tenants/Acme", json!({})),
            "tenants.Acme",
            "not a valid tenant id",
        ),
        (
            with("/tenants/acme/hosts", json!(["acme.example.com:443"])),
            "tenants.acme.hosts[0]",
            "carry no port",
        ),
        (
            with("/tenants/acme/hosts", json!(["*.example.com"])),
            "tenants.acme.hosts[0]",
            "wildcards",
        ),
        (
            with("/tenants/acme/hosts", json!(["a..example.com"])),
            "tenants.acme.hosts[0]",
            "1 to 63",
        ),
        (
            with(
                "/tenants/acme/hosts",
                json!(["acme.example.com", "ACME.example.com."]),
            ),
            "tenants.acme.hosts[1]",
            "duplicate host \"acme.example.com\" (also tenants.acme.hosts[0])",
        ),
        (
            with("/tenants/beta/hosts", json!(["Acme.Example.com"])),
            "tenants.beta.hosts[0]",
            "already owned by tenant \"acme\" (tenants.acme.hosts[0])",
        ),
        (
            with("/tenants/beta/hosts", json!(["acme.app.example.com"])),
            "tenants.beta.hosts[0]",
            "also the host of tenant \"acme\" through host_templates[0]",
        ),
        (
            with("/host_templates/0", json!("app.example.com")),
            "host_templates[0]",
            "exactly once",
        ),
        (
            with("/host_templates/0", json!("t{tenant}.example.com")),
            "host_templates[0]",
            "whole label",
        ),
        (
            with("/host_templates/0", json!("{tenant}")),
            "host_templates[0]",
            "at least one label",
        ),
        (
            with("/host_templates/1", json!("{tenant}.APP.example.com")),
            "host_templates[1]",
            "duplicate of host_templates[0]",
        ),
        (
            with("/allow_unlisted_tenants", json!(true))
                .tap(|d| set(d, "/host_templates", json!([]))),
            "allow_unlisted_tenants",
            "has no effect without host_templates",
        ),
    ];
    for (doc, path, needle) in cases {
        assert_one_error(doc, path, needle);
    }
    // The template does not reach an unlisted tenant unless allowed, so this host is fine...
    let doc = with("/tenants/beta/hosts", json!(["gamma.app.example.com"]));
    assert!(errors_of(&doc).is_empty(), "{:?}", errors_of(&doc));
    // ...but with unlisted tenants allowed, gamma.app.example.com is tenant gamma's.
    let mut doc = doc;
    set(&mut doc, "/allow_unlisted_tenants", json!(true));
    assert_one_error(
        doc,
        "tenants.beta.hosts[0]",
        "tenant \"gamma\" through host_templates[0]",
    );

    // Two templates producing one host for two listed tenants.
    let mut doc = with("/host_templates/1", json!("acme.{tenant}.com"));
    set(&mut doc, "/host_templates/0", json!("{tenant}.beta.com"));
    assert_one_error(
        doc,
        "host_templates[1]",
        "gives host \"acme.beta.com\" to tenant \"beta\"",
    );

    // Overlapping templates are refused when any tenant id may fill them.
    let mut doc = with("/host_templates/1", json!("api.{tenant}.example.com"));
    set(
        &mut doc,
        "/host_templates/0",
        json!("{tenant}.app.example.com"),
    );
    set(&mut doc, "/allow_unlisted_tenants", json!(true));
    assert_one_error(
        doc,
        "host_templates[1]",
        "\"api.app.example.com\" would belong to two tenants",
    );

    // Nobody owns any host.
    let mut doc = with("/host_templates", json!([]));
    set(&mut doc, "/tenants", json!({"acme": {}}));
    assert_one_error(doc, "tenants", "no tenant owns a host");
}
