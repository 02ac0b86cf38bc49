//! The whole decision for one request, with no host calls: the filter, the `tenantgate explain`
//! CLI and the tests all go through [`Gate::decide`]. A gate is built by the one compile step
//! ([`crate::compile`]) and is valid by construction.

use crate::compile::{self, Compiled};
use std::sync::Arc;

use crate::config::{self, Config, ContextSource, Provider, Requirement, TokenSource};
use crate::denial::Denial;
use crate::jwks::CompiledJwks;
use crate::policy::requirement::{self, Holder, Part};
use crate::policy::Policy;
use crate::token::extract;
use crate::verify::{self, cache::TokenCache, KeySource, VerifiedToken, VerifyFailure};

/// What the filter needs to know about a request. Header names are lower case; a name may repeat.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
}

/// The verified identity forwarded upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: String,
    pub user: String,
    pub roles: Vec<String>,
    pub provider: usize,
    /// Where the token was found, so the glue can drop it when it is not forwarded.
    pub source: TokenSource,
    /// `headers.claims`: header name and value for each claim the token carries, in header
    /// name order; values already checked to be safe in a header.
    pub claim_headers: Vec<(String, String)>,
    /// Set when an operator acts on another tenant (`operators`): the operator's subject, for
    /// `headers.acting_operator`. `tenant` is then the target tenant, `user` the operator.
    pub acting_operator: Option<String>,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Let the request through; with an identity unless the route is public.
    Allow {
        identity: Option<Identity>,
        at: Place,
    },
    /// Refuse it with the catalogued reply.
    Deny { denial: Denial, at: Place },
    /// The provider's keys are not loaded yet (`unknown_kid` false), or the token names a key the
    /// loaded set lacks and a refetch is allowed (`unknown_kid` true). The glue fetches, waits, and
    /// decides again; on the second pass the key source must deny refetches.
    AwaitKeys { provider: usize, unknown_kid: bool },
}

/// Where in the configuration a request landed, for explanations, logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    /// Index of the route rule that decided; `None`: the default requirement, or no rule reached.
    pub rule: Option<usize>,
    /// Index of the configured tenant owning the host, in `Config::tenants` order, or once a
    /// token is verified, of its tenant (on a shared host too); `None` when no configured tenant
    /// does (an unlisted tenant, an unknown host, or a shared host before verification).
    pub tenant: Option<usize>,
    /// The part of the route's requirement that refused the token (roles, permissions, scopes,
    /// a claim condition); `None` when no requirement part decided.
    pub requirement: Option<Part>,
}

/// The tenant sources of one request, as `tenantgate explain` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSources<'a> {
    /// The host is one of `shared_hosts`.
    pub shared_host: bool,
    /// Each source that names a tenant: its kind, the index of the path template (0 for the
    /// host and the header) and the tenant it names.
    pub named: Vec<(ContextSource, usize, String)>,
    /// The sources the request's route requires.
    pub required: &'a [ContextSource],
}

/// One provider as the gate holds it: its configuration and its compiled key source.
#[derive(Debug, Clone, Copy)]
pub struct GateProvider<'a> {
    pub config: &'a Provider,
    pub jwks: &'a CompiledJwks,
}

/// A compiled configuration, immutable once built.
#[derive(Debug)]
pub struct Gate {
    config: Config,
    policy: Policy,
    /// Each provider's key source, in `config.providers` order.
    jwks: Vec<CompiledJwks>,
    /// Every token source any provider accepts, without duplicates: a credential anywhere in
    /// them counts, so two credentials in two places are caught.
    sources: Vec<TokenSource>,
    /// Configured tenant ids, sorted (the `BTreeMap` order), for `Place::tenant`.
    tenant_ids: Vec<String>,
    /// The top-level claims the requirements read, kept by verification.
    claims_read: Vec<String>,
    /// The `directory` section compiled, when configured.
    directory: Option<compile::CompiledDirectory>,
}

impl Gate {
    /// Parses and compiles a configuration; every error names its field path.
    pub fn from_json(json: &[u8]) -> Result<Gate, config::ConfigErrors> {
        let config = config::parse(json)?;
        Gate::new(config)
    }

