//! `tenantgate`: `check` and `explain` for gateway owners.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
