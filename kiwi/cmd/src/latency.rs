//! The latency monitor behind LATENCY LATEST / HISTORY / RESET / DOCTOR.
//!
//! As in Redis, nothing is recorded while `latency-monitor-threshold` is 0.
//! Otherwise every command that takes at least that many milliseconds adds
//! a sample to its event (`command`, or `fast-command` for commands Redis
//! flags fast). Each event keeps one sample per second (the worst), the
//! last [`HISTORY_LEN`] of them, and its all-time maximum.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const HISTORY_LEN: usize = 160;

/// One event's samples: (Unix seconds, milliseconds), oldest first.
#[derive(Default, Clone)]
struct History {
    samples: VecDeque<(u64, u64)>,
    max_ms: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, History>>,
}

/// One LATENCY LATEST row.
pub struct Latest {
    pub event: &'static str,
    pub unix_s: u64,
    pub latest_ms: u64,
    pub max_ms: u64,
}

impl LatencyMonitor {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, History>) -> T) -> T {
        match self.events.lock() {
            Ok(mut e) => f(&mut e),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Records `ms` for `event` at `unix_s`.
    pub fn add_sample(&self, event: &'static str, unix_s: u64, ms: u64) {
        self.with(|events| {
            let h = events.entry(event).or_default();
            h.max_ms = h.max_ms.max(ms);
            match h.samples.back_mut() {
                Some(last) if last.0 == unix_s => last.1 = last.1.max(ms),
                _ => {
                    if h.samples.len() == HISTORY_LEN {
                        h.samples.pop_front();
                    }
                    h.samples.push_back((unix_s, ms));
                }
            }
            debug_assert!(h.samples.len() <= HISTORY_LEN);
        });
    }

    /// The latest sample and all-time maximum of every event.
    pub fn latest(&self) -> Vec<Latest> {
        self.with(|events| {
            events
                .iter()
                .filter_map(|(event, h)| {
                    let &(unix_s, latest_ms) = h.samples.back()?;
                    Some(Latest {
                        event,
                        unix_s,
                        latest_ms,
                        max_ms: h.max_ms,
                    })
                })
                .collect()
        })
    }

    /// The samples of `event`, oldest first.
    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        self.with(|events| {
            events
                .iter()
                .find(|(name, _)| name.as_bytes() == event)
                .map(|(_, h)| h.samples.iter().copied().collect())
                .unwrap_or_default()
        })
    }

    /// Forgets the named events (all if none are named); returns how many
    /// had samples.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        self.with(|events| {
            let before = events.len();
            if names.is_empty() {
                events.clear();
            } else {
                events.retain(|name, _| !names.contains(&name.as_bytes()));
            }
            before - events.len()
        })
    }

    /// LATENCY DOCTOR's report, in Redis's words where Redis has them.
    pub fn doctor(&self, threshold_ms: u64, now_s: u64) -> String {
        if threshold_ms == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        let events = self.with(|events| events.clone());
        if events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
        }
        let mut out = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
        );
        for (i, (event, h)) in events.iter().enumerate() {
            let n = h.samples.len().max(1) as u64;
            let avg = h.samples.iter().map(|s| s.1).sum::<u64>() / n;
            let mad = h.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / n;
            let first_s = h.samples.front().map_or(now_s, |s| s.0);
            let period_s = now_s.saturating_sub(first_s).max(1) as f64 / n as f64;
            out.push_str(&format!(
                "{}. {event}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period_s:.2} sec). Worst all time event {}ms.\n",
                i + 1,
                h.max_ms
            ));
        }
        out.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_a_bounded_history() {
        let m = LatencyMonitor::default();
        m.add_sample("command", 100, 5);
        m.add_sample("command", 100, 9);
        m.add_sample("command", 100, 7);
        assert_eq!(m.history(b"command"), vec![(100, 9)]);
        for s in 0..(HISTORY_LEN as u64 + 10) {
            m.add_sample("command", 200 + s, 1);
        }
        let h = m.history(b"command");
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h.first(), Some(&(210, 1)), "the oldest samples go first");
        let latest = m.latest();
        assert_eq!(latest.len(), 1);
        assert_eq!((latest[0].latest_ms, latest[0].max_ms), (1, 9));
        assert_eq!(m.reset(&[b"nope"]), 0);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }
}
