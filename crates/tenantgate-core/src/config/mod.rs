//! The filter configuration: the JSON that Envoy passes as `configuration` (Istio: `pluginConfig`).
//!
//! Parsing is strict: unknown fields are refused, and every error names the JSON path of the field
//! that is wrong. [`parse`] checks the shape only; everything serde cannot say (ranges, names,
//! hosts, route patterns, key sets) is checked by [`crate::compile`] while it builds the gate, so
//! a configuration is checked exactly once. This module is a leaf: it imports no other part of
//! the crate, which all read it. `docs/tenantgate.schema.json` is generated from these types
//! (cargo feature `schema`).

mod claim_paths;
mod context;
mod de;
mod directory;
mod error;
mod jwks;
mod operators;
pub mod requirement;
#[cfg(feature = "schema")]
mod schema;
pub mod syntax;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use claim_paths::ClaimPaths;
pub use context::{ContextSource, TenantContext};
pub use directory::{Directory, DirectoryRemote};
pub use error::{ConfigError, ConfigErrors};
pub(crate) use jwks::default_refresh_seconds;
pub use jwks::{DiscoveryJwks, Jwks, RemoteJwks};
pub use operators::{Operators, DEFAULT_TARGET_CLAIM};
pub use requirement::{AnyAllOf, ClaimCondition, ClaimTest, TokenRequirement};
#[cfg(feature = "schema")]
pub use schema::schema;

/// The path of the document itself in errors.
const ROOT: &str = "(root)";

/// Parses the filter configuration (UTF-8 JSON): its shape only. Shape errors (syntax, types,
/// unknown or missing fields) stop at the first, with its JSON path. The semantic checks are the
/// compile step's ([`crate::gate::Gate::from_json`] runs both).
pub fn parse(json: &[u8]) -> Result<Config, ConfigErrors> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { ROOT.to_owned() } else { path };
        ConfigErrors::single(path, e.into_inner().to_string())
    })?;
    // Trailing characters after the document are refused like any syntax error.
    de.end()
        .map_err(|e| ConfigErrors::single(ROOT, e.to_string()))?;
    Ok(config)
}

/// Default name of the claim naming the tenant (what the issuer emits: see `token::claims`).
pub const DEFAULT_TENANT_CLAIM: &str = "tenantId";
/// Default claim of the subject (RFC 7519).
pub const DEFAULT_SUBJECT_CLAIM: &str = "sub";
/// Default name of the claim holding the roles (what the issuer emits: see `token::claims`).
pub const DEFAULT_ROLES_CLAIM: &str = "roles";

/// Allowed ranges (inclusive) of the numeric settings; errors name them.
pub mod limits {
    pub const MAX_TOKEN_BYTES: (u64, u64) = (1024, 65_536);
    pub const JWKS_WAIT_MS: (u64, u64) = (0, 60_000);
    pub const RETRY_AFTER_SECONDS: (u64, u64) = (1, 3600);
    pub const CLOCK_SKEW_SECONDS: (u64, u64) = (0, 600);
    pub const MAX_LIFETIME_SECONDS: (u64, u64) = (1, 31_536_000);
    pub const REFRESH_SECONDS: (u64, u64) = (1, 86_400);
    pub const JWKS_RESPONSE_BYTES: (u64, u64) = (1024, 1_048_576);
    pub const UNKNOWN_KID_REFETCH_SECONDS: (u64, u64) = (1, 3600);
    pub const BACKOFF_MS: (u64, u64) = (1, 3_600_000);
    pub const FETCH_TIMEOUT_MS: (u64, u64) = (1, 60_000);
    pub const CACHE_ENTRIES: (u64, u64) = (0, 1_000_000);
    pub const CACHE_BYTES: (u64, u64) = (0, 268_435_456);
    pub const OPERATOR_LIFETIME_SECONDS: (u64, u64) = (1, 86_400);
    pub const DIRECTORY_REFRESH_SECONDS: (u64, u64) = (1, 86_400);
    pub const DIRECTORY_BYTES: (u64, u64) = (1024, 16_777_216);
    pub const DIRECTORY_MAX_AGE_SECONDS: (u64, u64) = (60, 31_536_000);
}

