//! Tenant-context path templates: arbitrary bytes as a template (up to the first NUL), the rest
//! as request paths, one per line. Parsing and matching never panic; a path that matches names
//! one whole segment of the normalized path; and a template matches exactly the paths its
//! route-glob twin (`{tenant}` as `*`) matches, so the two matchers cannot drift apart.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantgate_core::policy::context::PathTemplate;
use tenantgate_core::policy::path;
use tenantgate_core::policy::routes::Glob;

fuzz_target!(|data: &[u8]| {
    let (template, paths) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let template = String::from_utf8_lossy(template);
    let Ok(compiled) = PathTemplate::parse(&template) else {
        return;
    };
    let twin = Glob::compile(&template.replace("{tenant}", "*"))
        .expect("a valid template is a valid glob with {tenant} as *");
    for raw in String::from_utf8_lossy(paths).lines() {
        let Ok(normal) = path::normalize(raw) else {
            continue;
        };
        let tenant = compiled.tenant_of(&normal);
        assert_eq!(
            tenant.is_some(),
            twin.matches(&normal),
            "{template:?} {normal:?}"
        );
        if let Some(tenant) = tenant {
            assert!(!tenant.contains('/'));
            assert!(normal.split('/').any(|segment| segment == tenant));
        }
    }
});
