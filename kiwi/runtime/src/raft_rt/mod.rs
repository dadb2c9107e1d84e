//! OpenRaft's async runtime, built on this layer's tokio.
//!
//! OpenRaft 0.10 takes its runtime (spawn, sleep, timeouts, channels,
//! instants, RNG) as a type parameter. The upstream `openraft-rt-tokio`
//! binds to crates.io's `tokio`, which would bypass madsim; this adapter is
//! the same code written against the workspace's `tokio` (madsim-tokio), so
//! the Raft node runs on real tokio in production and on the simulated clock
//! and executor under `--cfg madsim`. The channel, mutex, watch and instant
//! wrappers are adapted from `openraft-rt-tokio` 0.10.0-alpha.37
//! (MIT OR Apache-2.0).

use std::future::Future;
use std::time::Duration;

use openraft_rt::{AsyncRuntime, OptionalSend};

mod instant;
mod mpsc;
mod mutex;
mod oneshot;
mod timeout;
mod watch;

pub use instant::TokioInstant;
pub use mpsc::{TokioMpsc, TokioMpscReceiver, TokioMpscSender, TokioMpscWeakSender};
pub use mutex::TokioMutex;
pub use oneshot::{TokioOneshot, TokioOneshotSender};
pub use timeout::{Elapsed, Timeout};
pub use watch::{LayerWatch, LayerWatchReceiver, LayerWatchSender};

/// The runtime type OpenRaft is instantiated with (`AsyncRuntime = KiwiRaftRuntime`).
pub struct KiwiRaftRuntime {
    #[cfg(not(madsim))]
    rt: tokio::runtime::Runtime,
    #[cfg(madsim)]
    rt: madsim::runtime::Runtime,
}

impl std::fmt::Debug for KiwiRaftRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KiwiRaftRuntime").finish()
    }
}

impl AsyncRuntime for KiwiRaftRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    type ThreadLocalRng = crate::rand::LayerRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::task::spawn(future)
    }

    // Durations and deadlines are on the node's clock (`TokioInstant`);
    // the timer wheel runs on true time.
    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(crate::time::true_duration(duration))
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        tokio::time::sleep_until(crate::time::true_instant(deadline.0))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, Self::sleep(duration))
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, Self::sleep_until(deadline))
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    /// The layer's RNG: seeded by the simulation under madsim (election
    /// timeouts are random; a replayed seed must replay them).
    fn thread_rng() -> Self::ThreadLocalRng {
        crate::rand::LayerRng
    }

    type Mpsc = TokioMpsc;
    type Watch = LayerWatch;
    type Oneshot = TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = TokioMutex<T>;

    /// Only OpenRaft's own test suites build runtimes this way; Kiwi runs
    /// Raft on the network runtime ([`crate::network::block_on`]).
    #[cfg(not(madsim))]
    #[allow(clippy::expect_used)]
    fn new(threads: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("building a tokio runtime for OpenRaft");
        KiwiRaftRuntime { rt }
    }

    #[cfg(madsim)]
    fn new(_threads: usize) -> Self {
        KiwiRaftRuntime {
            rt: madsim::runtime::Runtime::new(),
        }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.rt.block_on(future)
    }
}
