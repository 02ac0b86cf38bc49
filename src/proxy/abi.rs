//! Host calls made through the ABI directly, where the SDK's wrappers could panic on input the
//! client or the host controls (a panic kills the worker's VM and every request on it):
//!
//! - header maps: the SDK unwraps UTF-8 conversions, so one non-UTF-8 header byte would panic;
//!   [`header_map`] and [`header_block`] decode with [`tenantgate_core::wire`] instead.
//! - shared data: the SDK panics on statuses it does not expect; [`shared_get`] and [`shared_set`]
//!   turn them into [`StoreError::Unavailable`], on which the workers fall back to fetching on
//!   their own.
//! - foreign functions: the SDK panics on statuses it does not expect; [`foreign_call`] returns
//!   them, and the caller falls back to ring.

use std::ptr::{null, null_mut};

use proxy_wasm::types::{MapType, Status};

use tenantgate_core::jwks::shared::StoreError;
use tenantgate_core::wire::{decode_header_map, HeaderBlock};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> Status;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> Status;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> Status;
}

/// All pairs of a header map (request headers, callout response headers...); empty when the
/// host has none or sends something malformed.
pub fn header_map(map_type: MapType) -> Vec<(String, String)> {
    header_map_bytes(map_type)
        .and_then(|bytes| decode_header_map(&bytes))
        .unwrap_or_default()
}

/// The same as one [`HeaderBlock`]: the request path's form (fewer allocations).
pub fn header_block(map_type: MapType) -> HeaderBlock {
    header_map_bytes(map_type)
        .and_then(|bytes| HeaderBlock::decode(&bytes))
        .unwrap_or_default()
}

/// The serialized header map, as the host hands it over.
fn header_map_bytes(map_type: MapType) -> Option<Vec<u8>> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: as for shared data below: the host hands over a buffer allocated through the SDK's
    // `proxy_on_memory_allocate`, of exactly `size` bytes, which we then own.
    let status = unsafe { proxy_get_header_map_pairs(map_type, &mut data, &mut size) };
    if status != Status::Ok || data.is_null() {
        return None;
    }
    // SAFETY: see above.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// The shared-data value of `key` and its CAS ([`tenantgate_core::jwks::shared::SharedStore::get`]).
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: the host writes a buffer it allocated through the SDK's exported
    // `proxy_on_memory_allocate` (a Vec allocation of exactly `size` bytes), which we own.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        Status::Ok if !data.is_null() => {
            // SAFETY: see above; capacity equals the allocated size.
            let value = unsafe { Vec::from_raw_parts(data, size, size) };
            if cas == 0 {
                Err(StoreError::Unavailable)
            } else {
                Ok(Some((value, cas)))
            }
        }
        Status::Ok | Status::NotFound => Ok(None),
        _ => Err(StoreError::Unavailable),
    }
}

/// Writes a shared-data value ([`tenantgate_core::jwks::shared::SharedStore::set`]).
pub fn shared_set(key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
    let value_ptr = if value.is_empty() {
        null()
    } else {
        value.as_ptr()
    };
    // SAFETY: plain pointers to live buffers, read by the host during the call.
    let status = unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value_ptr,
            value.len(),
            cas.unwrap_or(0),
        )
    };
    match status {
        Status::Ok => Ok(()),
        Status::CasMismatch => Err(StoreError::CasMismatch),
        _ => Err(StoreError::Unavailable),
    }
}

/// Calls the host's foreign function `name`: its answer, or the status it refused with.
pub fn foreign_call(name: &str, arguments: &[u8]) -> Result<Vec<u8>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    // SAFETY: plain pointers to live buffers, read by the host during the call; the answer is a
    // buffer the host allocated through the SDK's `proxy_on_memory_allocate` (a Vec allocation of
    // exactly `size` bytes), which we then own.
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            arguments.as_ptr(),
            arguments.len(),
            &mut data,
            &mut size,
        )
    };
    match status {
        Status::Ok if data.is_null() => Ok(Vec::new()),
        Status::Ok => {
            // SAFETY: see above.
            Ok(unsafe { Vec::from_raw_parts(data, size, size) })
        }
        status => Err(status),
    }
}