    /// Compiles an already parsed configuration (one built in code is held to the same checks).
    pub fn new(config: Config) -> Result<Gate, config::ConfigErrors> {
        let Compiled {
            policy,
            jwks,
            directory,
        } = compile::compile(&config)?;
        let mut sources: Vec<TokenSource> = Vec::new();
        for provider in &config.providers {
            for source in &provider.token_sources {
                if !sources.contains(source) {
                    sources.push(source.clone());
                }
            }
        }
        let tenant_ids = config.tenants.keys().cloned().collect();
        let mut claims_read = requirement::claims_read(&config);
        if let Some(operators) = &config.operators {
            // An operator's target and `iat` (for its lifetime), kept in cached tokens too.
            claims_read.extend([operators.target_claim.clone(), "iat".to_owned()]);
            claims_read.sort();
            claims_read.dedup();
        }
        Ok(Gate {
            config,
            policy,
            jwks,
            sources,
            tenant_ids,
            claims_read,
            directory,
        })
    }

    /// The `directory` section compiled (its callout, signer and limits), when configured.
    pub fn directory(&self) -> Option<&compile::CompiledDirectory> {
        self.directory.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Each provider with its compiled key source (the inline keys, or the callout that fetches
    /// them), in configuration order: what the glue builds its fetchers from.
    pub fn providers(&self) -> impl ExactSizeIterator<Item = GateProvider<'_>> + '_ {
        self.config
            .providers
            .iter()
            .zip(&self.jwks)
            .map(|(config, jwks)| GateProvider { config, jwks })
    }

    /// Decides one request. `now` is unix seconds. The cache, when given, short-cuts verification.
    pub fn decide(
        &self,
        req: &RequestView<'_>,
        keys: &dyn KeySource,
        cache: Option<&mut TokenCache>,
        now: u64,
    ) -> Outcome {
        self.decide_with(req, |headers| {
            // The one credential, unchecked: the cache is asked first (it holds only checked
            // tokens), and the credential checks run on a miss, with `extract`'s refusals.
            let extracted = extract::find(&self.sources, headers)
                .map_err(VerifyFailure::Denied)?
                .ok_or(VerifyFailure::Denied(Denial::TokenMissing))?;
            let verified = self.verify_cached(extracted.raw, keys, cache, now)?;
            // A provider only vouches for tokens presented where it said it would look.
            let accepted = self
                .config
                .providers
                .get(verified.provider)
                .is_some_and(|p| p.token_sources.contains(&extracted.source));
            if !accepted {
                return Err(VerifyFailure::Denied(Denial::TokenSourceNotAllowed));
            }
            Ok((verified, extracted.source))
        })
    }

    /// Decides a request as if it carried a validly signed token with these claims: the claim
    /// rules apply, the signature is taken as good. For trying a policy (`tenantgate explain`),
    /// never for traffic.
    pub fn decide_with_claims(
        &self,
        req: &RequestView<'_>,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: u64,
    ) -> Outcome {
        self.decide_with(req, |_| {
            let mut verified = verify::check_unsigned_claims(claims, &self.config.providers, now)
                .map_err(VerifyFailure::Denied)?;
            verified.kept = verify::keep_claims(claims, &self.claims_read);
            Ok((Arc::new(verified), TokenSource::Bearer))
        })
    }

    /// The decision, with the credential step (finding and verifying the token) handed in: it
    /// runs only when the route needs an identity.
    fn decide_with(
        &self,
        req: &RequestView<'_>,
        credential: impl FnOnce(
            &[(&str, &str)],
        ) -> Result<(Arc<VerifiedToken>, TokenSource), VerifyFailure>,
    ) -> Outcome {
        let mut at = Place::default();
        let deny = |denial: Denial, at: Place| Outcome::Deny { denial, at };
        let path = crate::policy::path::normalize(req.path).and_then(|path| {
            crate::policy::path::segment_parameters(path, self.config.path_parameters)
        });
        let path = match path {
            Ok(path) => path,
            Err(denial) => return deny(denial, at),
        };
        let Some(host) = crate::policy::host::normalize(req.authority) else {
            return deny(Denial::HostUnknown, at);
        };
        let owner = self.policy.owner(&host);
        if owner.is_none() && !self.policy.context().is_shared(&host) {
            return deny(Denial::HostUnknown, at);
        }
        at.tenant = owner.and_then(|owner| self.tenant_index(owner));
        let requirement = match self.policy.lookup(req.method, &host, &path) {
            Some((index, requirement)) => {
                at.rule = Some(index);
                requirement
            }
            None => &self.config.default_requirement,
        };
        // The tenant the host, path and header name, all agreeing (`None`: none names one).
        let named = match requirement {
            Requirement::Deny => None,
            _ => match self
                .policy
                .context()
                .sources(at.rule)
                .resolve(owner, &path, req.headers)
            {
                Ok(named) => named,
                Err(denial) => return deny(denial, at),
            },
        };
        match requirement {
            Requirement::Public => return Outcome::Allow { identity: None, at },
            Requirement::Deny => return deny(Denial::RouteDenied, at),
            Requirement::Authenticated | Requirement::Roles(_) | Requirement::Token(_) => {}
        }

        let (verified, source) = match credential(req.headers) {
            Ok(found) => found,
            Err(VerifyFailure::Denied(denial)) => return deny(denial, at),
            Err(VerifyFailure::AwaitKeys {
                provider,
                unknown_kid,
            }) => {
                return Outcome::AwaitKeys {
                    provider,
                    unknown_kid,
                }
            }
        };
        self.admit(requirement, named, &verified, source, at)
    }

    /// The checks on a verified token, in order: its tenant is the one the request names, the
    /// route's requirement holds, and its forwarded claims can travel as headers.
    fn admit(
        &self,
        requirement: &Requirement,
        named: Option<&str>,
        verified: &VerifiedToken,
        source: TokenSource,
        mut at: Place,
    ) -> Outcome {
        let deny = |denial: Denial, at: Place| Outcome::Deny { denial, at };
        let target = match self.operator_target(verified, at.rule, named) {
            Ok(target) => target,
            Err(denial) => return deny(denial, at),
        };
        if target.is_none() {
            if let Err(denial) = self.tenant_agrees(named, &verified.tenant) {
                return deny(denial, at);
            }
        }
        at.tenant = self.tenant_index(target.as_deref().unwrap_or(&verified.tenant));
        if let Requirement::Roles(roles) = requirement {
            if !roles.satisfied_by(&verified.roles) {
                at.requirement = Some(Part::Roles);
                return deny(Denial::RoleRequired, at);
            }
        }
        if let Requirement::Token(required) = requirement {
            if let Err((part, denial)) = requirement::check(required, &self.holder(verified)) {
                at.requirement = Some(part);
                return deny(denial, at);
            }
        }
        let claim_headers = match self.claim_headers(verified) {
            Ok(headers) => headers,
            Err(denial) => return deny(denial, at),
        };
        let acting_operator = target.is_some().then(|| verified.subject.clone());
        Outcome::Allow {
            identity: Some(Identity {
                tenant: target.unwrap_or_else(|| verified.tenant.clone()),
                user: verified.subject.clone(),
                roles: verified.roles.clone(),
                provider: verified.provider,
                source,
                claim_headers,
                acting_operator,
            }),
            at,
        }
    }

    /// Index of a configured tenant, in `Config::tenants` order.
    fn tenant_index(&self, tenant: &str) -> Option<usize> {
        self.tenant_ids
            .binary_search_by(|t| t.as_str().cmp(tenant))
            .ok()
    }

    /// The verified tenant against the tenant the request names. A request that names none (on
    /// a shared host, with no path or header source) acts for the token's tenant, which must be
    /// a configured tenant unless unlisted tenants are allowed, as on a host template.
    fn tenant_agrees(&self, named: Option<&str>, verified: &str) -> Result<(), Denial> {
        let known = || self.config.allow_unlisted_tenants || self.tenant_index(verified).is_some();
        match named {
            Some(named) if named == verified => Ok(()),
            None if known() => Ok(()),
            _ => Err(Denial::TenantMismatch),
        }
    }

    /// Which sources name which tenant on a request, for `tenantgate explain`: the host's tenant
    /// (or `None`), whether the host is shared, and the sources of the route the request hits.
    pub fn tenant_sources<'r>(&'r self, req: &RequestView<'r>) -> Option<TenantSources<'r>> {
        let path = crate::policy::path::normalize(req.path).ok()?;
        let host = crate::policy::host::normalize(req.authority)?;
        let rule = self.policy.lookup(req.method, &host, &path).map(|(i, _)| i);
        let sources = self.policy.context().sources(rule);
        let owner = self.policy.owner(&host);
        let named = sources
            .named(owner, &path, req.headers)
            .into_iter()
            .map(|n| (n.source, n.index, n.tenant.to_owned()))
            .collect();
        Some(TenantSources {
            shared_host: self.policy.context().is_shared(&host),
            named,
            required: &sources.required,
        })
    }

    /// The `headers.claims` headers of a verified token; a value no header can carry refuses
    /// the request rather than forward something the upstream would read differently.
    fn claim_headers(&self, verified: &VerifiedToken) -> Result<Vec<(String, String)>, Denial> {
        let mut out = Vec::new();
        for (header, claim) in &self.config.headers.claims {
            if let Some(value) = crate::policy::headers::claim_value(verified.kept.get(claim))? {
                out.push((header.clone(), value));
            }
        }
        Ok(out)
    }

    /// What a verified token holds, for the requirements beyond roles.
    fn holder<'a>(&'a self, verified: &'a VerifiedToken) -> Holder<'a> {
        Holder {
            roles: &verified.roles,
            claims: &verified.kept,
            permissions_claim: self
                .config
                .providers
                .get(verified.provider)
                .and_then(|p| p.permissions_claim.as_deref()),
            scopes_claim: self
                .config
                .providers
                .get(verified.provider)
                .and_then(|p| p.scopes_claim.as_ref())
                .map(|paths| paths.0.as_slice()),
            catalog: &self.config.role_permissions,
        }
    }

    /// Verifies the credential `raw` as found (unchecked), through the cache when there is one.
    /// The cache holds only tokens that passed [`extract::check`] with this gate's size cap, so
    /// a hit is a string byte-identical to a checked one and skips the check; on a miss the
    /// check runs first, with its refusals in `extract`'s order.
    fn verify_cached(
        &self,
        raw: &str,
        keys: &dyn KeySource,
        cache: Option<&mut TokenCache>,
        now: u64,
    ) -> Result<Arc<VerifiedToken>, VerifyFailure> {
        let max_bytes = self.config.max_token_bytes;
        let Some(cache) = cache else {
            let token = extract::check(raw, max_bytes).map_err(VerifyFailure::Denied)?;
            return self.verify(token.as_str(), keys, now).map(Arc::new);
        };
        // An oversized credential cannot be held: it is not worth hashing.
        if raw.len() <= max_bytes {
            if let Some(hit) = cache.lookup(raw, keys, now) {
                return hit.map_err(VerifyFailure::Denied);
            }
        }
        let token = extract::check(raw, max_bytes).map_err(VerifyFailure::Denied)?;
        let result = self.verify(token.as_str(), keys, now).map(Arc::new);
        match &result {
            Ok(verified) => cache.insert_verified(token, verified),
            Err(VerifyFailure::Denied(denial)) => cache.insert_refused(token, *denial, now),
            Err(VerifyFailure::AwaitKeys { .. }) => {}
        }
        result
    }

    fn verify(
        &self,
        token: &str,
        keys: &dyn KeySource,
        now: u64,
    ) -> Result<VerifiedToken, VerifyFailure> {
        let providers = &self.config.providers;
        verify::verify_keeping(token, providers, &self.claims_read, keys, now)
    }
}

pub mod audit;
pub use audit::Enforcement;
mod operator;

/// The gate of a configuration a test wrote, which must be valid.
#[cfg(test)]
fn gate_of(doc: &serde_json::Value) -> Gate {
    match Gate::from_json(doc.to_string().as_bytes()) {
        Ok(gate) => gate,
        Err(errors) => panic!("{errors}"),
    }
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod forwarding_tests;
#[cfg(test)]
mod idp_tests;
#[cfg(test)]
mod operator_tests;
