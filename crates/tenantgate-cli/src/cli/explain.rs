//! `tenantgate explain`: one request decided by the filter's own code, and why.

use serde_json::{Map, Value};
use tenantgate_core::config::syntax::TENANT_PLACEHOLDER;
use tenantgate_core::config::{
    Config, ContextSource, Provider, Requirement, RoleRequirement, Route,
};
use tenantgate_core::gate::{Gate, Outcome, Place, RequestView, TenantSources};
use tenantgate_core::jwks::keyset::KeySet;
use tenantgate_core::jwks::JwksSource;
use tenantgate_core::verify::{claim_path, KeySource};

use super::{load_gate, ExplainArgs, Status};

mod requirement;
mod upstream;

/// Inline key sets from the configuration; remote ones from `--jwks`, if given.
struct ExplainKeys(Vec<Option<KeySet>>);

impl KeySource for ExplainKeys {
    fn key_set(&self, provider: usize) -> Option<&KeySet> {
        self.0.get(provider).and_then(Option::as_ref)
    }
}

pub(super) fn explain(args: &ExplainArgs) -> Status {
    let gate = match load_gate(&args.config) {
        Ok(gate) => gate,
        Err(status) => return status,
    };
    let now = args.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let authorization = args.token.as_ref().map(|t| format!("Bearer {t}"));
    let extra = match request_headers(&args.headers) {
        Ok(extra) => extra,
        Err(status) => return status,
    };
    let mut headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let request = RequestView {
        method: &args.method,
        authority: &args.host,
        path: &args.path,
        headers: &headers,
    };
    let outcome = match &args.claims {
        Some(claims) => decide_with_claims(&gate, &request, claims, now),
        None => decide_with_keys(&gate, &request, args, now),
    };
    let sources = gate.tenant_sources(&request);
    match outcome {
        Ok(outcome) => report(&gate, args, &outcome, sources.as_ref()),
        Err(status) => status,
    }
}

/// `--header NAME:VALUE`, the name lower-cased and the value trimmed as Envoy passes them.
fn request_headers(raw: &[String]) -> Result<Vec<(String, String)>, Status> {
    raw.iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            }
            _ => {
                eprintln!("tenantgate: --header {h:?} is not NAME:VALUE");
                Err(Status::Usage)
            }
        })
        .collect()
}

/// Which sources named which tenant, in words: `host=acme path[0]=acme header=acme`.
fn describe_sources(sources: Option<&TenantSources<'_>>) -> String {
    let Some(sources) = sources else {
        return "-".into();
    };
    let mut parts: Vec<String> = sources
        .named
        .iter()
        .map(|(source, index, tenant)| match source {
            ContextSource::Path => format!("path[{index}]={tenant:?}"),
            _ => format!("{}={tenant:?}", source.as_str()),
        })
        .collect();
    if parts.is_empty() {
        parts.push("none named".into());
    }
    if sources.shared_host {
        parts.push("(shared host)".into());
    }
    if !sources.required.is_empty() {
        let required: Vec<&str> = sources.required.iter().map(|s| s.as_str()).collect();
        parts.push(format!("(required: {})", required.join(", ")));
    }
    parts.join(" ")
}

/// The sources as JSON: `{"shared_host": .., "named": [{"source", "template", "tenant"}], "required": [..]}`.
fn sources_json(sources: Option<&TenantSources<'_>>) -> Value {
    let Some(sources) = sources else {
        return Value::Null;
    };
    let named: Vec<Value> = sources
        .named
        .iter()
        .map(|(source, index, tenant)| {
            let template = (*source == ContextSource::Path).then_some(*index);
            serde_json::json!({"source": source.as_str(), "template": template, "tenant": tenant})
        })
        .collect();
    let required: Vec<&str> = sources.required.iter().map(|s| s.as_str()).collect();
    serde_json::json!({"shared_host": sources.shared_host, "named": named, "required": required})
}

/// `--claims`: the policy on a payload taken as signed. What a policy trial rarely cares about is
/// filled in when absent, so that only the policy speaks: `exp`, and from the first provider its
/// `iss` and the claim its audience check reads.
fn decide_with_claims(
    gate: &Gate,
    request: &RequestView<'_>,
    claims: &str,
    now: u64,
) -> Result<Outcome, Status> {
    let mut claims: Map<String, Value> = serde_json::from_str(claims).map_err(|err| {
        eprintln!("tenantgate: --claims is not a JSON object: {err}");
        Status::Usage
    })?;
    claims
        .entry("exp")
        .or_insert_with(|| Value::from(now.saturating_add(3600)));
    if let Some(provider) = gate.config().providers.first() {
        if !claims.contains_key("iss") {
            let iss = issuer_for(gate, provider, request, &claims)?;
            claims.insert("iss".into(), Value::from(iss));
        }
        // `audience_claim` replaces `aud` (Cognito's `client_id`, Keycloak's `azp`); a pointer
        // into nested claims is left to the caller.
        let audience_claim = provider.audience_claim.as_deref().unwrap_or("aud");
        if let (false, Some(aud)) = (audience_claim.starts_with('/'), provider.audiences.first()) {
            claims
                .entry(audience_claim)
                .or_insert_with(|| Value::from(aud.clone()));
        }
    }
    Ok(gate.decide_with_claims(request, &claims, now))
}

