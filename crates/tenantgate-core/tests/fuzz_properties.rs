//! The properties of the `requirement_matchers` and `claim_header_values` fuzz targets, run on
//! every build: on their seeds (`fuzz/seeds/`) and on inputs generated from the pieces the
//! matchers care about (wildcards, separators, pointer escapes, wrong types).

use std::path::Path;

#[path = "../../../fuzz/fuzz_targets/props/requirements.rs"]
mod props;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("entry").path()).expect("seed"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    seeds
}

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "",
    "*",
    "read",
    "read:",
    "read:*",
    "read:billing",
    "read:billing*",
    "write:billing",
    "a b",
    "sso",
    "mfa",
    "pro",
    "~",
    "~0",
    "~1",
    "a/b",
    ",",
    "x,y",
    "0",
    "01",
    "1",
    "é",
    "\u{1}",
];

fn value(rng: &mut Rng, depth: u32) -> String {
    let word = |rng: &mut Rng| serde_json::to_string(rng.pick(WORDS)).expect("string");
    match rng.next() % if depth == 0 { 5 } else { 7 } {
        0 => word(rng),
        1 => rng
            .pick(&["1", "-2", "1.5", "true", "false", "null", "3"])
            .to_owned(),
        2 | 3 => {
            let n = rng.next() % 4;
            let items: Vec<String> = (0..n).map(|_| word(rng)).collect();
            format!("[{}]", items.join(","))
        }
        4 => "[1, \"a\"]".to_owned(),
        _ => {
            let n = rng.next() % 3;
            let members: Vec<String> = (0..n)
                .map(|_| format!("{}:{}", word(rng), value(rng, depth - 1)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}

fn claim_name(rng: &mut Rng) -> String {
    let tokens: Vec<&str> = (0..1 + rng.next() % 3)
        .map(|_| {
            rng.pick(&[
                "perms", "scope", "scp", "org", "plan", "a~1b", "~0", "0", "1", "",
            ])
        })
        .collect();
    if rng.next() % 3 == 0 {
        tokens[0].to_owned()
    } else {
        format!("/{}", tokens.join("/"))
    }
}

#[test]
fn requirement_matchers_agree_with_their_references() {
    for seed in seeds("requirement_matchers") {
        props::requirements(&seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..4000 {
        let mut claims: Vec<String> = Vec::new();
        for name in ["perms", "scope", "scp", "org", "plan", "a/b", "~"] {
            if rng.next() % 2 == 0 {
                claims.push(format!("{name:?}:{}", value(&mut rng, 2)));
            }
        }
        let mut input = format!(
            "{{{}}}\n{}\n{}",
            claims.join(","),
            claim_name(&mut rng),
            rng.pick(WORDS)
        );
        for _ in 0..rng.next() % 3 {
            input.push('\n');
            input.push_str(rng.pick(WORDS));
        }
        props::requirements(input.as_bytes());
    }
}

#[test]
fn forwarded_claim_values_are_written_as_documented_or_refused() {
    for seed in seeds("claim_header_values") {
        props::forwarded(&seed);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..4000 {
        props::forwarded(value(&mut rng, 2).as_bytes());
    }
    props::forwarded(b"not json \r\n x-tenant-id: globex");
}
