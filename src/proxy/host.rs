//! [`Host`] over proxy-wasm host calls: the SDK's `hostcalls` where they cannot panic on outside
//! input, [`super::abi`] where they could.

use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};

use tenantgate_core::jwks::shared::{SharedStore, StoreError};
use tenantgate_core::wire::HeaderBlock;

use super::abi;
use crate::host::{CalloutRequest, Host, HostError, MetricKind};

/// Envoy, as seen from one worker's VM. Stateless: every call goes to the host.
pub struct ProxyHost;

fn host_result<T>(result: Result<T, Status>) -> Result<T, HostError> {
    result.map_err(|status| HostError {
        status: format!("{status:?}"),
    })
}

impl SharedStore for ProxyHost {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        abi::shared_get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
        abi::shared_set(key, value, cas)
    }
}

impl Host for ProxyHost {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn random_u64(&self) -> Option<u64> {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .ok()
            .map(|()| u64::from_le_bytes(bytes))
    }

    fn request_headers(&self) -> HeaderBlock {
        abi::header_block(MapType::HttpRequestHeaders)
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        host_result(hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            name,
            value,
        ))
    }

    fn send_reply(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        host_result(hostcalls::send_http_response(
            status,
            headers.to_vec(),
            Some(body),
        ))
    }

    fn resume_request(&self) -> Result<(), HostError> {
        host_result(hostcalls::resume_http_request())
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        host_result(hostcalls::set_effective_context(context_id))
    }

    fn dispatch_callout(&self, request: &CalloutRequest<'_>) -> Result<u32, HostError> {
        host_result(hostcalls::dispatch_http_call(
            request.cluster,
            request.headers.to_vec(),
            None,
            vec![],
            request.timeout,
        ))
    }

    fn callout_response_headers(&self) -> Vec<(String, String)> {
        abi::header_map(MapType::HttpCallResponseHeaders)
    }

    fn callout_response_body(&self, max_bytes: usize) -> Vec<u8> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, max_bytes)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        host_result(hostcalls::define_metric(kind, name))
    }

    fn increment_metric(&self, id: u32, offset: i64) -> Result<(), HostError> {
        host_result(hostcalls::increment_metric(id, offset))
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        host_result(hostcalls::record_metric(id, value))
    }

    fn call_foreign_function(&self, name: &str, arguments: &[u8]) -> Result<Vec<u8>, HostError> {
        host_result(abi::foreign_call(name, arguments))
    }
}
