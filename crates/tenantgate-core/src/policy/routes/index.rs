//! The route table's index: which rules can match a path at all, found without scanning every
//! rule. Exact paths are looked up in a hash map; prefixes, and globs by their literal leading
//! segments, hang in a trie of path segments; only globs that start with a wildcard are tried for
//! every path. Each candidate list is in configuration order, and a candidate is still checked
//! in full ([`Rule::accepts`]), so the answer is the linear scan's: the first rule that matches.
//! The cost of a lookup grows with the path's segments and with the rules that share its
//! segments, not with the number of rules.

use std::collections::HashMap;

use super::{PathMatcher, Rule};
use crate::policy::FixedHasher as Fixed;

#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    /// Exact path → rules, in order.
    exact: HashMap<String, Vec<usize>, Fixed>,
    /// The segment trie; node 0 is the root (`/`).
    trie: Vec<Node>,
    /// Globs whose first segment has a wildcard: candidates for every path.
    anywhere: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: HashMap<String, usize, Fixed>,
    /// Rules whose literal segments end here, in order.
    rules: Vec<usize>,
}

impl RouteIndex {
    pub fn new(rules: &[Rule]) -> RouteIndex {
        let mut index = RouteIndex {
            trie: vec![Node::default()],
            ..RouteIndex::default()
        };
        for (i, rule) in rules.iter().enumerate() {
            match &rule.path {
                PathMatcher::Exact(path) => index.exact.entry(path.clone()).or_default().push(i),
                // Stored without its trailing `/`: "" is `/`, the root itself.
                PathMatcher::Prefix(prefix) => {
                    let segments = prefix.strip_prefix('/').map(|p| p.split('/'));
                    index.insert(segments.into_iter().flatten(), i);
                }
                PathMatcher::Glob(glob) => {
                    let mut literal = glob.literal_segments().peekable();
                    if literal.peek().is_some() {
                        index.insert(literal, i);
                    } else {
                        index.anywhere.push(i);
                    }
                }
            }
        }
        index
    }

    fn insert<'a>(&mut self, segments: impl Iterator<Item = &'a str>, rule: usize) {
        let mut node = 0;
        for segment in segments {
            let next = self.trie.len();
            let child = match self.trie.get_mut(node) {
                Some(n) => *n.children.entry(segment.to_owned()).or_insert(next),
                None => return,
            };
            if child == next {
                self.trie.push(Node::default());
            }
            node = child;
        }
        if let Some(n) = self.trie.get_mut(node) {
            n.rules.push(rule);
        }
    }

    /// The index of the first rule of `rules` (the list this index was built from) that
    /// matches; allocation-free.
    pub fn lookup(&self, rules: &[Rule], method: &str, host: &str, path: &str) -> Option<usize> {
        if !path.starts_with('/') {
            // Not a normalized path: the plain scan decides (no rule starts otherwise).
            return first_match(rules, 0..rules.len(), method, host, path);
        }
        let mut best: Option<usize> = None;
        self.candidates(path, |list| {
            // Each list is in order: its first match is its best; later ones cannot win.
            let before_best = list
                .iter()
                .copied()
                .take_while(|&i| best.is_none_or(|b| i < b));
            if let Some(found) = first_match(rules, before_best, method, host, path) {
                best = Some(found);
            }
        });
        best
    }

    /// Hands `f` every list of rules that can match `path`: the wildcard globs, the exact
    /// rules of the path, the rules of each trie node along its segments.
    fn candidates<'a>(&'a self, path: &str, mut f: impl FnMut(&'a [usize])) {
        f(&self.anywhere);
        if let Some(list) = self.exact.get(path) {
            f(list);
        }
        let mut node = self.trie.first();
        if let Some(root) = node {
            f(&root.rules);
        }
        let segments = path.strip_prefix('/').map(|rest| rest.split('/'));
        for segment in segments.into_iter().flatten() {
            node = node
                .and_then(|n| n.children.get(segment))
                .and_then(|&child| self.trie.get(child));
            match node {
                Some(n) => f(&n.rules),
                None => break,
            }
        }
    }
}

fn first_match(
    rules: &[Rule],
    candidates: impl IntoIterator<Item = usize>,
    method: &str,
    host: &str,
    path: &str,
) -> Option<usize> {
    candidates.into_iter().find(|&i| {
        rules
            .get(i)
            .is_some_and(|rule| rule.accepts(method, host, path))
    })
}

#[cfg(test)]
mod tests;
