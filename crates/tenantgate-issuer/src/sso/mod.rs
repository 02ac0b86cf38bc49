//! Building blocks of OIDC single sign-on against a tenant's own IdP: PKCE (RFC 7636, S256),
//! the ID token's verification (OIDC Core 3.1.3.7: RS256 with the IdP's JWKS, `iss`, `aud`,
//! `azp`, `nonce`, `exp`), and the server-side `state` records that bind a callback to the
//! tenant that started it ([`state`]), the calls to the IdP ([`idp`]) and the users linked by
//! IdP subject ([`link`]). The redirect flow is [`crate::flows::sso_start`] and
//! [`crate::flows::sso_callback`].

pub mod id_token;
pub mod idp;
pub mod link;
pub mod state;

use crate::{random_token, sha256_b64};

/// A PKCE pair: the verifier kept server-side, the S256 challenge sent to the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A verifier of 32 random bytes (43 characters, RFC 7636 section 4.1).
    pub fn generate() -> Result<Pkce, ring::error::Unspecified> {
        Ok(Pkce::from_verifier(random_token(32)?))
    }

    fn from_verifier(verifier: String) -> Pkce {
        Pkce {
            challenge: s256(&verifier),
            verifier,
        }
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))`.
pub fn s256(verifier: &str) -> String {
    sha256_b64(verifier.as_bytes())
}

/// A `state` or `nonce` value: 32 random bytes, base64url.
pub fn random_value() -> Result<String, ring::error::Unspecified> {
    random_token(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    #[test]
    fn s256_matches_the_rfc_example() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let fresh = Pkce::generate().expect("rng");
        assert_eq!(fresh.verifier.len(), 43);
        assert_eq!(fresh.challenge, s256(&fresh.verifier));
    }
}
