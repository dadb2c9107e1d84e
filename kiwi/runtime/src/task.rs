//! Task spawning on the current (network) runtime.
pub use tokio::task::{yield_now, JoinHandle};

/// Spawns a task on the current runtime (a madsim node's executor in simulation).
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Runs blocking work (a synced RocksDB write, packing a snapshot) on the
/// blocking pool, off the async workers. Under madsim there are no OS
/// threads: it runs inline on the simulated task.
pub async fn blocking<F, R>(work: F) -> std::io::Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[cfg(not(madsim))]
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(std::io::Error::other)
    }
    #[cfg(madsim)]
    {
        Ok(work())
    }
}
