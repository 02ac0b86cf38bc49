//! `tenantgate-build trim-exports <module.wasm>`: keeps only the exports Envoy needs from
//! tenantgate's module, in place (see the library's documentation for why).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, module] = args.as_slice() else {
        eprintln!("usage: tenantgate-build trim-exports <module.wasm>");
        return ExitCode::from(2);
    };
    if command != "trim-exports" {
        eprintln!("tenantgate-build: unknown command {command:?} (known: trim-exports)");
        return ExitCode::from(2);
    }
    match tenantgate_build::trim(Path::new(module)) {
        Ok(dropped) => {
            eprintln!(
                "tenantgate-build: {module}: {} exports dropped: {}",
                dropped.len(),
                dropped.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("tenantgate-build: {module}: {why}");
            ExitCode::FAILURE
        }
    }
}