/// The JSON given to the tenantgate proxy-wasm filter as Envoy `configuration` or Istio
/// WasmPlugin `pluginConfig`. Unknown fields are refused. See docs/configuration.md.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(rename = "Config", title = "tenantgate filter configuration")
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `realm` of the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 128), regex(pattern = r"^[ !#-\[\]-~]+$"))
    )]
    pub realm: String,
    /// Largest token accepted, in bytes (default 8 KiB).
    #[serde(default = "default_max_token_bytes")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::MAX_TOKEN_BYTES.0, max = limits::MAX_TOKEN_BYTES.1)))]
    pub max_token_bytes: usize,
    /// Trusted token issuers.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub providers: Vec<Provider>,
    /// Tenants by id, each with the hosts it owns. A repeated id is refused, not merged.
    #[serde(default, deserialize_with = "de::unique_keys")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = {}, "propertyNames" = {"$ref": "#/$defs/tenant_id"})))]
    pub tenants: BTreeMap<String, Tenant>,
    /// Host templates such as `{tenant}.app.example.com`; they apply to configured tenants, and to
    /// any tenant id when `allow_unlisted_tenants` is true.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true), inner(regex(pattern = r"^([A-Za-z0-9_-]+\.)*\{tenant\}(\.[A-Za-z0-9_-]+)*\.?$"))))]
    pub host_templates: Vec<String>,
    /// Let a host template name a tenant that is not in `tenants` (many-tenant SaaS). Default false.
    #[serde(default)]
    pub allow_unlisted_tenants: bool,
    /// Hosts that serve every tenant and name none (a single-host API): the tenant comes from
    /// the token, checked against the path and header sources. A tenant's host cannot be one.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<schema::Host>", extend("uniqueItems" = true)))]
    pub shared_hosts: Vec<String>,
    /// Where requests name their tenant besides the host (path templates, a header), and which
    /// sources are required; a route's own `tenant_context` replaces it for that route.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("default" = {})))]
    pub tenant_context: TenantContext,
    /// Ordered route rules; the first match decides.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("default" = [])))]
    pub routes: Vec<Route>,
    /// The role catalog: the permission strings each role grants, one catalog for every
    /// provider and tenant. A permission ending in `*` grants every permission that starts with
    /// what precedes the `*`. Read by `permissions` requirements.
    #[serde(default, deserialize_with = "de::unique_roles")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = {}, "propertyNames" = {"minLength": 1}), with = "BTreeMap<String, Vec<schema::GrantedPermission>>"))]
    pub role_permissions: BTreeMap<String, Vec<String>>,
    /// What applies to a request that no route matches. Default `deny`.
    #[serde(default = "default_requirement")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = "deny")))]
    pub default_requirement: Requirement,
    /// Names of the identity headers set upstream, and whether `Authorization` is forwarded.
    #[serde(default)]
    pub headers: Headers,
    /// How long a request waits for the first key set before a 503 (milliseconds, default 5000).
    #[serde(default = "default_jwks_wait_ms")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::JWKS_WAIT_MS.0, max = limits::JWKS_WAIT_MS.1)))]
    pub jwks_wait_ms: u64,
    /// `Retry-After` seconds on a 503 (default 5).
    #[serde(default = "default_retry_after_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::RETRY_AFTER_SECONDS.0, max = limits::RETRY_AFTER_SECONDS.1)))]
    pub retry_after_seconds: u64,
    /// Verified-token cache bounds.
    #[serde(default)]
    pub cache: CacheConfig,
    /// What to do with path segment parameters (`;` in a segment, which servlet containers and
    /// Spring strip before routing): `refuse` (default) or `strip`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("default" = "refuse")))]
    pub path_parameters: PathParameters,
    /// Audit (dry-run) mode for every route without its own `audit`: a refusal is logged and
    /// counted but not enforced; the request goes upstream without identity headers and with
    /// `headers.would_deny` naming the refusal. Malformed requests (`path_invalid`,
    /// `token_multiple`) and missing keys are refused all the same. Default false.
    #[serde(default)]
    pub audit: bool,
    /// Break-glass access: who operators are (a provider, a tenant, and a role), and how long
    /// their tokens may live to act on another tenant on routes with `operators: true`.
    #[serde(default)]
    pub operators: Option<Operators>,
    /// The signed tenant directory: more tenants, hosts, tenant-id mappings and tenants' own
    /// IdPs, fetched at run time. Static entries win over the directory's.
    #[serde(default)]
    pub directory: Option<Directory>,
}

