//! The check for expiring keys (`SET k v PX ttl`, then `GET k`).
//!
//! Expiry depends on clocks, so the register model alone cannot judge it:
//! the linearization must also place the moment the key expires. The
//! workload makes this cheap by writing each expiring key once (its owner
//! client, once per key generation). The key's life is then Absent → `v` →
//! Absent, and the history is linearizable iff two instants exist, the
//! write `W` and the expiry `E` with `W ≤ E`, such that
//!
//! * `W` is within the write's call and return (after its call if the
//!   write's outcome is unknown);
//! * every read of `v` can be placed in `[W, E]`, every nil read before `W`
//!   or after `E`;
//! * `E` is not before the TTL could have run out: the write's call plus
//!   the TTL, less `clock_error_ms` (the leader stamps the deadline with
//!   its own clock, and the node that serves a read judges it by its own);
//! * and, as liveness, `E` comes at most [`EXPIRY_LATE_SLACK_MS`] after the
//!   TTL ran out by the latest clock.
//!
//! Taking `W` as late and `E` as early as the reads of `v` allow is optimal
//! for the nil reads, so one pass decides it: no search, no budget. A nil
//! read between two reads of `v` is a key that came back after it expired.

use crate::checker::{KeyReport, Verdict};
use crate::history::{Call, Op, Outcome, Ret};

/// How long after its TTL ran out (by any clock) an expiring key may still
/// be read. Cluster mode expires keys when the leader's expiry step
/// commits, which takes a round trip and at most one expiry period when
/// nothing fails, and longer while faults stop the log. Generous: this
/// catches keys that never expire, not slow ones.
pub const EXPIRY_LATE_SLACK_MS: u64 = 5_000;

/// Whether `key`'s operations are an expiring key's (checked here rather
/// than by the search).
pub fn is_expiring(ops: &[&Op]) -> bool {
    ops.iter().any(|o| matches!(o.call, Call::SetPx { .. }))
}

/// Checks one expiring key (see the module docs).
pub fn check_expiring(key: &str, ops: &[&Op], clock_error_ms: u64) -> KeyReport {
    let clock_error_ns = clock_error_ms.saturating_mul(1_000_000);
    let fail = |stuck: usize, why: String| KeyReport {
        key: key.to_string(),
        verdict: Verdict::NotLinearizable,
        ops: ops.len(),
        steps: ops.len() as u64,
        explanation: format!("{why}\n  {:?}", ops[stuck]),
        longest: Vec::new(),
        stuck: Some(stuck),
        failed_by_ns: ops[stuck].complete_ns.or(Some(ops[stuck].invoke_ns)),
    };
    let writes: Vec<usize> = (0..ops.len())
        .filter(|&i| !matches!(ops[i].call, Call::Get))
        .collect();
    if let Some(&second) = writes.get(1) {
        return fail(second, "an expiring key is written once".to_string());
    }
    let reads = || {
        (0..ops.len()).filter_map(|i| match &ops[i].outcome {
            Outcome::Done(Ret::Bulk(seen)) if ops[i].call == Call::Get => Some((i, seen)),
            _ => None,
        })
    };
    let Some(&w) = writes.first() else {
        // Never written: every read must find nothing.
        return match reads().find(|(_, seen)| seen.is_some()) {
            Some((i, _)) => fail(i, "read a value nobody wrote".to_string()),
            None => linearizable(key, ops),
        };
    };
    let Call::SetPx { value, ttl_ms } = &ops[w].call else {
        return fail(w, "an expiring key's write is SET..PX".to_string());
    };
    let ttl_ns = ttl_ms.saturating_mul(1_000_000);
    let write = ops[w];
    // The reads of the value bound W from above and E from below.
    let (mut first_return, mut last_call) = (u64::MAX, 0u64);
    for (i, seen) in reads() {
        match seen {
            Some(v) if v == value => {
                let done = ops[i].complete_ns.unwrap_or(u64::MAX);
                if done < write.invoke_ns {
                    return fail(i, format!("read {v} before SET..PX was called"));
                }
                first_return = first_return.min(done);
                last_call = last_call.max(ops[i].invoke_ns);
            }
            Some(v) => return fail(i, format!("read {v}, which was never written here")),
            None => {}
        }
    }
    let write_at = first_return.min(write.complete_ns.unwrap_or(u64::MAX));
    let earliest_expiry = write
        .invoke_ns
        .saturating_add(ttl_ns)
        .saturating_sub(clock_error_ns);
    let expire_at = last_call.max(earliest_expiry).max(write_at);
    if let Some(done) = write.complete_ns {
        let latest = done
            .saturating_add(ttl_ns)
            .saturating_add(clock_error_ns)
            .saturating_add(EXPIRY_LATE_SLACK_MS * 1_000_000);
        if let Some((i, _)) = reads()
            .find(|(i, seen)| seen.as_deref() == Some(value.as_str()) && ops[*i].invoke_ns > latest)
        {
            return fail(
                i,
                format!(
                    "read {value} more than {EXPIRY_LATE_SLACK_MS} ms after its {ttl_ms} ms TTL ran out"
                ),
            );
        }
    }
    for (i, seen) in reads() {
        let r = ops[i];
        let done = r.complete_ns.unwrap_or(u64::MAX);
        if seen.is_none() && r.invoke_ns > write_at && done < expire_at {
            let why = if done < earliest_expiry {
                format!("read nothing before {value}'s {ttl_ms} ms TTL could have run out")
            } else {
                format!("read nothing between two reads of {value}: it came back after expiring")
            };
            return fail(i, why);
        }
    }
    linearizable(key, ops)
}

