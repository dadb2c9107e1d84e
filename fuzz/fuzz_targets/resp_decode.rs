//! Fuzz target: the server's RESP request decoder and the client frame
//! decoder must never panic, never loop, and never over-read, whatever the
//! bytes and however they are split across reads.
//!
//! Run: `cargo fuzz run resp_decode fuzz/corpus/resp_decode` (see docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kiwi_resp::fuzzing::check_request_decoder(data);
    kiwi_resp::fuzzing::check_frame_decoder(data);
});
