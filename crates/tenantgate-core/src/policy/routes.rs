//! The compiled route table: ordered rules, first match wins. Lookups go through an index
//! ([`index`]) that gives the linear scan's answer without trying every rule, and allocate nothing.

mod index;

use crate::config::{PathMatch, Requirement};
use index::RouteIndex;

/// How one rule matches a normalized path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatcher {
    /// The whole path.
    Exact(String),
    /// The prefix without its trailing `/` (empty for `/`): matches itself and anything that
    /// continues with `/`.
    Prefix(String),
    Glob(Glob),
}

/// A glob compiled into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    segments: Vec<GlobSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobSegment {
    /// `**`: zero or more whole segments.
    Any,
    /// One segment; `*` in it matches zero or more characters of that segment.
    Pattern(String),
}

impl PathMatcher {
    /// Compiles a rule's path. The error says what is wrong, without the field path.
    ///
    /// Patterns must be in normalized form (see [`crate::policy::path::normalize`]): requests are
    /// matched after normalization, so `/a/../b` or `/%7Euser` in a rule could never match.
    pub fn compile(path: &PathMatch) -> Result<PathMatcher, String> {
        match path {
            PathMatch::Exact(p) => {
                check_literal(p)?;
                Ok(PathMatcher::Exact(p.clone()))
            }
            PathMatch::Prefix(p) => {
                check_literal(p)?;
                Ok(PathMatcher::Prefix(p.trim_end_matches('/').to_owned()))
            }
            PathMatch::Glob(p) => Glob::compile(p).map(PathMatcher::Glob),
        }
    }

    /// Whether a normalized path matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Exact(p) => path == p,
            PathMatcher::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            PathMatcher::Glob(g) => g.matches(path),
        }
    }
}

fn check_literal(p: &str) -> Result<(), String> {
    if p.contains('*') {
        return Err(format!(
            "{p:?}: `*` is literal in exact and prefix paths; use {{\"glob\": ...}} for wildcards"
        ));
    }
    check_normalized(p)
}

/// A pattern must start with `/` and be its own normalization (`*` passes through unchanged).
fn check_normalized(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} must start with '/'"));
    }
    if p.contains(['?', '#']) {
        return Err(format!(
            "{p:?} must not contain '?' or '#': rules match the path without the query"
        ));
    }
    match crate::policy::path::normalize(p) {
        Ok(normal) if normal == p => Ok(()),
        Ok(normal) => Err(format!(
            "{p:?} is not in normalized form, so no request could match it; write {normal:?}"
        )),
        Err(_) => Err(format!(
            "{p:?} is a path every request is refused for (encoded '/' or '\\', control \
             characters, a malformed escape or '..' above the root)"
        )),
    }
}

