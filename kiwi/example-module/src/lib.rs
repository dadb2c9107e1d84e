//! An example module: `CL.THROTTLE`, the rate limiter of redis-cell, added
//! to Kiwi through the command registry (`kiwi_cmd::registry`) without
//! touching the dispatcher. See `docs/extending.md`.
//!
//! ```text
//! CL.THROTTLE <key> <max_burst> <count per period> <period seconds> [<quantity>]
//! ```
//!
//! It replies with five integers, as redis-cell does: 0 if the action is
//! allowed (1 if limited), the limit (`max_burst + 1`), the remaining
//! allowance, seconds until a retry can succeed (-1 if allowed), and
//! seconds until the limit is fully reset.
//!
//! The algorithm is GCRA: the key holds the "theoretical arrival time" (a
//! string of Unix milliseconds) and expires when the bucket is full again.
//! The handler reads and writes it through `ctx.call` (GET, SET ... PXAT),
//! inside one atomic step. It uses only `ctx.now_ms` for time, which the
//! leader decides in cluster mode, so every replica applying the Raft entry
//! computes the same result: the command is replicated like any built-in
//! write (`write` flag, key at position 1).

use bytes::Bytes;
use kiwi_cmd::error::{err, CmdResult};
use kiwi_cmd::registry::Registry;
use kiwi_cmd::table::{CommandSpec, MODULE_SPEC_TEMPLATE};
use kiwi_cmd::Ctx;
use kiwi_resp::Frame;

/// The command as COMMAND INFO, ACL and the cluster see it.
pub static THROTTLE: CommandSpec = CommandSpec {
    name: "cl.throttle",
    arity: -5,
    flags: "write denyoom",
    summary: "Rate-limits an action on a key (GCRA, redis-cell's CL.THROTTLE).",
    since: "0.1.0",
    complexity: "O(1)",
    ..MODULE_SPEC_TEMPLATE
};

/// Adds the module's commands (pass it to `kiwi_server::main_with`).
pub fn register(r: &mut Registry) -> Result<(), String> {
    r.add(&THROTTLE, throttle)
}

/// The decision for one request, all times in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub limited: bool,
    pub limit: i64,
    pub remaining: i64,
    pub retry_after_ms: i64,
    pub reset_after_ms: i64,
    /// The new theoretical arrival time to store (`None`: unchanged).
    pub new_tat_ms: Option<i64>,
}

/// GCRA: `tat_ms` is the stored arrival time (if any), `now_ms` the
/// request's time; `period_ms / count` is the emission interval.
pub fn decide(
    tat_ms: Option<i64>,
    now_ms: i64,
    max_burst: i64,
    count: i64,
    period_ms: i64,
    quantity: i64,
) -> Decision {
    let emission_ms = period_ms as f64 / count as f64;
    let tolerance_ms = emission_ms * (max_burst + 1) as f64;
    let increment_ms = emission_ms * quantity as f64;
    let tat = tat_ms.unwrap_or(now_ms).max(now_ms) as f64;
    let new_tat = tat + increment_ms;
    let allow_at = new_tat - tolerance_ms;
    let diff = now_ms as f64 - allow_at;
    let (limited, retry_after_ms, ttl_ms, stored) = if diff < 0.0 {
        let retry = if increment_ms <= tolerance_ms {
            -diff
        } else {
            -1.0
        };
        (true, retry, tat - now_ms as f64, None)
    } else {
        (
            false,
            -1.0,
            new_tat - now_ms as f64,
            Some(new_tat.ceil() as i64),
        )
    };
    let next = tolerance_ms - ttl_ms;
    let remaining = if next > -emission_ms {
        (next / emission_ms).floor().max(0.0) as i64
    } else {
        0
    };
    Decision {
        limited,
        limit: max_burst + 1,
        remaining,
        retry_after_ms: if retry_after_ms < 0.0 {
            -1
        } else {
            retry_after_ms.ceil() as i64
        },
        reset_after_ms: ttl_ms.ceil() as i64,
        new_tat_ms: stored,
    }
}

fn positive(arg: &Bytes, what: &str) -> CmdResult<i64> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0 && *n <= 1 << 40)
        .ok_or_else(|| err(format!("ERR {what} must be a positive integer")))
}

/// Seconds, rounded up, as redis-cell reports them (-1 stays -1).
fn seconds(ms: i64) -> i64 {
    if ms < 0 {
        -1
    } else {
        (ms + 999) / 1000
    }
}

fn throttle(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 6 {
        return Err(err(
            "ERR wrong number of arguments for 'cl.throttle' command",
        ));
    }
    let key = &args[1];
    let max_burst = positive(&args[2], "max_burst").or_else(|e| {
        // A burst of 0 is allowed (one action per emission interval).
        if &args[2][..] == b"0" {
            Ok(0)
        } else {
            Err(e)
        }
    })?;
    let count = positive(&args[3], "count per period")?;
    let period_ms = positive(&args[4], "period")?.saturating_mul(1000);
    let quantity = match args.get(5) {
        Some(q) => positive(q, "quantity")?,
        None => 1,
    };
    let stored = match ctx.call(&[Bytes::from_static(b"GET"), key.clone()])? {
        Frame::Bulk(v) => std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse::<i64>().ok()),
        _ => None,
    };
    let now_ms = ctx.now_ms as i64;
    let d = decide(stored, now_ms, max_burst, count, period_ms, quantity);
    if let Some(tat) = d.new_tat_ms {
        ctx.call(&[
            Bytes::from_static(b"SET"),
            key.clone(),
            Bytes::from(tat.to_string()),
            Bytes::from_static(b"PXAT"),
            Bytes::from(tat.max(now_ms + 1).to_string()),
        ])?;
    }
    Ok(Frame::Array(vec![
        Frame::Integer(d.limited as i64),
        Frame::Integer(d.limit),
        Frame::Integer(d.remaining),
        Frame::Integer(seconds(d.retry_after_ms)),
        Frame::Integer(seconds(d.reset_after_ms)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn a_burst_is_allowed_then_requests_are_spaced() {
        // 2 per 10 s with a burst of 1: two at once, then one every 5 s.
        let (burst, count, period) = (1, 2, 10_000);
        let first = decide(None, 0, burst, count, period, 1);
        assert!(!first.limited);
        assert_eq!((first.limit, first.remaining), (2, 1));
        let second = decide(first.new_tat_ms, 0, burst, count, period, 1);
        assert!(!second.limited);
        assert_eq!(second.remaining, 0);
        let third = decide(second.new_tat_ms, 0, burst, count, period, 1);
        assert!(third.limited);
        assert_eq!(third.retry_after_ms, 5_000);
        assert_eq!(third.new_tat_ms, None, "a refused request changes nothing");
        assert_eq!(third.reset_after_ms, 10_000);
        // 5 s later one more fits.
        let later = decide(second.new_tat_ms, 5_000, burst, count, period, 1);
        assert!(!later.limited);
    }

    #[test]
    fn a_quantity_above_the_burst_is_never_allowed() {
        let d = decide(None, 0, 1, 1, 1_000, 5);
        assert!(d.limited);
        assert_eq!(d.retry_after_ms, -1);
    }
}
