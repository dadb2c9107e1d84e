//! Time. All of Kiwi reads clocks here and nowhere else.
//!
//! Under madsim, `clock_gettime` is virtualised for simulation threads, so the
//! wall clock below is the simulated one and advances with simulated time.
use std::time::Duration;

pub use tokio::time::{interval, sleep, timeout, Instant, Interval, MissedTickBehavior};

/// Wall-clock time in milliseconds since the Unix epoch (what TTLs use).
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// Wall-clock time in microseconds since the Unix epoch (TIME, CLIENT LIST).
#[allow(clippy::disallowed_methods)]
pub fn now_us() -> u64 {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    skewed(us)
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

#[cfg(not(madsim))]
fn skewed(us: u64) -> u64 {
    us
}

/// Under madsim every node reads one simulated wall clock; the simulator
/// gives each node its own error on top (`set_clock_skew_ms`), as NTP
/// leaves real machines some milliseconds to seconds apart, and can step a
/// node's clock back or forth mid-run.
#[cfg(madsim)]
fn skewed(us: u64) -> u64 {
    CLOCK_SKEWS_MS.with(|skews| {
        let skews = skews.borrow();
        if skews.is_empty() {
            // Unskewed runs never ask for the node (nor need a task context).
            return us;
        }
        let node = madsim::plugin::node();
        let skew_ms = skews.iter().find(|(n, _)| *n == node).map_or(0, |s| s.1);
        us.saturating_add_signed(skew_ms.saturating_mul(1000))
    })
}

#[cfg(madsim)]
std::thread_local! {
    /// Each simulated node's clock error; at most a handful of entries.
    /// Per thread: a madsim runtime runs on the thread that drives it, and
    /// tests run several runtimes side by side, whose node ids overlap.
    static CLOCK_SKEWS_MS: std::cell::RefCell<Vec<(madsim::task::NodeId, i64)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Sets `node`'s wall-clock error (simulation only): its `now_ms` and
/// `now_us` read `skew_ms` off the simulated clock. Monotonic time
/// (`instant`, timers) is not skewed: madsim has one clock for it.
#[cfg(madsim)]
pub fn set_clock_skew_ms(node: madsim::task::NodeId, skew_ms: i64) {
    CLOCK_SKEWS_MS.with(|skews| {
        let mut skews = skews.borrow_mut();
        skews.retain(|(n, _)| *n != node);
        if skew_ms != 0 {
            skews.push((node, skew_ms));
        }
    })
}

/// Forgets every node's clock error (a new simulation run's node ids start
/// over).
#[cfg(madsim)]
pub fn clear_clock_skews() {
    CLOCK_SKEWS_MS.with(|skews| skews.borrow_mut().clear())
}
