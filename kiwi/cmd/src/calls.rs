//! Per-command call statistics (INFO commandstats), error counts by code
//! (INFO errorstats) and the slow log (SLOWLOG), recorded wherever a
//! command runs: the storage worker for storage commands (execution time
//! only), the connection for the ones it answers itself.
//!
//! Counters are atomics indexed by the command table, so recording a call
//! takes no lock; the error map and the slow log take one only when there
//! is an error or a slow command.

use crate::latency::LatencyMonitor;
use crate::metrics::Histogram;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use bytes::Bytes;
use kiwi_resp::Frame;

use crate::registry;
use crate::state::ClientHandle;
use crate::table::CommandSpec;

/// Arguments kept per slow-log entry (Redis's SLOWLOG_ENTRY_MAX_ARGC).
const SLOW_MAX_ARGS: usize = 32;
/// Bytes kept per argument (Redis's SLOWLOG_ENTRY_MAX_STRING).
const SLOW_MAX_ARG_BYTES: usize = 128;
/// Distinct error codes tracked (Redis's ERROR_STATS_NUMBER); beyond it
/// new codes are not counted, so hostile error texts cannot grow memory.
const ERROR_CODES_MAX: usize = 128;

/// One command's figures (INFO commandstats, `kiwi_command_*` metrics).
#[derive(Default)]
pub struct Counters {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    pub latency: Histogram,
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_s: u64,
    pub usec: u64,
    pub args: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: String,
}

#[derive(Default)]
struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
}

pub struct CallStats {
    counters: Vec<Counters>,
    errors: Mutex<BTreeMap<String, u64>>,
    slowlog: Mutex<SlowLog>,
    /// LATENCY's samples (see [`crate::latency`]).
    pub latency: LatencyMonitor,
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats {
            counters: (0..registry::len()).map(|_| Counters::default()).collect(),
            errors: Mutex::new(BTreeMap::new()),
            slowlog: Mutex::new(SlowLog::default()),
            latency: LatencyMonitor::default(),
        }
    }
}

impl CallStats {
    fn counters(&self, spec: &CommandSpec) -> Option<&Counters> {
        self.counters.get(registry::index_of(spec.name)?)
    }

    /// Records a call that ran: its time, its error if it failed, and a
    /// slow-log entry if it took at least `slowlog-log-slower-than`.
    pub fn record(
        &self,
        cfg: &crate::Config,
        spec: &CommandSpec,
        usec: u64,
        reply: &Frame,
        args: &[Bytes],
        client: &ClientHandle,
    ) {
        if let Some(c) = self.counters(spec) {
            c.calls.fetch_add(1, Relaxed);
            c.usec.fetch_add(usec, Relaxed);
            c.latency.record_us(usec);
            if reply.is_error() {
                c.failed.fetch_add(1, Relaxed);
            }
        }
        if let Frame::Error(e) = reply {
            self.count_error(e);
        }
        let threshold_ms = cfg.latency_monitor_threshold;
        if threshold_ms > 0 && usec / 1000 >= threshold_ms {
            let event = if spec.flags.split(' ').any(|f| f == "fast") {
                "fast-command"
            } else {
                "command"
            };
            let now_s = kiwi_runtime::time::now_ms() / 1000;
            self.latency.add_sample(event, now_s, usec / 1000);
        }
        let slow_us = cfg.slowlog_log_slower_than;
        if slow_us >= 0 && usec >= slow_us as u64 && !spec.flags.contains("skip_slowlog") {
            let max_len = usize::try_from(cfg.slowlog_max_len).unwrap_or(usize::MAX);
            self.log_slow(usec, args, client, max_len);
        }
    }

    /// Records a call refused before it ran (unknown command, wrong arity,
    /// not authenticated...).
    pub fn reject(&self, spec: Option<&CommandSpec>, error: &Frame) {
        if let Some(c) = spec.and_then(|s| self.counters(s)) {
            c.rejected.fetch_add(1, Relaxed);
        }
        if let Frame::Error(e) = error {
            self.count_error(e);
        }
    }

