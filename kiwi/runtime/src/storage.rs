//! The storage runtime: where blocking RocksDB work runs.
//!
//! Kiwi keeps the original design's two runtimes. The network runtime owns
//! sockets and RESP; the storage runtime owns the engine. They talk through
//! bounded channels, so a slow disk pushes back on clients instead of
//! buffering without limit. In production the storage runtime is a dedicated
//! OS thread running its own current-thread tokio runtime (RocksDB calls
//! block it, never the network threads). Under madsim OS threads are refused
//! and `spawn_blocking` runs inline, so it is an ordinary simulated task.

use std::future::Future;

/// Niceness of the storage thread relative to the network threads.
#[cfg(not(madsim))]
const STORAGE_THREAD_NICE: i32 = 5;

/// Gives the calling thread a lower CPU priority (Linux: niceness is per
/// thread), so when cores are scarce the network runtime — PING, INFO,
/// CLIENT, replies — runs before storage work: a write flood slows down
/// writes, not everything. Best effort: a failure only costs isolation.
#[cfg(not(madsim))]
fn lower_this_threads_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; who = 0 is
    // the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, STORAGE_THREAD_NICE) };
    if rc != 0 {
        tracing::debug!("could not lower the storage thread's priority");
    }
}

/// How a storage runtime's thread competes for CPU with the network runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPriority {
    /// Niced below the network threads: for CPU-heavy work (executing
    /// commands on the engine) that a flood could make take every core.
    Background,
    /// The network threads' priority: for work that is mostly waiting on the
    /// disk and sits on every request's path (the Raft log's fsyncs). Niced,
    /// it waits behind any busy thread before it can complete a sync.
    Normal,
}

/// Handle to the storage runtime's worker; dropping it does not stop the worker.
pub struct StorageRuntime {
    #[cfg(not(madsim))]
    thread: Option<std::thread::JoinHandle<()>>,
    #[cfg(madsim)]
    task: Option<tokio::task::JoinHandle<()>>,
}

impl StorageRuntime {
    /// Starts `worker` (a loop reading its request channel) on the storage runtime.
    #[cfg(not(madsim))]
    #[allow(clippy::disallowed_methods)]
    pub fn start<F>(
        name: &str,
        priority: ThreadPriority,
        worker: F,
    ) -> std::io::Result<StorageRuntime>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                if priority == ThreadPriority::Background {
                    lower_this_threads_priority();
                }
                rt.block_on(worker)
            })?;
        Ok(StorageRuntime {
            thread: Some(thread),
        })
    }

    #[cfg(madsim)]
    pub fn start<F>(
        _name: &str,
        _priority: ThreadPriority,
        worker: F,
    ) -> std::io::Result<StorageRuntime>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Ok(StorageRuntime {
            task: Some(tokio::spawn(worker)),
        })
    }

    /// Waits for the worker to finish (after its request channel closed).
    pub async fn join(mut self) {
        #[cfg(not(madsim))]
        if let Some(thread) = self.thread.take() {
            // Joining a thread blocks; do it off the async executor.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        #[cfg(madsim)]
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
