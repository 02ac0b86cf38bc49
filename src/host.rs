//! What the glue asks of its host (Envoy, through proxy-wasm), as one small trait, so that the
//! worker's logic runs against a fake host in native unit tests.
//!
//! Request calls act on the host's *effective* context: the request whose callback is running,
//! or the one chosen with [`Host::set_effective_context`] (how the root answers a request that
//! waited for keys). Shared data is the supertrait [`SharedStore`]: process-wide bytes with
//! compare-and-swap, shared by every worker of the plugin.

use std::fmt;
use std::time::Duration;

use tenantgate_core::jwks::shared::SharedStore;
use tenantgate_core::wire::HeaderBlock;

/// A host call the host refused, with the status it answered (for logs; never decisive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// The host's status name, e.g. `NotFound`, `BadArgument`.
    pub status: String,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.status)
    }
}

/// The kinds of stats the glue defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// One outgoing HTTP GET through an Envoy cluster: a JWKS callout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalloutRequest<'a> {
    pub cluster: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub timeout: Duration,
}

pub trait Host: SharedStore {
    /// Host time in unix milliseconds; 0 when the host cannot tell (every token then looks issued
    /// in the future and is refused: failing closed).
    fn now_ms(&self) -> u64;

    /// 8 random bytes, or `None` when the host has no randomness.
    fn random_u64(&self) -> Option<u64>;

    /// Every header of the effective request (pseudo-headers included, names lower case), in
    /// one block; empty when the host has none or sends something malformed.
    fn request_headers(&self) -> HeaderBlock;

    /// Sets (`Some`) or removes (`None`) every copy of a header of the effective request.
    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError>;

    /// Answers the effective request locally; it never reaches the upstream.
    fn send_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError>;

    /// Lets the effective request, paused earlier, go on to the upstream.
    fn resume_request(&self) -> Result<(), HostError>;

    /// Makes `context_id` the effective request; an error when it is gone (client reset).
    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError>;

    /// Starts a callout; its answer comes to the worker's `on_callout_response` with the
    /// returned token. The host answers the context whose callback dispatched, so the worker
    /// dispatches only from the root's callbacks (configure and tick).
    fn dispatch_callout(&self, request: &CalloutRequest<'_>) -> Result<u32, HostError>;

    /// The headers of the callout answer being delivered (`:status` included).
    fn callout_response_headers(&self) -> Vec<(String, String)>;

    /// The first `max_bytes` of the body of the callout answer being delivered.
    fn callout_response_body(&self, max_bytes: usize) -> Vec<u8>;

    /// Defines a stat; the host shares stats of the same name across workers.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError>;

    /// Adds `offset` to a counter.
    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError>;

    /// Sets a gauge.
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError>;

    /// Calls the host's foreign function `name` with serialized `arguments`; its serialized
    /// answer (`NotFound` when the host has no such function).
    fn call_foreign_function(&self, name: &str, arguments: &[u8]) -> Result<Vec<u8>, HostError>;
}
