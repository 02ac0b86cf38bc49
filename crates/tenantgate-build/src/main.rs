//! `tenantgate-build trim-exports <module.wasm> [<out.wasm>]`: tenantgate's module with only the
//! exports Envoy needs, written to `out.wasm` (default: in place; the library says why).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, input, output) = match args.as_slice() {
        [command, input] => (command, input, input),
        [command, input, output] => (command, input, output),
        _ => {
            eprintln!("usage: tenantgate-build trim-exports <module.wasm> [<out.wasm>]");
            return ExitCode::from(2);
        }
    };
    if command != "trim-exports" {
        eprintln!("tenantgate-build: unknown command {command:?} (known: trim-exports)");
        return ExitCode::from(2);
    }
    match tenantgate_build::trim(Path::new(input), Path::new(output)) {
        Ok(dropped) => {
            eprintln!(
                "tenantgate-build: {output}: {} exports dropped: {}",
                dropped.len(),
                dropped.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("tenantgate-build: {why}");
            ExitCode::FAILURE
        }
    }
}
