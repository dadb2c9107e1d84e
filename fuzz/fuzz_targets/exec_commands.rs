//! Fuzz target: arbitrary request streams run against a real engine (a
//! RocksDB directory created once per fuzzing process). No input may panic
//! the command layer, and every reply must encode to valid RESP2 and RESP3.
//!
//! Run: `ci/fuzz.sh exec_commands 60` (see docs/fuzzing.md).
#![no_main]

use std::sync::{Mutex, OnceLock};

use kiwi_cmd::fuzzing::Harness;
use libfuzzer_sys::fuzz_target;

// kiwi-server's allocator, so the engine runs as in production; only
// without a sanitizer (ci/fuzz.sh), since ASan needs the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct State {
    harness: Harness,
    // Kept alive for the whole process: the engine lives in it.
    _dir: tempfile::TempDir,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let state = STATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir for the fuzz engine");
        let harness = Harness::open(dir.path());
        Mutex::new(State { harness, _dir: dir })
    });
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.harness.check(data);
});
