//! BUGGIFY-style fault points (after FoundationDB): code paths that are rare
//! in production — a slow apply, a failed RPC, a slow log sync — made common
//! in simulation so the tests exercise them. They exist only under madsim;
//! in production [`buggify`] is the constant `false` and compiles away.
//!
//! The simulator switches them on per run (chosen by the seed) with
//! [`enable`]; each point then fires with its own probability, drawn from
//! the simulation's seeded RNG, so a run replays exactly.

use std::time::Duration;

#[cfg(madsim)]
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Switches fault points on or off for the simulations that follow (the
/// simulator calls this before starting nodes).
#[cfg(madsim)]
pub fn enable(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a fault point fires now: never in production; in a buggified
/// simulation with probability `p` (0.0 ..= 1.0).
#[inline]
pub fn buggify(p: f64) -> bool {
    debug_assert!((0.0..=1.0).contains(&p), "a probability");
    #[cfg(madsim)]
    {
        ENABLED.load(std::sync::atomic::Ordering::Relaxed)
            && (crate::rand::u64() as f64) < p * (u64::MAX as f64)
    }
    #[cfg(not(madsim))]
    {
        let _ = p;
        false
    }
}

/// A fault point that delays: with probability `p`, sleeps a random time
/// below `max_ms` (simulated time).
pub async fn delay(p: f64, max_ms: u64) {
    if buggify(p) {
        let ms = crate::rand::index(max_ms.max(1) as usize) as u64;
        crate::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// A fault point that shrinks a buffer: with probability `p`, a random size
/// from 1 to 8 (never above `size`) instead of `size`. Reads of a few bytes
/// split requests and frames at every possible point.
pub fn shrink(size: usize, p: f64) -> usize {
    const SHRUNK_MAX: usize = 8;
    if buggify(p) {
        1 + crate::rand::index(size.clamp(1, SHRUNK_MAX))
    } else {
        size
    }
}

/// A fault point that shortens a timeout: with probability `p`, 1–50 % of
/// `timeout`, so the timeout paths (a write whose outcome the client never
/// learns) run often, not only under the rare faults that cause them.
pub fn shorten(timeout: Duration, p: f64) -> Duration {
    if buggify(p) {
        let percent = 1 + crate::rand::index(50) as u32;
        timeout * percent / 100
    } else {
        timeout
    }
}
