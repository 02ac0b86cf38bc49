//! The outbound side of single sign-on: the IdP's discovery document and JWKS (fetched over
//! HTTPS, cached [`CACHE_TTL`] per issuer) and the exchange of an authorization code at its token
//! endpoint. Plain http is allowed only to a loopback address (a test IdP), as for AWS KMS.
//! Blocking: called from the flows, which run on the blocking pool.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::validate;
use serde_json::Value;
use tenantgate_core::jwks::KeySet;

/// How long a discovery document and its JWKS are reused.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Largest discovery document, JWKS or token answer read.
const MAX_ANSWER: u64 = 256 * 1024;

/// What the issuer needs of the IdP's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// `client_secret_basic` unless the IdP lists only `client_secret_post`.
    pub secret_in_body: bool,
}

/// Why talking to the IdP failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpError {
    /// A URL the issuer will not call (not https, or http to a non-loopback host).
    Url(String),
    /// The IdP did not answer, or answered something unusable.
    Unavailable(String),
    /// The token endpoint refused the code (spent, expired, or another client's).
    CodeRejected(String),
}

impl fmt::Display for IdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdpError::Url(m) => write!(f, "the IdP's configuration names an unusable URL: {m}"),
            IdpError::Unavailable(m) => write!(f, "the tenant's IdP cannot be used: {m}"),
            IdpError::CodeRejected(m) => write!(
                f,
                "the IdP refused the authorization code (already used or expired): {m}"
            ),
        }
    }
}

impl std::error::Error for IdpError {}

struct Cached {
    at: Instant,
    metadata: Metadata,
    keys: Arc<KeySet>,
}