/// Path segment parameters (`/admin;x=1`): Tomcat, Jetty and Spring route `/admin;x=1` as
/// `/admin`, so a rule for `/admin` must see it as `/admin` or not let it through at all.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "path_parameters"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathParameters {
    /// Refuse a path with `;` in it, raw or encoded (400 `path_invalid`).
    #[default]
    Refuse,
    /// Match route rules on the path without each segment's raw `;` parameters, as servlet
    /// containers route it; the request is forwarded as sent. An encoded `;` (`%3B`) is kept as
    /// a literal character.
    Strip,
}

/// One trusted issuer.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "provider", extend("not" = {"description": "`tenant` and `tenant_claim` are mutually exclusive.", "required": ["tenant", "tenant_claim"]})))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// A short name used in metrics and logs (`[a-z0-9_-]+`).
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$")))]
    pub name: String,
    /// The exact `iss` value of its tokens, or a template holding `{tenant}` once
    /// (`https://login.microsoftonline.com/{tenant}/v2.0`): the tenant is then taken from `iss`.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub issuer: String,
    /// Accepted audiences; the token's `aud` must contain one of them. Must not be empty.
    #[cfg_attr(feature = "schema", schemars(length(min = 1), inner(length(min = 1))))]
    pub audiences: Vec<String>,
    /// Bind the provider to one tenant (a tenant's own IdP): its tokens need no tenant claim, and
    /// a tenant claim they carry is ignored. Mutually exclusive with `tenant_claim`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<schema::TenantId>"))]
    pub tenant: Option<String>,
    /// Claim path naming the tenant, for a shared issuer (default `tenantId`; with an issuer
    /// template, none: the tenant comes from `iss`, and a claim given here must agree with it).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub tenant_claim: Option<String>,
    /// Claim path(s) holding the role names, each an array of strings (default `roles`); the
    /// roles of several paths are merged. A name is taken literally; one starting with `/` is a
    /// JSON Pointer (`/realm_access/roles`, `/st-role/v`).
    #[serde(default = "default_roles_claim")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = "roles")))]
    pub roles_claim: ClaimPaths,
    /// Claim holding permission strings (an array of strings, or one space-delimited string),
    /// read by `permissions` requirements besides the `role_permissions` of the token's roles.
    /// None by default.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub permissions_claim: Option<String>,
    /// Claim path of the subject, forwarded as the user (default `sub`).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub subject_claim: Option<String>,
    /// Claim path(s) holding OAuth scopes (arrays of strings or space-delimited strings), read
    /// by `scopes` requirements. Default: `scope` and `scp`.
    #[serde(default)]
    pub scopes_claim: Option<ClaimPaths>,
    /// Check this claim path instead of `aud`: it must hold (a string, or an array of strings)
    /// one of `audiences`, e.g. `client_id` for Cognito access tokens or `azp`. `aud` is then
    /// not read. Default: `aud`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub audience_claim: Option<String>,
    /// Tenant ids by the value the token carries (its tenant claim, or the `{tenant}` of an
    /// issuer template), for IdPs whose tenant values are not tenant ids (GUIDs, mixed case).
    /// When given, a value it does not list is refused (403 `tenant_unmapped`).
    #[serde(default, deserialize_with = "de::unique_keys_opt")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<BTreeMap<String, schema::TenantId>>", extend("minProperties" = 1, "propertyNames" = {"minLength": 1})))]
    pub tenant_map: Option<BTreeMap<String, String>>,
    /// Where its tokens are taken from (default: `Authorization: Bearer`).
    #[serde(default = "default_token_sources")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1), extend("uniqueItems" = true, "default" = [{"type": "bearer"}])))]
    pub token_sources: Vec<TokenSource>,
    /// Tolerance for `exp`, `nbf` and `iat`, in seconds (default 60).
    #[serde(default = "default_clock_skew_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::CLOCK_SKEW_SECONDS.0, max = limits::CLOCK_SKEW_SECONDS.1)))]
    pub clock_skew_seconds: u64,
    /// Refuse tokens whose `exp - iat` (or `exp - now` without `iat`) exceeds this, in seconds.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::MAX_LIFETIME_SECONDS.0, max = limits::MAX_LIFETIME_SECONDS.1)))]
    pub max_lifetime_seconds: Option<u64>,
    /// Where the keys come from.
    pub jwks: Jwks,
}

