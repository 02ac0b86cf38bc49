//! proxy-wasm glue (wasm32 only).
