//! Running `tenantgate explain` on a configuration given as text.

use std::io::Write;
use std::process::Command;

/// `tenantgate explain --config <config> <args>`: the exit code and standard output.
pub fn explain_with(config: &str, args: &[&str]) -> (i32, String) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(config.as_bytes()).expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_tenantgate"))
        .arg("explain")
        .arg("--config")
        .arg(file.path())
        .args(args)
        .output()
        .expect("runs tenantgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
