//! Tokens: extraction from the request, compact-JWS parsing, and the shared claim schema.

pub mod claims;
pub mod extract;
pub mod jws;
