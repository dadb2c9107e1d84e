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

/// Engine directories are named after their process, since statics are
/// never dropped: a process that exits (as every `-fork` child does after
/// its job) leaves its directory behind.
const DIR_PREFIX: &str = "kiwi-fuzz-exec-";

/// Removes the engine directories of processes that no longer run, so
/// `-fork=N` runs do not fill the temp directory (a tmpfs, in RAM, when
/// `TMPDIR=/dev/shm`). Linux: a process runs if `/proc/<pid>` exists.
fn remove_dead_processes_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let state = STATE.get_or_init(|| {
        remove_dead_processes_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .expect("temp dir for the fuzz engine");
        let harness = Harness::open(dir.path());
        Mutex::new(State { harness, _dir: dir })
    });
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.harness.check(data);
});