/// The `iss` a token of `provider` would carry. An issuer template (`{tenant}`, Entra's) takes
/// the tenant value the claims give in the provider's tenant claim, else the one of the
/// request's tenant (through `tenant_map` backwards): the filter never matches the template
/// itself.
fn issuer_for(
    gate: &Gate,
    provider: &Provider,
    request: &RequestView<'_>,
    claims: &Map<String, Value>,
) -> Result<String, Status> {
    if !provider.issuer_is_template() {
        return Ok(provider.issuer.clone());
    }
    let claimed = provider
        .tenant_claim
        .as_deref()
        .and_then(|path| claim_path::lookup(claims, path))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let value = claimed.or_else(|| {
        let sources = gate.tenant_sources(request)?;
        let (_, _, tenant) = sources.named.into_iter().next()?;
        match &provider.tenant_map {
            None => Some(tenant),
            Some(map) => map
                .iter()
                .find(|(_, mapped)| **mapped == tenant)
                .map(|(value, _)| value.clone()),
        }
    });
    match value {
        Some(value) => Ok(provider.issuer.replace(TENANT_PLACEHOLDER, &value)),
        None => {
            eprintln!(
                "tenantgate: provider {} has the issuer template {}: give \"iss\" (or the \
                 tenant claim) in --claims, or a request whose host or path names a tenant{}",
                provider.name,
                provider.issuer,
                if provider.tenant_map.is_some() {
                    " its tenant_map lists"
                } else {
                    ""
                }
            );
            Err(Status::Usage)
        }
    }
}

/// `--token`: verified in full, against the inline key sets and the `--jwks` document.
fn decide_with_keys(
    gate: &Gate,
    request: &RequestView<'_>,
    args: &ExplainArgs,
    now: u64,
) -> Result<Outcome, Status> {
    let remote = match &args.jwks {
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| KeySet::from_json(&b).map_err(|e| e.to_string()))
        {
            Ok(set) => Some(set),
            Err(err) => {
                eprintln!("tenantgate: --jwks {}: {err}", path.display());
                return Err(Status::Usage);
            }
        },
        None => None,
    };
    let keys = ExplainKeys(
        gate.providers()
            .map(|p| match &p.jwks.source {
                JwksSource::Inline(set) => Some(set.clone()),
                JwksSource::Remote(_) | JwksSource::Discovery(_) => remote.clone(),
            })
            .collect(),
    );
    Ok(gate.decide(request, &keys, None, now))
}

fn describe_requirement(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Public => "public".into(),
        Requirement::Authenticated => "authenticated".into(),
        Requirement::Deny => "deny".into(),
        Requirement::Roles(roles) => describe_roles(roles),
        Requirement::Token(token) => requirement::describe(token).join(" and "),
    }
}

fn describe_roles(roles: &RoleRequirement) -> String {
    let mut parts = Vec::new();
    if !roles.any_of.is_empty() {
        parts.push(format!("any_of [{}]", roles.any_of.join(", ")));
    }
    if !roles.all_of.is_empty() {
        parts.push(format!("all_of [{}]", roles.all_of.join(", ")));
    }
    format!("roles {}", parts.join(" and "))
}

/// Which rule decided, in words.
fn describe_rule(config: &Config, rule: Option<(usize, &Route)>, place: Option<Place>) -> String {
    match (rule, place) {
        (Some((index, route)), _) => format!(
            "#{index}{} requires {}",
            route
                .name
                .as_deref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default(),
            describe_requirement(&route.require)
        ),
        (None, Some(_)) => format!(
            "no rule matched: default_requirement {}",
            describe_requirement(&config.default_requirement)
        ),
        (None, None) => "-".into(),
    }
}

/// The exit status, the decision in a word or two, and why.
fn verdict(config: &Config, outcome: &Outcome) -> (Status, String, Option<String>) {
    match outcome {
        Outcome::Allow { identity, .. } => {
            let who = identity.as_ref().map(|i| {
                format!(
                    "tenant={} user={} roles={}",
                    i.tenant,
                    i.user,
                    i.roles.join(",")
                )
            });
            (Status::Ok, "allow".to_string(), who)
        }
        Outcome::Deny { denial, .. } => (
            Status::Refused,
            format!("deny {} {}", denial.status(), denial.code()),
            Some(denial.message().to_string()),
        ),
        Outcome::AwaitKeys { provider, .. } => (
            Status::NeedsKeys,
            "undecided".to_string(),
            Some(format!(
                "provider {} has a remote key set: pass --jwks FILE (its JWKS document)",
                config
                    .providers
                    .get(*provider)
                    .map_or("?", |p| p.name.as_str())
            )),
        ),
    }
}

