//! Fuzz target: the server's RESP request decoder and the client frame
//! decoder must never panic, never loop, never over-read, decode the same
//! requests however the bytes are split across reads, round-trip every frame
//! they decode, and never let a declared length drive an allocation: no
//! single allocation may exceed a small multiple of the input size.
//!
//! Run: `ci/fuzz.sh resp_decode 60` (see docs/fuzzing.md).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;

/// The system allocator, recording the largest single request.
struct Tracking;

static LARGEST_ALLOC: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(layout.size(), Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOC.fetch_max(new_size, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

fuzz_target!(|data: &[u8]| {
    LARGEST_ALLOC.store(0, Relaxed);
    kiwi_resp::fuzzing::check_request_decoder(data);
    kiwi_resp::fuzzing::check_frame_decoder(data);
    // Buffers grow with the input; frame and argument vectors are capped by
    // the bytes present, never by what a header claims.
    let bound = 64 * data.len() + 64 * 1024;
    let largest = LARGEST_ALLOC.load(Relaxed);
    assert!(
        largest <= bound,
        "allocated {largest} bytes at once for a {}-byte input",
        data.len()
    );
});
