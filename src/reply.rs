//! Applying a decision to the host's effective request. Free functions over the [`Host`], so the
//! root can apply them too after `set_effective_context` (for requests that waited for keys).

use tenantgate_core::config::{Config, TokenSource};
use tenantgate_core::denial::Denial;
use tenantgate_core::gate::Identity;

use crate::host::{Host, HostError};

fn log_failure(what: &str, result: Result<(), HostError>) {
    if let Err(status) = result {
        log::warn!("tenantgate: {what} failed: {status}");
    }
}

/// Removes every client-sent copy of the identity headers. Runs first on every request, so
/// nothing a client sends can pass for a verified identity, whatever the decision. `headers` is
/// the request's complete header list: only names present in it cost a host call.
pub fn strip_identity_headers(host: &impl Host, config: &Config, headers: &[(String, String)]) {
    for name in [
        &config.headers.tenant,
        &config.headers.user,
        &config.headers.roles,
    ] {
        if headers.iter().any(|(n, _)| n == name) {
            log_failure(
                "removing an identity header",
                host.set_request_header(name, None),
            );
        }
    }
}

/// Sets the verified identity headers and, unless configured to forward it, removes the token.
/// `headers` is the request's header list as read at the start of the request.
pub fn allow(host: &impl Host, config: &Config, identity: &Identity, headers: &[(String, String)]) {
    let names = &config.headers;
    let set = |name: &str, value: &str| {
        log_failure(
            "setting an identity header",
            host.set_request_header(name, Some(value)),
        );
    };
    set(&names.tenant, &identity.tenant);
    set(&names.user, &identity.user);
    if !identity.roles.is_empty() {
        set(&names.roles, &identity.roles.join(","));
    }
    if names.forward_token {
        return;
    }
    match &identity.source {
        TokenSource::Bearer => remove_header(host, "authorization"),
        TokenSource::Header { name } => remove_header(host, name),
        TokenSource::Cookie { name } => remove_cookie(host, name, headers),
    }
}

fn remove_header(host: &impl Host, name: &str) {
    log_failure(
        "removing the token header",
        host.set_request_header(name, None),
    );
}

/// Rewrites the `cookie` header(s) without the named cookie, keeping the others in order.
fn remove_cookie(host: &impl Host, name: &str, headers: &[(String, String)]) {
    let kept: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split('=').next().map(str::trim) != Some(name))
        .collect();
    let value = kept.join("; ");
    let value = (!value.is_empty()).then_some(value.as_str());
    log_failure(
        "rewriting the cookie header",
        host.set_request_header("cookie", value),
    );
}

/// Sends the local reply for a refusal: status, `WWW-Authenticate`, and the JSON body.
pub fn deny(host: &impl Host, config: &Config, denial: Denial) {
    let challenge = denial.www_authenticate(&config.realm);
    let body = denial.json_body();
    let retry_after = config.retry_after_seconds.to_string();
    let mut headers = vec![
        ("www-authenticate", challenge.as_str()),
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ];
    if denial == Denial::KeysUnavailable {
        headers.push(("retry-after", retry_after.as_str()));
    }
    log_failure(
        "sending the local reply",
        host.send_reply(denial.status(), &headers, body.as_bytes()),
    );
}