/// Everything `explain` says about one decision, for the text and the JSON forms alike.
struct Report<'a> {
    outcome: &'a Outcome,
    place: Option<Place>,
    rule: Option<(usize, &'a Route)>,
    host_tenant: Option<String>,
    path: String,
    decision: String,
    detail: Option<String>,
    audit_mode: bool,
    /// For a refusal: whether it is carried out (audit mode may let it through).
    enforced: Option<bool>,
    upstream: Vec<(String, String)>,
    operator: Option<(String, String)>,
    /// The requirement part that refused the token, if one did: its path and its words.
    decided: Option<(String, String)>,
}

fn report(
    gate: &Gate,
    args: &ExplainArgs,
    outcome: &Outcome,
    sources: Option<&TenantSources<'_>>,
) -> Status {
    let config = gate.config();
    let place = match outcome {
        Outcome::Allow { at, .. } | Outcome::Deny { at, .. } => Some(*at),
        Outcome::AwaitKeys { .. } => None,
    };
    let rule = place
        .and_then(|at| at.rule)
        .and_then(|i| config.routes.get(i).map(|r| (i, r)));
    let (mut status, mut decision, detail) = verdict(config, outcome);
    let enforced = match outcome {
        Outcome::Deny { .. } => Some(!upstream::not_enforced(gate, outcome)),
        _ => None,
    };
    if enforced == Some(false) {
        // Audit mode: the request goes on upstream, so the exit status is that of an allowed one.
        status = Status::Ok;
        decision.push_str(" (audit: not enforced)");
    }
    let report = Report {
        outcome,
        place,
        rule,
        host_tenant: place
            .and_then(|at| at.tenant)
            .and_then(|i| config.tenants.keys().nth(i).cloned()),
        path: tenantgate_core::policy::path::normalize(&args.path)
            .unwrap_or_else(|d| format!("(refused: {})", d.code())),
        decision,
        detail,
        audit_mode: place.is_some_and(|at| gate.audit_mode(at.rule)),
        enforced,
        upstream: upstream::headers(gate, outcome),
        operator: operator_act(outcome),
        decided: place.and_then(|at| at.requirement).map(|part| {
            let require = rule.map_or(&config.default_requirement, |(_, r)| &r.require);
            (
                part.path().to_string(),
                requirement::decided_by(require, part),
            )
        }),
    };
    if args.json {
        print_json(&report, sources);
    } else {
        print_text(config, args, &report, sources);
    }
    status
}

fn print_json(report: &Report<'_>, sources: Option<&TenantSources<'_>>) {
    let (code, http_status) = match report.outcome {
        Outcome::Deny { denial, .. } => (Some(denial.code()), Some(denial.status())),
        Outcome::Allow { .. } => (None, Some(200)),
        Outcome::AwaitKeys { .. } => (None, None),
    };
    let body = serde_json::json!({
        "decision": report.decision,
        "code": code,
        "status": http_status,
        "rule": report.place.and_then(|at| at.rule),
        "rule_name": report.rule.and_then(|(_, r)| r.name.clone()),
        "host_tenant": report.host_tenant,
        "tenant_sources": sources_json(sources),
        "requirement": report.decided.as_ref().map(|(path, _)| format!("require.{path}")),
        "path": report.path,
        "detail": report.detail,
        "audit": report.audit_mode,
        "enforced": report.enforced,
        "upstream_headers": upstream::json(&report.upstream),
        "operator": report.operator.as_ref().map(|(subject, target)| {
            serde_json::json!({"subject": subject, "target_tenant": target})
        }),
    });
    println!("{body}");
}

fn print_text(
    config: &Config,
    args: &ExplainArgs,
    report: &Report<'_>,
    sources: Option<&TenantSources<'_>>,
) {
    println!("decision: {}", report.decision);
    if let Some(detail) = &report.detail {
        println!("why:      {detail}");
    }
    println!("request:  {} {} {}", args.method, args.host, report.path);
    println!(
        "host:     {}",
        report
            .host_tenant
            .as_deref()
            .unwrap_or("(no configured tenant)")
    );
    println!("tenants:  {}", describe_sources(sources));
    println!(
        "rule:     {}",
        describe_rule(config, report.rule, report.place)
    );
    if let Some((_, decided)) = &report.decided {
        println!("decided:  {decided}");
    }
    match report.enforced {
        Some(false) => println!(
            "audit:    not enforced: passed upstream without identity, named in {}",
            config.headers.would_deny
        ),
        Some(true) if report.audit_mode => {
            println!("audit:    enforced all the same (audit mode never lets it through)")
        }
        _ => {}
    }
    if !matches!(report.outcome, Outcome::AwaitKeys { .. }) && report.enforced != Some(true) {
        println!("upstream: {}", upstream::describe(&report.upstream));
    }
    if let Some((subject, target)) = &report.operator {
        println!("operator: {subject} acting on tenant {target} (break-glass: counted, logged)");
    }
}

/// The operator and the tenant it acts on, when the request was allowed as an operator's.
fn operator_act(outcome: &Outcome) -> Option<(String, String)> {
    match outcome {
        Outcome::Allow {
            identity: Some(identity),
            ..
        } => identity
            .acting_operator
            .clone()
            .map(|subject| (subject, identity.tenant.clone())),
        _ => None,
    }
}
