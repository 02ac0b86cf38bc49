//! Envoy's process-wide shared data as a [`SharedStore`].
//!
//! The SDK's `hostcalls::get_shared_data`/`set_shared_data` panic on any status they do not
//! expect, and a panic kills the VM; these wrappers call the ABI directly and turn every
//! unexpected status into [`StoreError::Unavailable`], on which the workers fall back to fetching
//! on their own.

use std::ptr::{null, null_mut};

use proxy_wasm::types::Status;

use crate::jwks::shared::{SharedStore, StoreError};

#[link(wasm_import_module = "env")]
extern "C" {
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
}

pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
        let mut data: *mut u8 = null_mut();
        let mut size: usize = 0;
        let mut cas: u32 = 0;
        // SAFETY: the host writes a buffer it allocated through the SDK's exported
        // `proxy_on_memory_allocate` (a Vec allocation of exactly `size` bytes), which we own.
        let status = unsafe {
            proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        };
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

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
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
}