/// An HTTP client for tenants' IdPs, with the cache of their metadata.
pub struct IdpClient {
    agent: ureq::Agent,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for IdpClient {
    fn default() -> Self {
        IdpClient::new()
    }
}

/// Whether the issuer may call `url`: https, or http to a loopback host.
pub fn check_url(url: &str) -> Result<(), IdpError> {
    let bad = || IdpError::Url(format!("{url:?}: use https (plain http only to loopback)"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    match scheme {
        "https" => Ok(()),
        "http" if validate::loopback_authority(authority) => Ok(()),
        _ => Err(bad()),
    }
}

/// An IdP's answer as text, at most [`MAX_ANSWER`] bytes.
fn answer_text(r: &mut ureq::http::Response<ureq::Body>) -> Result<String, String> {
    r.body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(|e| e.to_string())
}

impl IdpClient {
    pub fn new() -> IdpClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        IdpClient {
            agent,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn get_json(&self, url: &str) -> Result<Value, IdpError> {
        check_url(url)?;
        let fail = |m: String| IdpError::Unavailable(format!("GET {url}: {m}"));
        let mut r = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()
            .map_err(|e| fail(e.to_string()))?;
        let status = r.status().as_u16();
        let text = answer_text(&mut r).map_err(fail)?;
        if status != 200 {
            return Err(fail(format!("status {status}")));
        }
        serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))
    }

    /// The metadata and keys of the IdP `issuer` (from the cache when fresh, or when `fresh`
    /// is false and they are; `fresh` forces a new fetch, for a key the cached JWKS lacks).
    pub fn metadata(&self, issuer: &str, fresh: bool) -> Result<(Metadata, Arc<KeySet>), IdpError> {
        if !fresh {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(issuer).filter(|c| c.at.elapsed() < CACHE_TTL) {
                return Ok((c.metadata.clone(), c.keys.clone()));
            }
        }
        let doc = self.get_json(&format!("{issuer}/.well-known/openid-configuration"))?;
        let (metadata, jwks_uri) = parse_discovery(&doc, issuer)?;
        let keys = KeySet::from_value(&self.get_json(&jwks_uri)?)
            .map_err(|d| IdpError::Unavailable(format!("{jwks_uri}: not a usable JWKS ({d:?})")))?;
        let keys = Arc::new(keys);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(
            issuer.to_string(),
            Cached {
                at: Instant::now(),
                metadata: metadata.clone(),
                keys: keys.clone(),
            },
        );
        Ok((metadata, keys))
    }

    /// Exchanges `code` at the token endpoint; returns the ID token.
    pub fn exchange(
        &self,
        metadata: &Metadata,
        req: &CodeExchange<'_>,
    ) -> Result<String, IdpError> {
        let url = metadata.token_endpoint.as_str();
        check_url(url)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", req.code),
            ("redirect_uri", req.redirect_uri),
            ("code_verifier", req.code_verifier),
        ];
        let mut call = self.agent.post(url).header("accept", "application/json");
        let basic;
        if metadata.secret_in_body {
            form.push(("client_id", req.client_id));
            form.push(("client_secret", req.client_secret));
        } else {
            basic = format!(
                "Basic {}",
                base64_std(&format!(
                    "{}:{}",
                    form_encode(req.client_id),
                    form_encode(req.client_secret)
                ))
            );
            call = call.header("authorization", &basic);
        }
        let fail = |m: String| IdpError::Unavailable(format!("POST {url}: {m}"));
        let mut r = call.send_form(form).map_err(|e| fail(e.to_string()))?;
        let status = r.status().as_u16();
        let text = answer_text(&mut r).map_err(fail)?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 400 && answer["error"] == "invalid_grant" {
            let why = answer["error_description"]
                .as_str()
                .unwrap_or("invalid_grant");
            return Err(IdpError::CodeRejected(why.to_string()));
        }
        if status != 200 {
            let code = answer["error"].as_str().unwrap_or("error");
            return Err(fail(format!("status {status} {code}")));
        }
        answer["id_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| fail("the answer has no id_token".into()))
    }
}

/// What the token request carries besides the metadata.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub code_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// The endpoints of a discovery document, which must name `issuer` itself (OIDC Discovery 4.3).
fn parse_discovery(doc: &Value, issuer: &str) -> Result<(Metadata, String), IdpError> {
    let field = |name: &str| {
        doc[name].as_str().map(str::to_string).ok_or_else(|| {
            IdpError::Unavailable(format!("the discovery document of {issuer} has no {name}"))
        })
    };
    if doc["issuer"].as_str() != Some(issuer) {
        return Err(IdpError::Unavailable(format!(
            "the discovery document at {issuer} names another issuer ({})",
            doc["issuer"]
        )));
    }
    let methods: Vec<&str> = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let secret_in_body =
        !methods.contains(&"client_secret_basic") && methods.contains(&"client_secret_post");
    let metadata = Metadata {
        authorization_endpoint: field("authorization_endpoint")?,
        token_endpoint: field("token_endpoint")?,
        secret_in_body,
    };
    check_url(&metadata.authorization_endpoint)?;
    check_url(&metadata.token_endpoint)?;
    Ok((metadata, field("jwks_uri")?))
}

fn base64_std(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `application/x-www-form-urlencoded` of one value (RFC 6749 2.3.1 encodes the client id and
/// secret this way before Basic).
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_https_or_loopback_http_is_called() {
        assert!(check_url("https://idp.example.com/authorize").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://[::1]:80/x").is_ok());
        assert!(check_url("http://idp.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1@evil.example/x").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn discovery_must_name_its_own_issuer() {
        let doc = json!({"issuer": "https://idp.a", "authorization_endpoint": "https://idp.a/auth",
            "token_endpoint": "https://idp.a/token", "jwks_uri": "https://idp.a/jwks",
            "token_endpoint_auth_methods_supported": ["client_secret_post"]});
        let (m, jwks) = parse_discovery(&doc, "https://idp.a").expect("valid");
        assert!(m.secret_in_body);
        assert_eq!(jwks, "https://idp.a/jwks");
        assert!(parse_discovery(&doc, "https://idp.b").is_err());
        let mut plain = doc.clone();
        plain["token_endpoint"] = json!("http://idp.a/token");
        assert!(parse_discovery(&plain, "https://idp.a").is_err());
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b/c:d"), "a+b%2Fc%3Ad");
    }
}