impl Glob {
    /// `*` matches within one segment; `**` must be a whole segment.
    pub fn compile(pattern: &str) -> Result<Glob, String> {
        check_normalized(pattern)?;
        let segments = pattern
            .get(1..)
            .unwrap_or_default()
            .split('/')
            .map(|segment| {
                if segment == "**" {
                    Ok(GlobSegment::Any)
                } else if segment.contains("**") {
                    Err(format!(
                        "{pattern:?}: `**` must be a whole segment (found in {segment:?}); use `*` within a segment"
                    ))
                } else {
                    Ok(GlobSegment::Pattern(segment.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Glob { segments })
    }

    /// The segments before the first one with a wildcard: every path the glob matches starts
    /// with them.
    fn literal_segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().map_while(|segment| match segment {
            GlobSegment::Pattern(p) if !p.contains('*') => Some(p.as_str()),
            _ => None,
        })
    }

    /// Wildcard matching over segments with one backtracking point (the last `**` seen), which
    /// is exact for patterns whose other elements each match exactly one segment: O(n·m), no
    /// recursion, no allocation.
    pub fn matches(&self, path: &str) -> bool {
        let Some(text) = path.strip_prefix('/') else {
            return false;
        };
        let mut p = 0;
        // Start of the next unmatched segment; `None` once every segment is matched.
        let mut t = Some(0);
        // (pattern index after the last `**`, text position that `**` would absorb next)
        let mut star: Option<(usize, usize)> = None;
        loop {
            let Some(pos) = t else {
                return self
                    .segments
                    .get(p..)
                    .is_some_and(|rest| rest.iter().all(|s| *s == GlobSegment::Any));
            };
            let (segment, next) = segment_at(text, pos);
            match self.segments.get(p) {
                Some(GlobSegment::Any) => {
                    star = Some((p + 1, pos));
                    p += 1;
                    continue;
                }
                Some(GlobSegment::Pattern(pattern)) if segment_matches(pattern, segment) => {
                    p += 1;
                    t = next;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((after_star, absorbed)) => {
                    // Let the last `**` absorb one more segment and retry after it; once it has
                    // absorbed everything, the loop head checks that only `**` remain.
                    let (_, next_absorbed) = segment_at(text, absorbed);
                    p = after_star;
                    t = next_absorbed;
                    if let Some(next) = next_absorbed {
                        star = Some((after_star, next));
                    }
                }
                None => return false,
            }
        }
    }
}

/// The segment starting at `pos` and the start of the one after it.
fn segment_at(text: &str, pos: usize) -> (&str, Option<usize>) {
    let rest = text.get(pos..).unwrap_or_default();
    match rest.find('/') {
        Some(slash) => (rest.get(..slash).unwrap_or_default(), Some(pos + slash + 1)),
        None => (rest, None),
    }
}

/// `*` matches zero or more bytes; everything else literally. Same one-backtrack algorithm.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == segment;
    }
    let (pat, text) = (pattern.as_bytes(), segment.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pat.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p + 1, t));
                p += 1;
            }
            (Some(a), Some(b)) if a == b => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((after_star, absorbed)) => {
                    p = after_star;
                    t = absorbed + 1;
                    star = Some((after_star, absorbed + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'*'))
}

/// One compiled rule (built by [`crate::compile`]).
#[derive(Debug, Clone)]
pub struct Rule {
    pub path: PathMatcher,
    /// Upper-case methods; all when `None`.
    pub methods: Option<Vec<String>>,
    /// Normalized (lower-case) host names; all when `None`.
    pub hosts: Option<Vec<String>>,
    pub require: Requirement,
}

impl Rule {
    /// Whether the rule matches the method, the normalized host and the normalized path.
    pub fn accepts(&self, method: &str, host: &str, path: &str) -> bool {
        let method_ok = self
            .methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method));
        let host_ok = self
            .hosts
            .as_ref()
            .is_none_or(|hosts| hosts.iter().any(|h| h == host));
        method_ok && host_ok && self.path.matches(path)
    }
}

/// Ordered route rules.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    rules: Vec<Rule>,
    index: RouteIndex,
}

impl RouteTable {
    /// The table of compiled rules, in configuration order.
    pub fn new(rules: Vec<Rule>) -> RouteTable {
        let index = RouteIndex::new(&rules);
        RouteTable { rules, index }
    }

    /// The first rule matching the method, the normalized host and the normalized path, with
    /// its index in `routes`.
    pub fn lookup(&self, method: &str, host: &str, path: &str) -> Option<(usize, &Requirement)> {
        let index = self.index.lookup(&self.rules, method, host, path)?;
        self.rules.get(index).map(|rule| (index, &rule.require))
    }

