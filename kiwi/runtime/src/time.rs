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

/// The node's own monotonic reading at true monotonic time `t`: OpenRaft's
/// clock ([`crate::raft_rt`]). In production, `t` itself.
#[cfg(not(madsim))]
#[inline]
pub fn node_instant(t: Instant) -> Instant {
    t
}

/// The true instant at which the node's monotonic clock reads `local`
/// (the inverse of [`node_instant`]). In production, `local` itself.
#[cfg(not(madsim))]
#[inline]
pub fn true_instant(local: Instant) -> Instant {
    local
}

/// How long `d` of the node's monotonic time lasts in true time. In
/// production, `d` itself.
#[cfg(not(madsim))]
#[inline]
pub fn true_duration(d: Duration) -> Duration {
    d
}

#[cfg(madsim)]
pub use node_clock::{
    clear_node_clocks, node_instant, set_clock_drift_ppm, set_clock_skew_ms, true_duration,
    true_instant,
};

#[cfg(madsim)]
use node_clock::skewed;

/// Under madsim every node reads one simulated clock; the simulator gives
/// each node its own clock on top, as real machines have: a wall-clock
/// error (NTP leaves machines milliseconds to seconds apart, and may step a
/// clock back or forth mid-run) and a rate error (an oscillator runs some
/// parts per million fast or slow, so the wall-clock error grows and every
/// timer on the node fires early or late).
///
/// The rate applies to the wall clock (`now_ms`, `now_us`) and to OpenRaft's
/// clock and timers (its runtime, [`crate::raft_rt`], maps through
/// [`node_instant`], [`true_instant`] and [`true_duration`]), so election
/// and heartbeat timeouts run at the node's rate. Kiwi's own timers
/// (`sleep`, `timeout`, `interval`, `instant`: client timeouts, the expiry
/// period) stay on true time.
#[cfg(madsim)]
mod node_clock {
    use std::time::Duration;

    use super::Instant;
    use madsim::task::NodeId;

    const PPM: i128 = 1_000_000;

    /// One node's clock, piecewise linear in true monotonic time: fixed at
    /// `since`, moving at `1 + drift_ppm / 10^6` of true time after it.
    /// Nanosecond arithmetic: a node without drift reads the true clock
    /// exactly, so runs that never set a rate replay as before.
    #[derive(Clone, Copy)]
    struct NodeClock {
        node: NodeId,
        /// Wall-clock error at `since`, ns (positive: ahead).
        wall_error_ns: i128,
        /// The node's monotonic reading at `since` less the true one, ns.
        mono_offset_ns: i128,
        /// Rate error, parts per million (positive: fast).
        drift_ppm: i64,
        since: Instant,
    }

    impl NodeClock {
        fn new(node: NodeId, now: Instant) -> NodeClock {
            NodeClock {
                node,
                wall_error_ns: 0,
                mono_offset_ns: 0,
                drift_ppm: 0,
                since: now,
            }
        }

        /// What the rate error has added between `since` and `now`, ns.
        fn drifted_ns(&self, now: Instant) -> i128 {
            nanos(now.saturating_duration_since(self.since)) * i128::from(self.drift_ppm) / PPM
        }

        /// Moves `since` to `now`, keeping every reading the same.
        fn rebase(&mut self, now: Instant) {
            let drifted_ns = self.drifted_ns(now);
            self.wall_error_ns += drifted_ns;
            self.mono_offset_ns += drifted_ns;
            self.since = now;
        }
    }

    fn nanos(d: Duration) -> i128 {
        d.as_nanos() as i128
    }

    fn duration(ns: i128) -> Duration {
        Duration::from_nanos(ns.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// `t` moved by `ns` (either way).
    fn shift(t: Instant, ns: i128) -> Instant {
        if ns >= 0 {
            t + duration(ns)
        } else {
            t.checked_sub(duration(-ns)).unwrap_or(t)
        }
    }

    std::thread_local! {
        /// Each simulated node's clock; at most a handful of entries.
        /// Per thread: a madsim runtime runs on the thread that drives it,
        /// and tests run several runtimes side by side, whose node ids
        /// overlap.
        static NODE_CLOCKS: std::cell::RefCell<Vec<NodeClock>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// The calling node's clock, if the simulator gave it one. Runs with
    /// no clocks set never ask for the node (nor need a task context).
    fn current() -> Option<NodeClock> {
        NODE_CLOCKS.with(|clocks| {
            let clocks = clocks.borrow();
            if clocks.is_empty() {
                return None;
            }
            let node = madsim::plugin::node();
            clocks.iter().find(|c| c.node == node).copied()
        })
    }

    fn update(node: NodeId, change: impl FnOnce(&mut NodeClock)) {
        let now = super::instant();
        NODE_CLOCKS.with(|clocks| {
            let mut clocks = clocks.borrow_mut();
            let i = match clocks.iter().position(|c| c.node == node) {
                Some(i) => i,
                None => {
                    clocks.push(NodeClock::new(node, now));
                    clocks.len() - 1
                }
            };
            clocks[i].rebase(now);
            change(&mut clocks[i]);
        })
    }

    pub(super) fn skewed(us: u64) -> u64 {
        match current() {
            Some(c) => {
                let error_ns = c.wall_error_ns + c.drifted_ns(super::instant());
                let error_us = (error_ns / 1000).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
                us.saturating_add_signed(error_us as i64)
            }
            None => us,
        }
    }

    /// Steps `node`'s wall clock to `skew_ms` off true time (simulation
    /// only); its rate error, if any, moves it on from there.
    pub fn set_clock_skew_ms(node: NodeId, skew_ms: i64) {
        update(node, |c| c.wall_error_ns = i128::from(skew_ms) * 1_000_000);
    }

    /// Makes `node`'s clock run `drift_ppm` parts per million fast
    /// (negative: slow) from now on (simulation only). No reading jumps.
    pub fn set_clock_drift_ppm(node: NodeId, drift_ppm: i64) {
        assert!(drift_ppm > -(PPM as i64), "a clock runs forward");
        update(node, |c| c.drift_ppm = drift_ppm);
    }

    /// Forgets every node's clock (a new simulation run's node ids start
    /// over).
    pub fn clear_node_clocks() {
        NODE_CLOCKS.with(|clocks| clocks.borrow_mut().clear())
    }

    pub fn node_instant(t: Instant) -> Instant {
        match current() {
            Some(c) => shift(t, c.mono_offset_ns + c.drifted_ns(t)),
            None => t,
        }
    }

    pub fn true_instant(local: Instant) -> Instant {
        let Some(c) = current() else {
            return local;
        };
        // local = since + offset + (t - since) * rate, solved for t.
        let local_since = shift(c.since, c.mono_offset_ns);
        let ahead_ns = if local >= local_since {
            nanos(local - local_since)
        } else {
            -nanos(local_since - local)
        };
        shift(c.since, ahead_ns * PPM / (PPM + i128::from(c.drift_ppm)))
    }

    pub fn true_duration(d: Duration) -> Duration {
        match current() {
            Some(c) => duration(nanos(d) * PPM / (PPM + i128::from(c.drift_ppm))),
            None => d,
        }
    }
}
