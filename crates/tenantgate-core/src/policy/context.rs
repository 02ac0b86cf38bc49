//! The tenant context of a request: which tenant its host, path templates and tenant header
//! name. The path and the header are client-controlled, so they never choose the tenant: every
//! source present must agree with the others and, once a token is verified, with its tenant.

use std::collections::BTreeSet;

use crate::config::{syntax::TENANT_PLACEHOLDER, ContextSource};
use crate::denial::Denial;

/// A compiled path template such as `/tenants/{tenant}/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    /// Ends with `**`: any number of further segments, none included.
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: any one segment.
    Any,
    /// `{tenant}`: any one segment, captured.
    Tenant,
}

impl PathTemplate {
    /// Parses a template. The error says what is wrong, without the field path.
    pub fn parse(template: &str) -> Result<PathTemplate, String> {
        let count = template.matches(TENANT_PLACEHOLDER).count();
        if count != 1 {
            return Err(format!(
                "{template:?} must contain {TENANT_PLACEHOLDER} exactly once (found {count})"
            ));
        }
        let Some(body) = template.strip_prefix('/') else {
            return Err(format!("{template:?} must start with '/'"));
        };
        if template.contains(['?', '#']) {
            return Err(format!(
                "{template:?} must not contain '?' or '#': templates match the path without the \
                 query"
            ));
        }
        // The template with its placeholder filled must be a normalized path, or no request
        // (which is matched normalized) could ever match it.
        let filled = template.replace(TENANT_PLACEHOLDER, "t");
        match crate::policy::path::normalize(&filled) {
            Ok(normal) if normal == filled => {}
            _ => {
                return Err(format!(
                    "{template:?} is not in normalized form (no '.', '..', empty segments or \
                     escapes of unreserved characters), so no request could match it"
                ))
            }
        }
        let parts: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut rest = false;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let segment = match *part {
                TENANT_PLACEHOLDER => Segment::Tenant,
                "*" => Segment::Any,
                "**" if last => {
                    rest = true;
                    continue;
                }
                "**" => return Err(format!("{template:?}: `**` may only be the last segment")),
                p if p.contains(TENANT_PLACEHOLDER) => {
                    return Err(format!(
                        "{template:?}: {TENANT_PLACEHOLDER} must be a whole segment, not part of \
                         {p:?}"
                    ))
                }
                p if p.contains('*') => {
                    return Err(format!(
                        "{template:?}: `*` and `**` must be whole segments (found in {p:?})"
                    ))
                }
                p => Segment::Literal(p.to_owned()),
            };
            segments.push(segment);
        }
        Ok(PathTemplate { segments, rest })
    }

    /// The tenant segment of a normalized path, when the path has this template's shape. The
    /// segment is returned as it is, for an exact comparison: it is not checked to be a
    /// tenant id, so `ACME` or `acme;v=1` names no tenant the token can have.
    pub fn tenant_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        let mut parts = path.strip_prefix('/')?.split('/');
        let mut tenant = None;
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Literal(literal) if literal != part => return None,
                Segment::Literal(_) | Segment::Any => {}
                Segment::Tenant => tenant = Some(part),
            }
        }
        if !self.rest && parts.next().is_some() {
            return None;
        }
        tenant
    }
}

/// The tenant sources in force for one route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub paths: Vec<PathTemplate>,
    /// Lower-case header name.
    pub header: Option<String>,
    pub required: Vec<ContextSource>,
}

/// One source that named a tenant on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named<'r> {
    pub source: ContextSource,
    /// The index of the path template that matched (0 for the host and the header).
    pub index: usize,
    pub tenant: &'r str,
}

impl Sources {
    /// Every source that names a tenant on this request, in the order host, paths, header.
    pub fn named<'r>(
        &'r self,
        host_tenant: Option<&'r str>,
        path: &'r str,
        headers: &'r [(&'r str, &'r str)],
    ) -> Vec<Named<'r>> {
        let host = host_tenant.map(|tenant| Named {
            source: ContextSource::Host,
            index: 0,
            tenant,
        });
        let paths = self.paths.iter().enumerate().filter_map(|(index, t)| {
            t.tenant_of(path).map(|tenant| Named {
                source: ContextSource::Path,
                index,
                tenant,
            })
        });
        let header = self.header.as_deref().into_iter().flat_map(|name| {
            headers
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, tenant)| Named {
                    source: ContextSource::Header,
                    index: 0,
                    tenant,
                })
        });
        host.into_iter().chain(paths).chain(header).collect()
    }

    /// The one tenant the request names, `None` when it names none. Sources that disagree:
    /// `tenant_mismatch`; a required source absent: `tenant_context_missing`.
    pub fn resolve<'r>(
        &'r self,
        host_tenant: Option<&'r str>,
        path: &'r str,
        headers: &'r [(&'r str, &'r str)],
    ) -> Result<Option<&'r str>, Denial> {
        let named = self.named(host_tenant, path, headers);
        let first = named.first().map(|n| n.tenant);
        if named.iter().any(|n| Some(n.tenant) != first) {
            return Err(Denial::TenantMismatch);
        }
        let present = |source| named.iter().any(|n| n.source == source);
        if !self.required.iter().all(|r| present(*r)) {
            return Err(Denial::TenantContextMissing);
        }
        Ok(first)
    }
}