    /// [`RouteTable::lookup`] by trying every rule in order: the definition the index keeps to.
    pub fn lookup_linear(
        &self,
        method: &str,
        host: &str,
        path: &str,
    ) -> Option<(usize, &Requirement)> {
        let mut rules = self.rules.iter().enumerate();
        rules
            .find(|(_, rule)| rule.accepts(method, host, path))
            .map(|(index, rule)| (index, &rule.require))
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The JSON key of a path match, for error paths.
pub fn path_kind(path: &PathMatch) -> &'static str {
    match path {
        PathMatch::Exact(_) => "exact",
        PathMatch::Prefix(_) => "prefix",
        PathMatch::Glob(_) => "glob",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleRequirement;

    fn glob(p: &str) -> Glob {
        Glob::compile(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn glob_matching() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "/api/*",
                &["/api/x", "/api/", "/api/abc"],
                &["/api", "/api/x/y", "/apix"],
            ),
            (
                "/api/**",
                &["/api", "/api/", "/api/x", "/api/x/y/z"],
                &["/apix", "/ap", "/"],
            ),
            ("/**", &["/", "/a", "/a/b/c"], &[]),
            ("/**/x", &["/x", "/a/x", "/a/b/x"], &["/", "/a/xy", "/x/a"]),
            (
                "/a/**/b/**/c",
                &["/a/b/c", "/a/x/b/y/c", "/a/b/b/c", "/a/x/y/b/c/c"],
                &["/a/c", "/a/b", "/a/b/c/d", "/b/c"],
            ),
            (
                "/v*/users",
                &["/v1/users", "/v/users", "/v22/users"],
                &["/x1/users", "/v1/x/users"],
            ),
            (
                "/files/*.pdf",
                &["/files/a.pdf", "/files/.pdf", "/files/a.b.pdf"],
                &["/files/a.pdfx", "/files/a/b.pdf"],
            ),
            (
                "/a*b*c",
                &["/abc", "/aXbYc", "/abbbc", "/acbc"],
                &["/ab", "/acb", "/aXbYcZ"],
            ),
            (
                "/tenants/*/admin/**",
                &["/tenants/t1/admin", "/tenants/t1/admin/x/y"],
                &["/tenants/admin", "/tenants/t1/x/admin"],
            ),
            ("/x/", &["/x/"], &["/x", "/x/y"]),
            ("/", &["/"], &["/a"]),
        ];
        for (pattern, yes, no) in cases {
            let g = glob(pattern);
            for path in *yes {
                assert!(g.matches(path), "{pattern} should match {path}");
            }
            for path in *no {
                assert!(!g.matches(path), "{pattern} should not match {path}");
            }
        }
    }

    #[test]
    fn glob_matching_is_linear_enough_for_hostile_paths() {
        let g = glob("/**/a/**/a/**/a/**/b");
        let path = "/a".repeat(2000);
        assert!(!g.matches(&path));
        let s = glob(&format!("/{}b", "*a".repeat(20)));
        assert!(!s.matches(&format!("/{}", "a".repeat(4000))));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for (path, needle) in [
            (PathMatch::Glob("api/*".into()), "must start with '/'"),
            (PathMatch::Glob("/api/a**".into()), "whole segment"),
            (PathMatch::Glob("/api/***".into()), "whole segment"),
            (PathMatch::Glob("/api//x".into()), "normalized form"),
            (PathMatch::Exact("/a/../b".into()), "write \"/b\""),
            (PathMatch::Exact("/%7euser".into()), "write \"/~user\""),
            (PathMatch::Prefix("/a%2fb".into()), "refused"),
            (PathMatch::Prefix("/api/*".into()), "use {\"glob\""),
            (PathMatch::Exact("/api?x=1".into()), "query"),
            (PathMatch::Exact("".into()), "must start with '/'"),
        ] {
            let err = PathMatcher::compile(&path).expect_err("refused");
            assert!(err.contains(needle), "{path:?}: {err}");
        }
    }

    #[test]
    fn prefix_matches_on_segment_boundaries() {
        for prefix in ["/api", "/api/"] {
            let m = PathMatcher::compile(&PathMatch::Prefix(prefix.into())).expect("valid");
            assert!(m.matches("/api"));
            assert!(m.matches("/api/"));
            assert!(m.matches("/api/x/y"));
            assert!(!m.matches("/apix"));
            assert!(!m.matches("/ap"));
            assert!(!m.matches("/"));
        }
        let root = PathMatcher::compile(&PathMatch::Prefix("/".into())).expect("valid");
        assert!(root.matches("/") && root.matches("/anything/at/all"));
        let exact = PathMatcher::compile(&PathMatch::Exact("/api".into())).expect("valid");
        assert!(exact.matches("/api") && !exact.matches("/api/"));
    }

    fn route(
        path: PathMatch,
        methods: Option<&[&str]>,
        hosts: Option<&[&str]>,
        require: Requirement,
    ) -> Rule {
        Rule {
            path: PathMatcher::compile(&path).expect("valid"),
            methods: methods.map(|m| m.iter().map(|s| s.to_string()).collect()),
            hosts: hosts.map(|h| h.iter().map(|s| s.to_ascii_lowercase()).collect()),
            require,
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let admin = Requirement::Roles(RoleRequirement {
            any_of: vec!["admin".into()],
            all_of: vec![],
        });
        let table = RouteTable::new(vec![
            route(
                PathMatch::Exact("/health".into()),
                Some(&["GET"]),
                None,
                Requirement::Public,
            ),
            route(
                PathMatch::Prefix("/admin".into()),
                None,
                Some(&["Admin.Example.com"]),
                admin.clone(),
            ),
            route(
                PathMatch::Prefix("/admin".into()),
                None,
                None,
                Requirement::Deny,
            ),
            route(
                PathMatch::Glob("/api/**".into()),
                Some(&["GET", "HEAD"]),
                None,
                Requirement::Authenticated,
            ),
        ]);
        assert_eq!(table.len(), 4);
        assert_eq!(
            table.lookup("GET", "a.example.com", "/health"),
            Some((0, &Requirement::Public))
        );
        assert_eq!(table.lookup("POST", "a.example.com", "/health"), None);
        assert_eq!(
            table.lookup("GET", "admin.example.com", "/admin/x"),
            Some((1, &admin))
        );
        assert_eq!(
            table.lookup("GET", "a.example.com", "/admin/x"),
            Some((2, &Requirement::Deny))
        );
        assert_eq!(
            table.lookup("HEAD", "a.example.com", "/api/v1"),
            Some((3, &Requirement::Authenticated))
        );
        assert_eq!(table.lookup("DELETE", "a.example.com", "/api/v1"), None);
        assert_eq!(table.lookup("get", "a.example.com", "/api/v1"), None);
        assert_eq!(table.lookup("GET", "a.example.com", "/other"), None);
    }
}

#[cfg(test)]
mod differential {
    use super::*;

    /// The obvious exponential matcher, as the reference for the linear one.
    fn reference(glob: &[&str], path: &[&str]) -> bool {
        match glob.split_first() {
            None => path.is_empty(),
            Some((&"**", rest)) => (0..=path.len())
                .any(|skip| path.get(skip..).is_some_and(|tail| reference(rest, tail))),
            Some((segment, rest)) => path.split_first().is_some_and(|(first, tail)| {
                reference_segment(segment.as_bytes(), first.as_bytes()) && reference(rest, tail)
            }),
        }
    }

    fn reference_segment(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len())
                .any(|skip| text.get(skip..).is_some_and(|t| reference_segment(rest, t))),
            Some((c, rest)) => text
                .split_first()
                .is_some_and(|(t, tail)| t == c && reference_segment(rest, tail)),
        }
    }

