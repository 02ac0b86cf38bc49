//! tenantgate-issuer: the companion token issuer (see docs/issuer.md).

fn main() {
    std::process::exit(tenantgate_issuer::cli::main());
}
