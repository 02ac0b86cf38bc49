//! tenantgate-issuer: the companion token issuer (native only; see docs/issuer.md).

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(tenantgate::issuer::cli::main());
}

// The issuer is not built for the filter's wasm target; only the library is.
#[cfg(target_arch = "wasm32")]
fn main() {}
