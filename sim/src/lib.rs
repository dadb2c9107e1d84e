//! `kiwi-sim` runs the real kiwi-server inside madsim's deterministic
//! simulator (build with `RUSTFLAGS="--cfg madsim"`, see `ci/sim.sh`).
//!
//! This crate owns the simulation-side tools: a simulated cluster
//! ([`cluster`]) and the seeded fault injector ([`nemesis`]); the clients
//! (`kiwi_jepsen::workload`) and the checker come from `kiwi-jepsen` and run
//! here on simulated time and TCP.
//! The scenarios live in `tests/`. The RESP client is `kiwi_jepsen`'s
//! (over the runtime layer's TCP: simulated here, real in the harness).

/// The simulated servers allocate with what the production binary uses
/// (`kiwi/server/src/main.rs`), not the system allocator: the same code on
/// the same allocator, and glibc's malloc and free were ~9 % of a
/// simulation's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod nemesis;

use bytes::Bytes;
use kiwi_resp::Frame;

pub use kiwi_jepsen::client::{ClientError, RespConn};

/// Serialises simulations within one test process. RocksDB keeps one
/// process-wide timer for its periodic tasks and names each task after the
/// DB's session id, which is drawn from the RNG; under madsim two runs with
/// the same seed draw the same id, so running them at the same time (cargo
/// runs tests in parallel threads) fails `DB::open` with "Failed to register
/// periodic task". Hold the returned guard for the whole simulation.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A panicking simulation poisons the lock; later ones may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The run's seed (`MADSIM_TEST_SEED`, default 1), announced with the one
/// line that replays it; the test harness shows it when the test fails.
pub fn replay_seed(test: &str) -> u64 {
    let seed = std::env::var("MADSIM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    eprintln!("replay: MADSIM_TEST_SEED={seed} ci/sim.sh {test}");
    seed
}

/// A number from the environment (`SIM_SEEDS`, `MADSIM_TEST_SEED`, ...),
/// or `default` when unset or not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeds a canary build (a planted bug) gets to be caught in.
pub const CANARY_SEEDS: u64 = 200;

/// Runs `run_seed` on seeds 1..=[`CANARY_SEEDS`] until one panics (the
/// planted bug caught: returns that seed); panics if none does.
pub fn canary_caught_by(run_seed: impl Fn(u64)) -> u64 {
    let _serial = exclusive();
    for seed in 1..=CANARY_SEEDS {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(seed))).is_err() {
            eprintln!("canary caught by seed {seed}");
            return seed;
        }
    }
    panic!("the planted bug survived {CANARY_SEEDS} seeds");
}

/// Convenience for assertions: a bulk reply.
pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// Simulated time since the simulation started.
#[cfg(madsim)]
pub fn now() -> std::time::Duration {
    madsim::time::TimeHandle::current().elapsed()
}
