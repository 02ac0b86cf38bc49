//! Applying a decision to the host's effective request. Free functions over the [`Host`], so the
//! root can apply them too after `set_effective_context` (for requests that waited for keys).

use tenantgate_core::config::{Config, TokenSource};
use tenantgate_core::denial::{is_grpc_content_type, Denial};
use tenantgate_core::gate::Identity;
use tenantgate_core::policy::headers::same_after_folding;

use crate::host::{Host, HostError};

fn log_failure(what: &str, result: Result<(), HostError>) {
    if let Err(status) = result {
        log::warn!("tenantgate: {what} failed: {status}");
    }
}

/// Removes every client-sent copy of the identity headers, of the `headers.claims` headers and
/// of `headers.would_deny` (audit mode or not), under every spelling frameworks fold into them (`x_tenant_id`, `X-Tenant-Id`). Runs first on
/// every request, so nothing a client sends can pass for a verified identity, whatever the
/// decision. `headers` is the request's complete header list: only names present in it cost a
/// host call.
pub fn strip_identity_headers(host: &impl Host, config: &Config, headers: &[(&str, &str)]) {
    let names = &config.headers;
    let protected = || {
        [
            &names.tenant,
            &names.user,
            &names.roles,
            &names.would_deny,
            &names.acting_operator,
        ]
        .into_iter()
        .chain(names.claims.keys())
    };
    // Allocates only when a client did send one of them.
    let mut removed: Vec<&str> = Vec::new();
    for &(name, _) in headers {
        let hit = protected().any(|p| same_after_folding(p, name));
        if hit && !removed.contains(&name) {
            removed.push(name);
            log_failure(
                "removing an identity header",
                host.set_request_header(name, None),
            );
        }
    }
}

/// Sets the verified identity headers and, unless configured to forward it, removes the token.
/// `headers` is the request's header list as read at the start of the request.
pub fn allow(host: &impl Host, config: &Config, identity: &Identity, headers: &[(&str, &str)]) {
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
    for (name, value) in &identity.claim_headers {
        set(name, value);
    }
    if let Some(operator) = &identity.acting_operator {
        set(&names.acting_operator, operator);
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

/// Audit mode: lets a refused request through, naming the refusal in `headers.would_deny`. It
/// carries no identity (the client's copies are already gone); the credential is handled as on
/// an allowed request: removed from every place a provider reads one, unless `forward_token`.
pub fn audit_pass(host: &impl Host, config: &Config, denial: Denial, headers: &[(&str, &str)]) {
    log_failure(
        "setting the audit header",
        host.set_request_header(&config.headers.would_deny, Some(denial.code())),
    );
    if config.headers.forward_token {
        return;
    }
    let sources = config.providers.iter().flat_map(|p| &p.token_sources);
    let mut cookies: Vec<&str> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for source in sources {
        let name = match source {
            TokenSource::Bearer => "authorization",
            TokenSource::Header { name } => name,
            TokenSource::Cookie { name } => {
                cookies.push(name);
                continue;
            }
        };
        let present = headers.iter().any(|(n, _)| *n == name);
        if present && !removed.contains(&name) {
            removed.push(name);
            remove_header(host, name);
        }
    }
    let has_cookie = headers.iter().any(|(n, _)| *n == "cookie");
    if !cookies.is_empty() && has_cookie {
        remove_cookies(host, &cookies, headers);
    }
}

fn remove_header(host: &impl Host, name: &str) {
    log_failure(
        "removing the token header",
        host.set_request_header(name, None),
    );
}

fn remove_cookie(host: &impl Host, name: &str, headers: &[(&str, &str)]) {
    remove_cookies(host, &[name], headers);
}

/// Rewrites the `cookie` header(s) without the named cookies, keeping the others in order.
fn remove_cookies(host: &impl Host, names: &[&str], headers: &[(&str, &str)]) {
    let kept: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| *n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().map(str::trim).unwrap_or_default();
            !names.contains(&name)
        })
        .collect();
    let value = kept.join("; ");
    let value = (!value.is_empty()).then_some(value.as_str());
    log_failure(
        "rewriting the cookie header",
        host.set_request_header("cookie", value),
    );
}

/// The shape of a local reply: what the client can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyForm {
    /// HTTP status, `WWW-Authenticate`, JSON body.
    Http,
    /// A gRPC call's answer: HTTP 200, trailers-only, `grpc-status` and `grpc-message`.
    Grpc,
}

impl ReplyForm {
    /// The form a request's `content-type` asks for (the request's header list).
    pub fn of(headers: &[(&str, &str)]) -> ReplyForm {
        let grpc = headers
            .iter()
            .any(|(n, v)| *n == "content-type" && is_grpc_content_type(v));
        if grpc {
            ReplyForm::Grpc
        } else {
            ReplyForm::Http
        }
    }
}

/// Sends the local reply for a refusal in the request's form: status, `WWW-Authenticate` and
/// the JSON body; or for gRPC, HTTP 200 with `grpc-status` and `grpc-message` and no body (the
/// trailers-only answer: Envoy ends the stream with this one header block and keeps the
/// status set here rather than mapping the HTTP status itself).
pub fn deny(host: &impl Host, config: &Config, denial: Denial, form: ReplyForm) {
    let challenge = denial.www_authenticate(&config.realm);
    let retry_after = config.retry_after_seconds.to_string();
    let grpc_status = denial.grpc_status().code().to_string();
    let grpc_message = denial.grpc_message();
    let mut headers = vec![("www-authenticate", challenge.as_str())];
    let (status, body) = match form {
        ReplyForm::Http => {
            headers.push(("content-type", "application/json"));
            (denial.status(), denial.json_body())
        }
        ReplyForm::Grpc => {
            headers.push(("content-type", "application/grpc"));
            headers.push(("grpc-status", grpc_status.as_str()));
            headers.push(("grpc-message", grpc_message.as_str()));
            (200, String::new())
        }
    };
    headers.push(("cache-control", "no-store"));
    if matches!(
        denial,
        Denial::KeysUnavailable | Denial::DirectoryUnavailable
    ) {
        headers.push(("retry-after", retry_after.as_str()));
    }
    log_failure(
        "sending the local reply",
        host.send_reply(status, &headers, body.as_bytes()),
    );
}