    fn count_error(&self, text: &[u8]) {
        let code = text.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        let code = String::from_utf8_lossy(code).into_owned();
        if let Ok(mut errors) = self.errors.lock() {
            if errors.len() < ERROR_CODES_MAX || errors.contains_key(&code) {
                *errors.entry(code).or_default() += 1;
            }
        }
    }

    fn log_slow(&self, usec: u64, args: &[Bytes], client: &ClientHandle, max_len: usize) {
        let mut kept: Vec<Bytes> = Vec::with_capacity(args.len().min(SLOW_MAX_ARGS));
        for (i, a) in args.iter().enumerate() {
            if i == SLOW_MAX_ARGS - 1 && args.len() > SLOW_MAX_ARGS {
                kept.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    args.len() - SLOW_MAX_ARGS + 1
                )));
                break;
            }
            if a.len() > SLOW_MAX_ARG_BYTES {
                let mut t = a[..SLOW_MAX_ARG_BYTES].to_vec();
                t.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - SLOW_MAX_ARG_BYTES).as_bytes(),
                );
                kept.push(Bytes::from(t));
            } else {
                kept.push(a.clone());
            }
        }
        if let Ok(mut log) = self.slowlog.lock() {
            let id = log.next_id;
            log.next_id += 1;
            log.entries.push_front(SlowEntry {
                id,
                unix_s: kiwi_runtime::time::now_ms() / 1000,
                usec,
                args: kept,
                client_addr: client.addr.clone(),
                client_name: client.name.lock().map(|n| n.clone()).unwrap_or_default(),
            });
            log.entries.truncate(max_len);
        }
    }

    /// The newest `count` slow-log entries (all if `None`).
    pub fn slowlog(&self, count: Option<usize>) -> Vec<SlowEntry> {
        self.slowlog
            .lock()
            .map(|log| {
                log.entries
                    .iter()
                    .take(count.unwrap_or(usize::MAX))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn slowlog_len(&self) -> usize {
        self.slowlog.lock().map(|l| l.entries.len()).unwrap_or(0)
    }

    pub fn slowlog_reset(&self) {
        if let Ok(mut log) = self.slowlog.lock() {
            log.entries.clear();
        }
    }

    /// Every command's counters, in the order of [`registry::all`].
    pub fn per_command(&self) -> &[Counters] {
        &self.counters
    }

    /// (error code, replies) for every code counted (INFO errorstats).
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// INFO commandstats lines.
    /// INFO latencystats lines: p50, p99 and p99.9 of each command that
    /// ran, in µs. Kiwi's histograms have power-of-two buckets, so each
    /// figure is the upper bound of the bucket holding that percentile.
    pub fn latencystats(&self, out: &mut String) {
        for (spec, c) in registry::all().zip(&self.counters) {
            let h = c.latency.snapshot();
            if h.count() == 0 {
                continue;
            }
            let p = |q: f64| h.quantile_bound_us(q).min(crate::metrics::HISTOGRAM_MAX_US) as f64;
            out.push_str(&format!(
                "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
                spec.name,
                p(0.5),
                p(0.99),
                p(0.999)
            ));
        }
    }

    pub fn commandstats(&self, out: &mut String) {
        for (spec, c) in registry::all().zip(&self.counters) {
            let (calls, usec) = (c.calls.load(Relaxed), c.usec.load(Relaxed));
            let (rejected, failed) = (c.rejected.load(Relaxed), c.failed.load(Relaxed));
            if calls == 0 && rejected == 0 && failed == 0 {
                continue;
            }
            let per_call = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            out.push_str(&format!(
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                spec.name
            ));
        }
    }

    /// INFO errorstats lines.
    pub fn errorstats(&self, out: &mut String) {
        for (code, count) in self.error_counts() {
            out.push_str(&format!("errorstat_{code}:count={count}\r\n"));
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in &self.counters {
            for a in [&c.calls, &c.usec, &c.rejected, &c.failed] {
                a.store(0, Relaxed);
            }
            c.latency.reset();
        }
        if let Ok(mut errors) = self.errors.lock() {
            errors.clear();
        }
    }
}
