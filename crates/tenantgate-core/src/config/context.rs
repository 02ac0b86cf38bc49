//! Where a request names its tenant besides the host: path templates and a request header
//! (`tenant_context`, globally and per route), and the shared hosts that name no tenant.
//! Checked and compiled by `compile::context`; decided by `policy::context`.

use serde::Deserialize;

/// The tenant sources a request is checked against. Every source present on a request must
/// name the token's verified tenant; a source listed in `required` must be present.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "tenant_context"))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantContext {
    /// Path templates naming the tenant, such as `/tenants/{tenant}/**`: literal segments, `*`
    /// (any one segment), `{tenant}` (exactly once, a whole segment) and a final `**` (any
    /// rest). Matched on the normalized path; every template that matches is a source.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true), inner(regex(pattern = r"^/(.*/)?\{tenant\}(/.*)?$"))))]
    pub paths: Vec<String>,
    /// A request header naming the tenant (lower case), such as `x-tenant`; every copy is a
    /// source. Not an identity header, a token source or a reserved header.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<super::schema::IdentityHeader>")
    )]
    pub header: Option<String>,
    /// Sources that must be present: a request without one is refused with 400
    /// `tenant_context_missing`. `host` is absent only on a shared host.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("uniqueItems" = true, "default" = [])))]
    pub required: Vec<ContextSource>,
}

impl TenantContext {
    /// Whether no source besides the host is configured and none is required.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.header.is_none() && self.required.is_empty()
    }
}

/// A place a request names its tenant in.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "context_source"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextSource {
    /// The host, through `tenants.*.hosts` or `host_templates`.
    Host,
    /// A template of `paths`.
    Path,
    /// The configured `header`.
    Header,
}

impl ContextSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContextSource::Host => "host",
            ContextSource::Path => "path",
            ContextSource::Header => "header",
        }
    }
}
