//! `tenantgate check` as users run it: the real binary on files, its output and exit codes.

use std::io::Write;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .args(args)
        .output()
        .expect("the tenantgate binary runs")
}

fn file_with(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(contents.as_bytes()).expect("written");
    file
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

const GOOD: &str = r#"{
  "providers": [
    {"name": "shared", "issuer": "https://issuer.example.com", "audiences": ["api"],
     "jwks": {"remote": {"cluster": "issuer", "uri": "https://issuer.example.com/.well-known/jwks.json"}}},
    {"name": "acme-idp", "issuer": "https://login.acme.example", "audiences": ["api"], "tenant": "acme",
     "jwks": {"inline": {"keys": [{"kty": "RSA", "kid": "acme-1", "e": "AQAB",
       "n": "3aNrmcZnZrTDGJAHP7VaAAPTTDzjrwKo2fmTZbsTCuEuwzLSzcZD5gkp4z7H3yG1v7JXLMlpw9hg3gB7DF-kycTpm4s3HgM1KsW3j6lAvtUvGUlgKUycnpkkYKxSWqOeBBnHK9VOrXQcbBpXrWjEd4c3FpDCT_je4FiaJn9-Nn3jk4c4w9Yi25LuVq3HtxPNYuB8HRlutJTO2P6_hil8DA9cfu-ACWEtfzwiJx_jO3EQsUDMj2Bb-o39LQ-nTU8hwnnezWbGOwhGf2PM_GwbotqG1uToTsDKgPpkUQKoTBR0i2JuytSEnopb2Od4fN1nifZ8mpkpXZb_8KPhA1YLzw"}]}}}
  ],
  "tenants": {"acme": {"hosts": ["acme.example.com"]}, "globex": {}},
  "host_templates": ["{tenant}.app.example.com"],
  "routes": [
    {"path": {"exact": "/healthz"}, "require": "public"},
    {"path": {"prefix": "/admin"}, "require": {"roles": {"any_of": ["admin"]}}},
    {"path": {"glob": "/api/**"}, "require": "authenticated"}
  ]
}"#;

#[test]
fn a_valid_configuration_passes() {
    let file = file_with(GOOD);
    let out = run(&["check", file.path().to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "OK: 2 providers, 2 tenants, 3 routes\n");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn an_invalid_configuration_lists_every_error() {
    let bad = GOOD
        .replace(
            "\"audiences\": [\"api\"], \"tenant\"",
            "\"audiences\": [], \"tenant\"",
        )
        .replace("/admin", "/admin/../x")
        .replace("/api/**", "/api/a**");
    let file = file_with(&bad);
    let out = run(&["check", file.path().to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "providers[1].audiences: at least one audience is required\n\
         routes[1].path.prefix: \"/admin/../x\" is not in normalized form, so no request could \
         match it; write \"/x\"\n\
         routes[2].path.glob: \"/api/a**\": `**` must be a whole segment (found in \"a**\"); use \
         `*` within a segment\n"
    );
}

#[test]
fn an_inline_key_set_the_filter_cannot_use_is_refused() {
    let file = file_with(&GOOD.replace("\"kty\": \"RSA\"", "\"kty\": \"oct\""));
    let out = run(&["check", file.path().to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "providers[1].jwks.inline.keys: none of the 1 keys of the JWKS is an RSA key usable for \
         RS256 (first: kty is not \"RSA\")\n"
    );
}

#[test]
fn a_shape_error_names_its_path() {
    let file = file_with(&GOOD.replace("\"cluster\"", "\"clutser\""));
    let out = run(&["check", file.path().to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("providers[0].jwks.remote.clutser: unknown field `clutser`"),
        "{stderr}"
    );
}

#[test]
fn unreadable_files_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.json");
    let out = run(&["check", missing.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(run(&["check"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("check"));
}
