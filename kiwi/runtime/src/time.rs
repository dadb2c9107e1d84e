//! Time. All of Kiwi reads clocks here and nowhere else.
//!
//! Under madsim, `clock_gettime` is virtualised for simulation threads, so the
//! wall clock below is the simulated one and advances with simulated time.
use std::time::Duration;

pub use tokio::time::{interval, sleep, timeout, Instant, Interval, MissedTickBehavior};

/// Wall-clock time in milliseconds since the Unix epoch (what TTLs use).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock time in microseconds since the Unix epoch (TIME, CLIENT LIST).
#[allow(clippy::disallowed_methods)]
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The monotonic clock now (simulated under madsim, where tokio's
/// `Instant` is std's with a virtualised clock).
#[allow(clippy::disallowed_methods)]
pub fn instant() -> Instant {
    Instant::now()
}

/// Sleeps for `ms` milliseconds of (possibly simulated) time.
pub async fn sleep_ms(ms: u64) {
    sleep(Duration::from_millis(ms)).await
}
