//! Directory documents through the whole adoption: the raw bytes as a document, and the bytes as
//! the payload of a document whose signature is taken as valid, so that the shape, entry,
//! consistency and merge checks are reached. Never panics; an adopted directory keeps every
//! static tenant, and each dropped entry stays out of the merged tenants. The same property runs
//! on every build in the core's tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "props/directory.rs"]
mod props;

fuzz_target!(|data: &[u8]| {
    props::directory(data);
});
