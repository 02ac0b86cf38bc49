//! `tenantgate`: `check` and `explain` for gateway owners (native only).

#[cfg(not(target_arch = "wasm32"))]
#[path = "tenantgate/cli.rs"]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

// The command line is not built for the filter's wasm target (clap is native only); only the
// library is.
#[cfg(target_arch = "wasm32")]
fn main() {}