    /// xorshift64: deterministic, dependency-free randomness for test inputs.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
        fn segment(&mut self, alphabet: &[&str]) -> String {
            (0..self.below(4))
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    #[test]
    fn glob_agrees_with_the_reference_matcher() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let glob_segments: Vec<String> = (0..1 + rng.below(5))
                .map(|_| match rng.below(4) {
                    0 => "**".to_owned(),
                    _ => rng.segment(&["a", "b", "*"]).replace("**", "*"),
                })
                .collect();
            let path_segments: Vec<String> = (0..1 + rng.below(6))
                .map(|_| rng.segment(&["a", "b"]))
                .collect();
            let pattern = format!("/{}", glob_segments.join("/"));
            let path = format!("/{}", path_segments.join("/"));
            // Patterns and paths outside normalized form are refused elsewhere.
            let (Ok(glob), Ok(normal)) = (
                Glob::compile(&pattern),
                crate::policy::path::normalize(&path),
            ) else {
                continue;
            };
            if normal != path {
                continue;
            }
            let g: Vec<&str> = glob_segments.iter().map(String::as_str).collect();
            let p: Vec<&str> = path_segments.iter().map(String::as_str).collect();
            assert_eq!(
                glob.matches(&path),
                reference(&g, &p),
                "{pattern} vs {path}"
            );
        }
    }
}