/// How many expiring keys `ops` saw expire: a read found the value, and a
/// read called after that one returned found nothing. (Workload coverage:
/// a run where this stays 0 tested no expiry.)
pub fn observed_expiries(ops: &[Op]) -> usize {
    let mut last_seen: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut expired: std::collections::BTreeSet<&str> = Default::default();
    let reads = || {
        ops.iter()
            .filter(|o| o.call == Call::Get && o.key.starts_with('x'))
    };
    for o in reads() {
        if let (Outcome::Done(Ret::Bulk(Some(_))), Some(done)) = (&o.outcome, o.complete_ns) {
            let seen = last_seen.entry(o.key.as_str()).or_insert(done);
            *seen = (*seen).min(done);
        }
    }
    for o in reads() {
        if o.outcome == Outcome::Done(Ret::Bulk(None))
            && last_seen
                .get(o.key.as_str())
                .is_some_and(|&t| o.invoke_ns > t)
        {
            expired.insert(o.key.as_str());
        }
    }
    expired.len()
}

fn linearizable(key: &str, ops: &[&Op]) -> KeyReport {
    KeyReport {
        key: key.to_string(),
        verdict: Verdict::Linearizable,
        ops: ops.len(),
        steps: ops.len() as u64,
        explanation: String::new(),
        longest: Vec::new(),
        stuck: None,
        failed_by_ns: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn set_px(t0: u64, t1: Option<u64>, ttl_ms: u64) -> Op {
        Op {
            process: 1,
            key: "x".into(),
            call: Call::SetPx {
                value: "v".into(),
                ttl_ms,
            },
            invoke_ns: t0 * MS,
            complete_ns: t1.map(|t| t * MS),
            outcome: match t1 {
                Some(_) => Outcome::Done(Ret::Ok),
                None => Outcome::Unknown,
            },
        }
    }

    fn get(t0: u64, t1: u64, seen: Option<&str>) -> Op {
        Op {
            process: 2,
            key: "x".into(),
            call: Call::Get,
            invoke_ns: t0 * MS,
            complete_ns: Some(t1 * MS),
            outcome: Outcome::Done(Ret::Bulk(seen.map(str::to_string))),
        }
    }

    fn verdict(ops: &[Op], clock_error_ms: u64) -> Verdict {
        let refs: Vec<&Op> = ops.iter().collect();
        check_expiring("x", &refs, clock_error_ms).verdict
    }

    #[test]
    fn a_value_read_then_expired_is_linearizable() {
        let ops = [
            get(0, 5, None),
            set_px(10, Some(20), 1_000),
            get(30, 40, Some("v")),
            get(1_100, 1_110, None),
        ];
        assert_eq!(verdict(&ops, 0), Verdict::Linearizable);
    }

    #[test]
    fn a_value_that_comes_back_after_expiring_is_caught() {
        let ops = [
            set_px(10, Some(20), 1_000),
            get(1_100, 1_110, None),
            get(1_200, 1_210, Some("v")),
        ];
        assert_eq!(verdict(&ops, 0), Verdict::NotLinearizable);
        // No clock error excuses it: once expired, expired everywhere.
        assert_eq!(verdict(&ops, 200), Verdict::NotLinearizable);
    }

    #[test]
    fn expiring_before_the_ttl_is_caught_beyond_the_clock_error() {
        let ops = [set_px(0, Some(10), 1_000), get(600, 610, None)];
        assert_eq!(verdict(&ops, 0), Verdict::NotLinearizable);
        assert_eq!(verdict(&ops, 300), Verdict::NotLinearizable);
        assert_eq!(verdict(&ops, 400), Verdict::Linearizable);
    }

    #[test]
    fn a_key_that_never_expires_is_caught() {
        let late = 10 + 1_000 + EXPIRY_LATE_SLACK_MS + 1;
        let ops = [set_px(0, Some(10), 1_000), get(late, late + 1, Some("v"))];
        assert_eq!(verdict(&ops, 0), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_write_may_never_have_happened_or_happen_late() {
        let never = [set_px(0, None, 1_000), get(20, 30, None)];
        assert_eq!(verdict(&never, 0), Verdict::Linearizable);
        let late = [
            set_px(0, None, 1_000),
            get(20, 30, None),
            get(900, 910, Some("v")),
        ];
        assert_eq!(verdict(&late, 0), Verdict::Linearizable);
    }

    #[test]
    fn reads_before_the_write_and_strangers_are_caught() {
        let early = [get(0, 5, Some("v")), set_px(10, Some(20), 1_000)];
        assert_eq!(verdict(&early, 0), Verdict::NotLinearizable);
        let stranger = [set_px(10, Some(20), 1_000), get(30, 40, Some("w"))];
        assert_eq!(verdict(&stranger, 0), Verdict::NotLinearizable);
        let twice = [set_px(10, Some(20), 1_000), set_px(30, Some(40), 1_000)];
        assert_eq!(verdict(&twice, 0), Verdict::NotLinearizable);
    }
}
