//! `kiwi-runtime` is the only door to the outside world.
//!
//! Networking, time, task spawning, randomness and the storage runtime all go
//! through this crate. In production it is tokio; built with
//! `RUSTFLAGS="--cfg madsim"` it is madsim's deterministic simulator. Because
//! every other crate reaches the world only through here, the same RESP
//! listener, command layer and RocksDB engine run unchanged in both, and a
//! simulation seed replays bit for bit.
//!
//! `clippy.toml` forbids the real clock, OS threads, sockets and thread-local
//! RNGs everywhere else; the few allowed uses below are the layer itself.
//!
//! Every `tokio::select!` in Kiwi is `biased;`: tokio picks the polling
//! order of an unbiased select from a per-thread RNG seeded with a
//! process-global counter, which no simulation seed controls, so a replayed
//! seed could take a different branch. A fixed order replays exactly.

pub mod buggify;
pub mod disk;
pub mod net;
pub mod network;
pub mod raft_rt;
pub mod rand;
pub mod signal;
pub mod storage;
pub mod sys;
pub mod task;
pub mod time;
pub mod tls;

/// Channels and locks are runtime-neutral (they never touch the OS), so they
/// are re-exported unchanged.
pub mod sync {
    pub use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify, RwLock, Semaphore};
}

/// Async I/O traits and helpers, re-exported so callers need no direct tokio
/// dependency. madsim streams only send on `flush()`: always flush.
pub mod io {
    pub use tokio::io::{
        split, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf,
    };
}

/// `true` when built for the simulator.
pub const SIMULATED: bool = cfg!(madsim);

/// Whether syncs to disk really fsync. Not in simulation: a simulated crash
/// keeps the OS page cache (the files are real), so an fsync there would
/// only cost wall time. Every durable write asks for `flush_wal(FSYNC)`.
pub const FSYNC: bool = !SIMULATED;
