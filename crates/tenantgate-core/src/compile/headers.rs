//! `headers.claims`: each header a claim is forwarded in must be a name the filter may set and
//! strip, and one no framework can confuse with another forwarded header or a token header.

use crate::config::{Config, TokenSource};
use crate::policy::headers::same_after_folding;

use super::{Compiler, RESERVED_HEADERS};

/// Why `name` cannot be a header the filter sets upstream (and strips from clients), if it
/// cannot: a pseudo-header, not a lower-case HTTP token, or a reserved header.
pub(super) fn forwarded_name_problem(name: &str) -> Option<String> {
    if name.starts_with(':') {
        Some(format!(
            "{name:?} is a pseudo-header and cannot carry an identity"
        ))
    } else if !crate::config::syntax::is_token(name) || name.bytes().any(|b| b.is_ascii_uppercase())
    {
        Some(format!("{name:?} is not a lower-case HTTP header name"))
    } else if RESERVED_HEADERS.contains(&name) {
        Some(format!(
            "{name:?} is a reserved header: the filter must not strip or overwrite it"
        ))
    } else {
        None
    }
}

/// How frameworks may read two names as one, for messages.
const FOLDING: &str = "once frameworks fold `_` to `-` and case";

impl Compiler {
    pub(super) fn claim_headers(&mut self, config: &Config) {
        let identity = [
            ("headers.tenant", &config.headers.tenant),
            ("headers.user", &config.headers.user),
            ("headers.roles", &config.headers.roles),
        ];
        let claims = &config.headers.claims;
        for (i, (name, claim)) in claims.iter().enumerate() {
            let path = format!("headers.claims.{name}");
            if claim.is_empty() {
                self.err(path.clone(), "name the claim to forward (it is empty)");
            }
            let message = forwarded_name_problem(name)
                .or_else(|| {
                    let (field, other) = identity
                        .iter()
                        .find(|(_, other)| same_after_folding(other, name))?;
                    Some(if *other == name {
                        format!("{name:?} is {field}: a claim header needs its own name")
                    } else {
                        format!(
                            "{name:?} is {field} ({other:?}) {FOLDING}: a claim header needs \
                             its own name"
                        )
                    })
                })
                .or_else(|| {
                    let (other, _) = claims
                        .iter()
                        .take(i)
                        .find(|(other, _)| same_after_folding(other, name))?;
                    Some(format!("{name:?} is also headers.claims.{other} {FOLDING}"))
                })
                .or_else(|| token_header_clash(config, name));
            if let Some(message) = message {
                self.err(path, message);
            }
        }
    }
}

/// A token source header that a claim header would shadow: the filter strips the claim
/// header's client copies, so the token could never be read.
pub(super) fn token_header_clash(config: &Config, name: &str) -> Option<String> {
    config.providers.iter().enumerate().find_map(|(p, provider)| {
        provider
            .token_sources
            .iter()
            .position(|source| {
                matches!(source, TokenSource::Header { name: token } if same_after_folding(token, name))
            })
            .map(|k| {
                format!(
                    "{name:?} is the token header of providers[{p}].token_sources[{k}], which \
                     the filter reads the token from"
                )
            })
    })
}
