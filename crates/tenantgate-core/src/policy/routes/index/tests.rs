//! The index against the linear scan it stands for, on random rule sets and paths.

use super::*;
use crate::config::{PathMatch, Requirement};
use crate::policy::routes::RouteTable;

/// xorshift64: deterministic, dependency-free randomness for test inputs.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// `/` and 0 to 3 segments of a small alphabet (so that rules and paths collide often).
    fn path(&mut self, segments: &[&str]) -> String {
        let n = self.below(4);
        let parts: Vec<&str> = (0..n).map(|_| self.pick(segments)).collect();
        format!("/{}", parts.join("/"))
    }

    fn subset(&mut self, from: &[&str]) -> Option<Vec<String>> {
        if self.below(2) == 0 {
            return None;
        }
        let chosen: Vec<String> = from
            .iter()
            .filter(|_| self.below(2) == 0)
            .map(|s| s.to_string())
            .collect();
        (!chosen.is_empty()).then_some(chosen)
    }
}

const SEGMENTS: &[&str] = &["a", "b", "ab", ""];
const GLOB_SEGMENTS: &[&str] = &["a", "b", "*", "a*", "**", ""];
const METHODS: &[&str] = &["GET", "POST"];
const HOSTS: &[&str] = &["x.test", "y.test"];

fn random_rule(rng: &mut Rng) -> Option<Rule> {
    let path = match rng.below(3) {
        0 => PathMatch::Exact(rng.path(SEGMENTS)),
        1 => PathMatch::Prefix(rng.path(SEGMENTS)),
        _ => PathMatch::Glob(rng.path(GLOB_SEGMENTS)),
    };
    // Patterns outside normalized form are refused at compile time; skip them.
    let path = PathMatcher::compile(&path).ok()?;
    Some(Rule {
        path,
        methods: rng.subset(METHODS),
        hosts: rng.subset(HOSTS),
        require: Requirement::Authenticated,
    })
}

#[test]
fn the_index_answers_as_the_linear_scan_on_random_rule_sets() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let odd_paths = ["", "a", "a/b", "//", "/a//b", "/a/", "/ab/"];
    for _ in 0..3_000 {
        let count = rng.below(30);
        let rules: Vec<Rule> = (0..count).filter_map(|_| random_rule(&mut rng)).collect();
        let table = RouteTable::new(rules);
        for _ in 0..40 {
            let path = if rng.below(8) == 0 {
                rng.pick(&odd_paths).to_string()
            } else {
                rng.path(SEGMENTS)
            };
            let method = rng.pick(&["GET", "POST", "PUT"]);
            let host = rng.pick(&["x.test", "y.test", "z.test"]);
            assert_eq!(
                table.lookup(method, host, &path),
                table.lookup_linear(method, host, &path),
                "{method} {host} {path} in {:#?}",
                table.rules
            );
        }
    }
}

fn prefix(path: &str) -> Rule {
    Rule {
        path: PathMatcher::compile(&PathMatch::Prefix(path.into())).expect("valid"),
        methods: None,
        hosts: None,
        require: Requirement::Authenticated,
    }
}

/// How many rules a lookup of `path` would try at most.
fn tried(index: &RouteIndex, path: &str) -> usize {
    let mut n = 0;
    index.candidates(path, |list| n += list.len());
    n
}

#[test]
fn a_lookup_tries_the_rules_of_its_path_not_every_rule() {
    let mut rules: Vec<Rule> = (0..1000).map(|i| prefix(&format!("/svc{i}/v1"))).collect();
    rules.push(Rule {
        path: PathMatcher::compile(&PathMatch::Exact("/health".into())).expect("valid"),
        ..prefix("/")
    });
    rules.push(Rule {
        path: PathMatcher::compile(&PathMatch::Glob("/files/*/raw".into())).expect("valid"),
        ..prefix("/")
    });
    rules.push(prefix("/api"));
    let table = RouteTable::new(rules);
    let index = &table.index;
    assert_eq!(tried(index, "/api/bench"), 1);
    assert_eq!(tried(index, "/svc999/v1/x"), 1);
    assert_eq!(tried(index, "/health"), 1);
    assert_eq!(tried(index, "/files/a/raw"), 1);
    assert_eq!(tried(index, "/nothing/here"), 0);
    assert_eq!(
        table.lookup("GET", "h", "/api/bench").map(|(i, _)| i),
        Some(1002)
    );
    assert_eq!(
        table.lookup("GET", "h", "/svc999/v1").map(|(i, _)| i),
        Some(999)
    );
    assert_eq!(table.lookup("GET", "h", "/svc999/v2"), None);
    assert_eq!(
        table.lookup("GET", "h", "/files/x/raw").map(|(i, _)| i),
        Some(1001)
    );
}

#[test]
fn globs_that_start_with_a_wildcard_are_tried_for_every_path() {
    let glob = |p: &str| Rule {
        path: PathMatcher::compile(&PathMatch::Glob(p.into())).expect("valid"),
        ..prefix("/")
    };
    let table = RouteTable::new(vec![glob("/**/admin"), prefix("/api"), glob("/*/x")]);
    assert_eq!(tried(&table.index, "/api/admin"), 3);
    assert_eq!(
        table.lookup("GET", "h", "/api/admin").map(|(i, _)| i),
        Some(0)
    );
    assert_eq!(table.lookup("GET", "h", "/api/x").map(|(i, _)| i), Some(1));
    assert_eq!(table.lookup("GET", "h", "/b/x").map(|(i, _)| i), Some(2));
}