impl Provider {
    /// The tenant claim name in force for a shared issuer.
    pub fn tenant_claim_name(&self) -> &str {
        self.tenant_claim.as_deref().unwrap_or(DEFAULT_TENANT_CLAIM)
    }

    /// The subject claim path in force.
    pub fn subject_claim_name(&self) -> &str {
        self.subject_claim
            .as_deref()
            .unwrap_or(DEFAULT_SUBJECT_CLAIM)
    }

    /// Whether `issuer` is a template holding `{tenant}`.
    pub fn issuer_is_template(&self) -> bool {
        self.issuer.contains(syntax::TENANT_PLACEHOLDER)
    }
}

/// A place a token may be presented in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "de::RawTokenSource")]
pub enum TokenSource {
    /// `Authorization: Bearer <token>`, scheme case-insensitive.
    Bearer,
    /// A named request header whose whole value is the token.
    Header { name: String },
    /// A named cookie.
    Cookie { name: String },
}

/// A tenant and the hosts it owns.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "tenant"))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The hosts this tenant owns.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<schema::Host>"))]
    pub hosts: Vec<String>,
}

/// One route rule.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "route"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Optional name, shown by `tenantgate explain` and in debug logs.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: Option<String>,
    pub path: PathMatch,
    /// Methods this rule applies to (upper case); all when absent.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(min = 1), extend("uniqueItems" = true), inner(regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Z-]+$"))))]
    pub methods: Option<Vec<String>>,
    /// Hosts this rule applies to; all when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<Vec<schema::Host>>", length(min = 1))
    )]
    pub hosts: Option<Vec<String>>,
    pub require: Requirement,
    /// This route's tenant sources, replacing the global `tenant_context` as a whole (`{}`: the
    /// host alone).
    #[serde(default)]
    pub tenant_context: Option<TenantContext>,
    /// Audit (dry-run) mode for this route, replacing the top-level `audit`.
    #[serde(default)]
    pub audit: Option<bool>,
    /// Let an operator's token (see `operators`) act on the tenant it names as its target on
    /// this route. Default false.
    #[serde(default)]
    pub operators: bool,
}

/// How a rule matches the normalized path. Exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "de::RawPathMatch")]
pub enum PathMatch {
    /// The whole path equals this.
    Exact(String),
    /// The path equals this or continues with `/` after it (segment boundary).
    Prefix(String),
    /// `*` matches within one segment, `**` any number of whole segments.
    Glob(String),
}

/// What a matched route requires.
/// Deserialized by hand (`de.rs`) for clear errors; the JSON forms are `"public"`,
/// `"authenticated"`, `"deny"` and an object of `roles`, `permissions`, `scopes` and `claims`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// No token needed; identity headers are still stripped.
    Public,
    /// A valid token whose tenant owns the host.
    Authenticated,
    /// Refused whatever the token.
    Deny,
    /// A valid token with these roles: `{"roles": {...}}` alone.
    Roles(RoleRequirement),
    /// A valid token meeting every part given: any object with more than `roles`.
    Token(Box<TokenRequirement>),
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "roles", extend("anyOf" = [{"required": ["any_of"], "properties": {"any_of": {"minItems": 1}}}, {"required": ["all_of"], "properties": {"all_of": {"minItems": 1}}}])))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequirement {
    /// At least one of these roles.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(inner(length(min = 1))))]
    pub any_of: Vec<String>,
    /// Every one of these roles.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(inner(length(min = 1))))]
    pub all_of: Vec<String>,
}

impl RoleRequirement {
    /// Whether a token's roles satisfy the rule: one of `any_of` (when given) and every one of
    /// `all_of`. A rule naming no role at all (which validation refuses) is never satisfied.
    pub fn satisfied_by(&self, roles: &[String]) -> bool {
        if self.any_of.is_empty() && self.all_of.is_empty() {
            return false;
        }
        let has = |wanted: &String| roles.iter().any(|r| r == wanted);
        (self.any_of.is_empty() || self.any_of.iter().any(has)) && self.all_of.iter().all(has)
    }
}

