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