/// The compiled tenant context of a configuration: the global sources, each route's own, and
/// the shared hosts.
#[derive(Debug, Clone, Default)]
pub struct ContextPolicy {
    global: Sources,
    /// One per route rule, `None` where the rule has no `tenant_context` of its own.
    routes: Vec<Option<Sources>>,
    /// Normalized shared hosts.
    shared_hosts: BTreeSet<String>,
}

impl ContextPolicy {
    pub fn new(
        global: Sources,
        routes: Vec<Option<Sources>>,
        shared_hosts: BTreeSet<String>,
    ) -> ContextPolicy {
        ContextPolicy {
            global,
            routes,
            shared_hosts,
        }
    }

    /// Whether a normalized host serves every tenant (it names none).
    pub fn is_shared(&self, host: &str) -> bool {
        self.shared_hosts.contains(host)
    }

    /// The sources in force for a route rule (`None`: the default requirement).
    pub fn sources(&self, rule: Option<usize>) -> &Sources {
        rule.and_then(|i| self.routes.get(i))
            .and_then(Option::as_ref)
            .unwrap_or(&self.global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's header list, names lower case.
    type Headers<'a> = [(&'a str, &'a str)];

    fn t(template: &str) -> PathTemplate {
        PathTemplate::parse(template).expect("valid template")
    }

    #[test]
    fn templates_capture_one_whole_segment() {
        let rest = t("/tenants/{tenant}/**");
        assert_eq!(rest.tenant_of("/tenants/acme/invoices/7"), Some("acme"));
        assert_eq!(rest.tenant_of("/tenants/acme"), Some("acme"));
        assert_eq!(rest.tenant_of("/tenants/acme/"), Some("acme"));
        assert_eq!(rest.tenant_of("/tenants/ACME/x"), Some("ACME"));
        assert_eq!(rest.tenant_of("/tenants/acme;v=1/x"), Some("acme;v=1"));
        assert_eq!(rest.tenant_of("/tenants"), None);
        assert_eq!(rest.tenant_of("/tenant/acme"), None);
        assert_eq!(rest.tenant_of("/api/tenants/acme"), None);
        assert_eq!(rest.tenant_of("tenants/acme"), None);

        let fixed = t("/t/{tenant}/items/*");
        assert_eq!(fixed.tenant_of("/t/acme/items/1"), Some("acme"));
        assert_eq!(fixed.tenant_of("/t/acme/items"), None);
        assert_eq!(fixed.tenant_of("/t/acme/items/1/2"), None);
        assert_eq!(fixed.tenant_of("/t/acme/other/1"), None);

        let root = t("/{tenant}");
        assert_eq!(root.tenant_of("/acme"), Some("acme"));
        assert_eq!(
            root.tenant_of("/"),
            Some(""),
            "an empty segment names no tenant"
        );
        assert_eq!(root.tenant_of("/acme/x"), None);
    }

    /// What the fuzz target `tenant_context` checks at random: a template matches exactly what
    /// the route glob with `{tenant}` as `*` matches.
    #[test]
    fn templates_match_what_their_glob_twin_matches() {
        let templates = [
            "/tenants/{tenant}/**",
            "/t/{tenant}/items/*",
            "/{tenant}",
            "/*/{tenant}/**",
        ];
        let paths = [
            "/",
            "/tenants",
            "/tenants/",
            "/tenants/acme",
            "/tenants/acme/",
            "/tenants/acme/a/b",
            "/t/acme/items",
            "/t/acme/items/",
            "/t/acme/items/1",
            "/t/acme/items/1/2",
            "/acme",
            "/acme/",
            "/x/acme",
            "/x/y/z",
        ];
        for template in templates {
            let twin =
                crate::policy::routes::Glob::compile(&template.replace(TENANT_PLACEHOLDER, "*"))
                    .expect("valid glob");
            for path in paths {
                assert_eq!(
                    t(template).tenant_of(path).is_some(),
                    twin.matches(path),
                    "{template} {path}"
                );
            }
        }
    }

    #[test]
    fn malformed_templates_are_refused_with_why() {
        let cases = [
            ("/tenants/*/**", "exactly once (found 0)"),
            ("/t/{tenant}/{tenant}", "exactly once (found 2)"),
            ("tenants/{tenant}", "must start with '/'"),
            (
                "/t/x{tenant}/**",
                "whole segment, not part of \"x{tenant}\"",
            ),
            ("/t/{tenant}/**/x", "`**` may only be the last segment"),
            ("/t*/{tenant}", "must be whole segments"),
            ("/t/../{tenant}", "not in normalized form"),
            ("/t//{tenant}", "not in normalized form"),
            ("/%74/{tenant}", "not in normalized form"),
            ("/t/{tenant}?x", "'?' or '#'"),
        ];
        for (template, needle) in cases {
            let err = PathTemplate::parse(template).expect_err(template);
            assert!(err.contains(needle), "{template}: {err}");
        }
    }

    fn sources(required: &[ContextSource]) -> Sources {
        Sources {
            paths: vec![t("/tenants/{tenant}/**"), t("/t/{tenant}/**")],
            header: Some("x-tenant".into()),
            required: required.to_vec(),
        }
    }

    #[test]
    fn every_present_source_must_agree() {
        let s = sources(&[]);
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            s.resolve(Some("acme"), "/tenants/acme/x", &none),
            Ok(Some("acme"))
        );
        assert_eq!(s.resolve(None, "/api/x", &none), Ok(None));
        assert_eq!(s.resolve(None, "/t/globex", &none), Ok(Some("globex")));
        let cases: [(Option<&str>, &str, &Headers); 4] = [
            (Some("acme"), "/tenants/globex/x", &[]),
            (Some("acme"), "/x", &[("x-tenant", "globex")]),
            (None, "/t/acme", &[("x-tenant", "globex")]),
            (None, "/x", &[("x-tenant", "acme"), ("x-tenant", "globex")]),
        ];
        for (host, path, headers) in cases {
            let got = s.resolve(host, path, headers);
            assert_eq!(
                got,
                Err(Denial::TenantMismatch),
                "{host:?} {path} {headers:?}"
            );
        }
        // An empty header is present: it names "", which no token's tenant is.
        assert_eq!(s.resolve(None, "/x", &[("x-tenant", "")]), Ok(Some("")));
        let agreeing = [("x-tenant", "acme"), ("X-Other", "globex")];
        assert_eq!(
            s.resolve(Some("acme"), "/t/acme/x", &agreeing),
            Ok(Some("acme"))
        );
        let named = s.named(Some("acme"), "/t/acme/x", &agreeing);
        let found: Vec<(ContextSource, usize)> =
            named.iter().map(|n| (n.source, n.index)).collect();
        assert_eq!(
            found,
            [
                (ContextSource::Host, 0),
                (ContextSource::Path, 1),
                (ContextSource::Header, 0)
            ]
        );
    }

    #[test]
    fn required_sources_must_be_present() {
        let s = sources(&[ContextSource::Header, ContextSource::Host]);
        let header = [("x-tenant", "acme")];
        assert_eq!(s.resolve(Some("acme"), "/x", &header), Ok(Some("acme")));
        assert_eq!(
            s.resolve(Some("acme"), "/x", &[]),
            Err(Denial::TenantContextMissing)
        );
        assert_eq!(
            s.resolve(None, "/x", &header),
            Err(Denial::TenantContextMissing)
        );
        // A disagreement is reported as such, even when a required source is missing too.
        assert_eq!(
            s.resolve(None, "/t/globex", &header),
            Err(Denial::TenantMismatch)
        );
    }

    #[test]
    fn routes_replace_the_global_sources() {
        let own = Sources {
            header: Some("x-org".into()),
            ..Sources::default()
        };
        let policy = ContextPolicy::new(
            sources(&[]),
            vec![None, Some(own.clone())],
            BTreeSet::from(["api.example.com".to_owned()]),
        );
        assert_eq!(policy.sources(None), &sources(&[]));
        assert_eq!(policy.sources(Some(0)), &sources(&[]));
        assert_eq!(policy.sources(Some(1)), &own);
        assert_eq!(policy.sources(Some(7)), &sources(&[]));
        assert!(policy.is_shared("api.example.com"));
        assert!(!policy.is_shared("acme.example.com"));
    }
}
