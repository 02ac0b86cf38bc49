//! The properties of the `requirement_matchers`, `claim_header_values` and `directory_parse` fuzz
//! targets, run on
//! every build: on their seeds (`fuzz/seeds/`) and on inputs generated from the pieces the
//! matchers care about (wildcards, separators, pointer escapes, wrong types).

use std::path::Path;

#[path = "../../../fuzz/fuzz_targets/props/directory.rs"]
mod directory_props;
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

/// A random directory payload from the pieces the checks care about: static tenants, hosts and
/// tenant values, shared hosts, template hosts, bad syntax, IdPs (some forbidden members).
fn directory_payload(rng: &mut Rng) -> String {
    const IDS: &[&str] = &["acme", "globex", "zeta", "Bad", "legacy", "t-1", ""];
    const HOSTS: &[&str] = &[
        "acme.example.com",
        "api.example.com",
        "x.example.com",
        "zeta.app.example.com",
        "acme.app.example.com",
        "h:1",
        "X.EXAMPLE.COM.",
    ];
    const VALUES: &[&str] = &["g-acme", "g1", "g2", ""];
    const PROVIDERS: &[&str] = &["entra", "issuer", "nobody"];
    const ISSUERS: &[&str] = &[
        "https://issuer",
        "https://entra",
        "https://g.okta",
        "https://{tenant}.idp",
        "",
    ];
    const CLUSTERS: &[&str] = &["egress", "issuer"];
    let mut tenants = serde_json::Map::new();
    for _ in 0..rng.next() % 5 {
        let mut entry = serde_json::Map::new();
        if rng.next() % 2 == 0 {
            let hosts: Vec<&str> = (0..rng.next() % 3).map(|_| rng.pick(HOSTS)).collect();
            entry.insert("hosts".into(), serde_json::json!(hosts));
        }
        if rng.next() % 3 == 0 {
            let values: Vec<&str> = (0..rng.next() % 3).map(|_| rng.pick(VALUES)).collect();
            entry.insert(
                "tenant_values".into(),
                serde_json::json!({rng.pick(PROVIDERS): values}),
            );
        }
        if rng.next() % 3 == 0 {
            let mut idp = serde_json::json!({"issuer": rng.pick(ISSUERS), "audiences": [rng.pick(VALUES)],
                "jwks": {"discovery": {"cluster": rng.pick(CLUSTERS)}}});
            if rng.next() % 5 == 0 {
                idp["tenant"] = serde_json::json!("acme");
            }
            entry.insert("idp".into(), idp);
        }
        tenants.insert(rng.pick(IDS).to_owned(), serde_json::Value::Object(entry));
    }
    let iat = if rng.next() % 8 == 0 {
        1
    } else {
        1_700_000_000
    };
    serde_json::json!({"iss": "https://issuer", "iat": iat, "tenants": tenants}).to_string()
}

#[test]
fn directories_are_adopted_or_refused_never_half() {
    for seed in seeds("directory_parse") {
        directory_props::directory(&seed);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut adopted = 0;
    for _ in 0..1500 {
        adopted += usize::from(directory_props::directory(
            directory_payload(&mut rng).as_bytes(),
        ));
    }
    // Both sides are reached: the generator is not all refusals, nor all adoptions.
    assert!((100..1400).contains(&adopted), "{adopted} of 1500 adopted");
}