/// Identity headers set upstream.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "headers"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    /// The header carrying the verified tenant id.
    #[serde(default = "default_tenant_header")]
    #[cfg_attr(feature = "schema", schemars(with = "schema::IdentityHeader"))]
    pub tenant: String,
    /// The header carrying the token's subject.
    #[serde(default = "default_user_header")]
    #[cfg_attr(feature = "schema", schemars(with = "schema::IdentityHeader"))]
    pub user: String,
    /// The header carrying the roles, comma-separated.
    #[serde(default = "default_roles_header")]
    #[cfg_attr(feature = "schema", schemars(with = "schema::IdentityHeader"))]
    pub roles: String,
    /// Forward the `Authorization` header (and other token sources) upstream. Default false, as
    /// Envoy's `jwt_authn` `forward`: the upstream gets verified identity, not a replayable token.
    #[serde(default)]
    pub forward_token: bool,
    /// More verified claims upstream: header name → top-level claim name. Strings as they are;
    /// numbers and booleans as JSON text; arrays of strings comma-joined. A missing or null
    /// claim sets no header. Client copies are stripped like the identity headers.
    #[serde(default, deserialize_with = "de::unique_header_names")]
    #[cfg_attr(feature = "schema", schemars(extend("default" = {}, "propertyNames" = {"$ref": "#/$defs/identity_header"}, "additionalProperties" = {"type": "string", "minLength": 1})))]
    pub claims: BTreeMap<String, String>,
    /// In audit mode, the header naming the refusal that was not enforced (its code). Client
    /// copies are stripped like the identity headers, whether audit mode is on or not.
    #[serde(default = "default_would_deny_header")]
    #[cfg_attr(feature = "schema", schemars(with = "schema::IdentityHeader"))]
    pub would_deny: String,
    /// The header carrying the subject of an operator acting on another tenant (see
    /// `operators`). Client copies are always stripped.
    #[serde(default = "default_acting_operator_header")]
    #[cfg_attr(feature = "schema", schemars(with = "schema::IdentityHeader"))]
    pub acting_operator: String,
}

impl Default for Headers {
    fn default() -> Self {
        Headers {
            tenant: default_tenant_header(),
            user: default_user_header(),
            roles: default_roles_header(),
            forward_token: false,
            claims: BTreeMap::new(),
            would_deny: default_would_deny_header(),
            acting_operator: default_acting_operator_header(),
        }
    }
}

/// Verified-token cache bounds.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "cache"))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Most verified tokens kept per worker (0 turns the cache off; default 10000).
    #[serde(default = "default_cache_entries")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::CACHE_ENTRIES.0, max = limits::CACHE_ENTRIES.1)))]
    pub max_entries: usize,
    /// Most bytes of cached tokens and identities per worker (default 8 MiB).
    #[serde(default = "default_cache_bytes")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::CACHE_BYTES.0, max = limits::CACHE_BYTES.1)))]
    pub max_bytes: usize,
    /// Most refused tokens remembered, so a flood of one bad token costs nothing (default 1024).
    #[serde(default = "default_negative_entries")]
    #[cfg_attr(feature = "schema", schemars(range(min = limits::CACHE_ENTRIES.0, max = limits::CACHE_ENTRIES.1)))]
    pub negative_max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: default_cache_entries(),
            max_bytes: default_cache_bytes(),
            negative_max_entries: default_negative_entries(),
        }
    }
}

fn default_realm() -> String {
    "tenantgate".into()
}
fn default_max_token_bytes() -> usize {
    8 * 1024
}
fn default_requirement() -> Requirement {
    Requirement::Deny
}
fn default_jwks_wait_ms() -> u64 {
    5000
}
fn default_retry_after_seconds() -> u64 {
    5
}
pub(crate) fn default_roles_claim() -> ClaimPaths {
    ClaimPaths::one(DEFAULT_ROLES_CLAIM)
}
pub(crate) fn default_token_sources() -> Vec<TokenSource> {
    vec![TokenSource::Bearer]
}
pub(crate) fn default_clock_skew_seconds() -> u64 {
    60
}
fn default_tenant_header() -> String {
    "x-tenant-id".into()
}
fn default_user_header() -> String {
    "x-user-id".into()
}
fn default_roles_header() -> String {
    "x-user-roles".into()
}
fn default_would_deny_header() -> String {
    "x-tenantgate-would-deny".into()
}

fn default_acting_operator_header() -> String {
    "x-acting-operator".into()
}

fn default_cache_entries() -> usize {
    10_000
}
fn default_cache_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_negative_entries() -> usize {
    1024
}

#[cfg(test)]
pub(crate) mod tests;
