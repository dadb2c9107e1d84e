//! Fuzz target: arbitrary bytes as every Raft message Kiwi decodes (from a
//! peer or from its own log): no panic, bounded allocation, and anything
//! that decodes survives a re-encode round trip unchanged.
//!
//! Run: `ci/fuzz.sh raft_codec 60` (see docs/fuzzing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kiwi_raft::fuzzing::check_codec(data);
});
