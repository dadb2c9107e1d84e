//! CLIENT PAUSE / UNPAUSE: a server-wide pause every connection honours
//! before it runs a command.
//!
//! The state lives in [`crate::Shared`]; connections ask [`Pause::blocks`]
//! whether the command they are about to run must wait and, if so, sleep
//! until the pause ends or [`Pause::unpause`] wakes them. As in Redis 7, a
//! `WRITE` pause holds back commands that may change data or be propagated
//! (writes, PUBLISH, an EXEC with a write inside) and lets reads through;
//! an `ALL` pause holds back every command, CLIENT UNPAUSE included, until
//! its time runs out. A new pause while one is active keeps the later end
//! and the stricter mode.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

use kiwi_runtime::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Paused {
    until_ms: u64,
    all: bool,
}

#[derive(Default)]
pub struct Pause {
    /// Whether a pause may be on: every command reads it, so the lock is
    /// taken only while one is.
    active: AtomicBool,
    state: Mutex<Option<Paused>>,
    /// Wakes waiting connections on UNPAUSE.
    pub changed: Notify,
}

impl Pause {
    fn with<T>(&self, f: impl FnOnce(&mut Option<Paused>) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Pauses until `until_ms` (Unix ms): every command if `all`, else
    /// writes only. An active pause keeps its later end and stricter mode.
    pub fn pause(&self, until_ms: u64, all: bool) {
        self.with(|s| {
            let next = match *s {
                Some(p) => Paused {
                    until_ms: p.until_ms.max(until_ms),
                    all: p.all || all,
                },
                None => Paused { until_ms, all },
            };
            *s = Some(next);
            self.active.store(true, Relaxed);
        });
    }

    /// Ends any pause and wakes the connections waiting on it.
    pub fn unpause(&self) {
        self.with(|s| {
            *s = None;
            self.active.store(false, Relaxed);
        });
        self.changed.notify_waiters();
    }

    /// Milliseconds a command must still wait at `now_ms` (`None`: it may
    /// run). `writes` says whether it may change data or be propagated.
    pub fn blocks(&self, now_ms: u64, writes: bool) -> Option<u64> {
        if !self.active.load(Relaxed) {
            return None;
        }
        self.with(|s| {
            let p = (*s)?;
            if now_ms >= p.until_ms {
                *s = None;
                self.active.store(false, Relaxed);
                return None;
            }
            (p.all || writes).then(|| p.until_ms - now_ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_pause_holds_writes_until_its_end() {
        let p = Pause::default();
        p.pause(1_000, false);
        assert_eq!(p.blocks(400, true), Some(600));
        assert_eq!(p.blocks(400, false), None, "reads pass a WRITE pause");
        assert_eq!(p.blocks(1_000, true), None, "the pause ends on time");
        assert_eq!(p.blocks(500, true), None, "and stays ended");
    }

    #[test]
    fn a_second_pause_keeps_the_later_end_and_stricter_mode() {
        let p = Pause::default();
        p.pause(1_000, true);
        p.pause(500, false);
        assert_eq!(p.blocks(0, false), Some(1_000));
        p.unpause();
        assert_eq!(p.blocks(0, true), None);
    }
}
