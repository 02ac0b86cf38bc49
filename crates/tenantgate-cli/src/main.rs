//! `tenantgate`: `check`, `explain` and `schema` for gateway owners.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
