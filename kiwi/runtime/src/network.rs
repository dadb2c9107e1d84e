//! The network runtime: the multi-threaded tokio runtime that owns sockets,
//! RESP parsing and connection tasks. Under madsim the simulator's executor
//! plays this part.

use std::future::Future;

/// Worker threads for `io_threads` (0 = one fewer than the CPU cores, at
/// least 1, so the storage runtime's thread keeps a core of its own).
#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)]
fn workers(io_threads: usize) -> usize {
    if io_threads > 0 {
        return io_threads;
    }
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// Runs `main` to completion on a network runtime with `io_threads` workers.
#[cfg(not(madsim))]
pub fn block_on<F: Future>(io_threads: usize, main: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers(io_threads))
        .thread_name("kiwi-net")
        .enable_all()
        .build()?;
    Ok(rt.block_on(main))
}

/// Runs `main` to completion in a fresh simulation (one node).
#[cfg(madsim)]
pub fn block_on<F: Future>(_io_threads: usize, main: F) -> std::io::Result<F::Output> {
    Ok(madsim::runtime::Runtime::new().block_on(main))
}
