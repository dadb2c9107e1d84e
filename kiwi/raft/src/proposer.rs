//! The proposer: groups write batches from every connection into log
//! entries, and decides when to propose the next one.
//!
//! Raft's per-entry work (a log append and fsync on every node, an
//! AppendEntries round, an apply step, each a handful of thread wake-ups)
//! costs the same for one write as for a thousand, so under load the
//! proposer's job is to make entries big without making writes wait for
//! nothing. Two rules do it:
//!
//! * **One entry in flight** ([`ENTRIES_IN_FLIGHT`]): everything that
//!   arrives while an entry is being replicated goes into the next one.
//! * **Linger for the writers just answered** ([`Linger`]): with one entry
//!   in flight, closed-loop clients (each waits for its reply before the
//!   next write) split into cohorts that take turns: the writers an entry
//!   answers come back while the next entry, holding the others, is in
//!   flight (measured: entries alternating between 1 and 49 of 50
//!   clients). So after an entry is answered the proposer waits, bounded
//!   by half that entry's round trip, for as many batches as it answered
//!   (or until the group is big enough, [`LINGER_UNTIL_CMDS`]), and the
//!   cohorts merge. A linger that times out is not retried for a
//!   while (exponential backoff), so writers with think time, who never
//!   come back that fast, pay it rarely.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use kiwi_cmd::ReplicatedCmd;
use kiwi_resp::Frame;
use kiwi_runtime::sync::{mpsc, oneshot, Semaphore};

use crate::types::{Raft, Request};

/// The proposer stops adding other clients' batches to an entry past this.
const GROUP_MAX_BYTES: usize = 1 << 20;
/// ... or past this many commands.
const GROUP_MAX_CMDS: usize = 4096;
/// Log entries proposed and not yet answered, at most. One: while an entry
/// is in flight the next group gathers every write that arrives, so under
/// load each entry carries more writes. On one 2-core machine running three
/// nodes, 50 clients writing one SET at a time gave ~8 writes per entry with
/// 4 in flight and ~24 with 1, and the cluster's CPU time per SET fell by a
/// quarter (docs/benchmarks.md). The price is latency at moderate load when
/// CPUs are idle: a write that arrives while an entry is in flight waits for
/// it (at most one entry's round trip, plus a linger of at most half one).
const ENTRIES_IN_FLIGHT: usize = 1;
/// The proposer lingers only for groups smaller than this many commands.
/// Per entry, the cluster spends about as much CPU as on 20–30 SETs (one
/// 2-core machine, three nodes), so past a few hundred commands an entry's
/// fixed cost is a small share, and waiting for more would only leave the
/// pipeline idle while the merged group is in flight. (With 16-command
/// pipelines from 50 clients, groups are ~400 commands and never linger.)
const LINGER_UNTIL_CMDS: usize = 128;
/// Longest linger, whatever the last round trip was.
const LINGER_MAX_US: u64 = 2_000;
/// Entries proposed without lingering after a linger timed out, at most
/// (the backoff doubles from 1 on each consecutive timeout).
const LINGER_BACKOFF_MAX_ENTRIES: u32 = 64;

/// Write batches queued for the proposer.
pub(crate) const PROPOSAL_QUEUE_DEPTH: usize = 4096;

/// One connection's write batch and where its replies go.
pub(crate) struct Proposal {
    pub(crate) cmds: Vec<ReplicatedCmd>,
    pub(crate) reply: oneshot::Sender<Vec<Frame>>,
}

/// When to wait for the writers the last entry answered (see the module
/// comment).
#[derive(Debug, Default)]
struct Linger {
    /// Entries still to propose without lingering after a timeout.
    skip_entries: u32,
    /// The next backoff after a timeout (doubles, bounded).
    backoff_entries: u32,
}

impl Linger {
    /// How long to wait for `expected` more batches, if at all; `rtt_us` is
    /// the last entry's round trip.
    fn budget(&mut self, expected: usize, rtt_us: u64) -> Option<Duration> {
        if expected == 0 || rtt_us == 0 {
            return None;
        }
        if self.skip_entries > 0 {
            self.skip_entries -= 1;
            return None;
        }
        Some(Duration::from_micros((rtt_us / 2).min(LINGER_MAX_US)))
    }

    /// Records whether the writers came back within the budget.
    fn record(&mut self, came_back: bool) {
        if came_back {
            self.backoff_entries = 0;
        } else {
            self.backoff_entries = (self.backoff_entries * 2).clamp(1, LINGER_BACKOFF_MAX_ENTRIES);
            self.skip_entries = self.backoff_entries;
        }
        debug_assert!(self.skip_entries <= LINGER_BACKOFF_MAX_ENTRIES);
    }
}

/// The batches that go into one entry.
struct Group {
    proposals: Vec<Proposal>,
    bytes: usize,
    cmds: usize,
}

impl Group {
    fn new(first: Proposal) -> Group {
        let mut g = Group {
            proposals: Vec::new(),
            bytes: 0,
            cmds: 0,
        };
        g.push(first);
        g
    }

    fn push(&mut self, p: Proposal) {
        self.bytes += p
            .cmds
            .iter()
            .map(ReplicatedCmd::payload_bytes)
            .sum::<usize>();
        self.cmds += p.cmds.len();
        self.proposals.push(p);
    }

    fn full(&self) -> bool {
        self.bytes >= GROUP_MAX_BYTES || self.cmds >= GROUP_MAX_CMDS
    }

    /// Past this, an entry's fixed cost is a small share of its commands'
    /// own, and waiting for more would only idle the pipeline.
    fn big_enough(&self) -> bool {
        self.full() || self.cmds >= LINGER_UNTIL_CMDS
    }

    /// Takes whatever is already queued, up to the group's bounds.
    fn take_queued(&mut self, rx: &mut mpsc::Receiver<Proposal>) {
        while !self.full() {
            match rx.try_recv() {
                Ok(p) => self.push(p),
                Err(_) => break,
            }
        }
    }
}

/// Runs the proposer until every connection's sender is gone. Each entry
/// is awaited on its own task; at most [`ENTRIES_IN_FLIGHT`] are
/// outstanding, and while they are, new batches queue up and form the next,
/// larger group (the pipeline clocks itself: the busier, the bigger).
pub(crate) async fn group_proposals(raft: Raft, mut rx: mpsc::Receiver<Proposal>) {
    let in_flight = Arc::new(Semaphore::new(ENTRIES_IN_FLIGHT));
    let last_rtt_us = Arc::new(AtomicU64::new(0));
    let mut linger = Linger::default();
    // Batches in the entry proposed last (the one in flight, if any).
    let mut last_batches = 0usize;
    while let Some(first) = rx.recv().await {
        // Waiting for the permit means an entry is in flight: its writers
        // are the ones a linger waits for, and its replies are sent only
        // after the permit is released, so nothing queued by then is
        // theirs. With the permit free, the last entry was answered before
        // `first` arrived: what arrived since are its writers coming back.
        let entry_was_in_flight = in_flight.available_permits() == 0;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return; // never closed
        };
        let mut group = Group::new(first);
        group.take_queued(&mut rx);
        let expected = if entry_was_in_flight {
            last_batches
        } else {
            last_batches.saturating_sub(group.proposals.len())
        };
        let budget = if group.big_enough() {
            None
        } else {
            linger.budget(expected, last_rtt_us.load(Relaxed))
        };
        if let Some(budget) = budget {
            let target = group.proposals.len() + expected;
            let deadline = kiwi_runtime::time::instant() + budget;
            while group.proposals.len() < target && !group.big_enough() {
                let left = deadline.saturating_duration_since(kiwi_runtime::time::instant());
                match kiwi_runtime::time::timeout(left, rx.recv()).await {
                    Ok(Some(p)) => {
                        group.push(p);
                        group.take_queued(&mut rx);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            linger.record(group.proposals.len() >= target || group.big_enough());
        }
        last_batches = group.proposals.len();
        let count = group.cmds;
        let mut cmds = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(group.proposals.len());
        for p in group.proposals {
            replies.push((p.reply, p.cmds.len()));
            cmds.extend(p.cmds);
        }
        debug_assert_eq!(cmds.len(), count, "every command of the group proposed");
        // The leader decides time and randomness before proposing, so every
        // replica applies the same thing.
        let req = Request::Commands {
            now_ms: kiwi_runtime::time::now_ms(),
            seed: kiwi_runtime::rand::u64(),
            cmds,
        };
        let raft = raft.clone();
        let rtt_out = last_rtt_us.clone();
        kiwi_runtime::task::spawn(async move {
            let started = kiwi_runtime::time::instant();
            let result = raft.client_write(req).await;
            let rtt_us = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
            // Stored before the permit goes, so the proposer reads it.
            rtt_out.store(rtt_us.max(1), Relaxed);
            drop(permit);
            let frames = match result {
                Ok(written) => written.data.0,
                Err(openraft::error::RaftError::APIError(e)) => {
                    vec![crate::node::write_error(&e); count]
                }
                Err(e) => vec![Frame::error(format!("ERR raft: {e}")); count],
            };
            let mut frames = frames.into_iter();
            for (reply, len) in replies {
                let _ = reply.send(frames.by_ref().take(len).collect());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linger_budget_is_half_the_round_trip_bounded() {
        let mut l = Linger::default();
        assert_eq!(l.budget(3, 1_000), Some(Duration::from_micros(500)));
        assert_eq!(
            l.budget(3, 60_000),
            Some(Duration::from_micros(LINGER_MAX_US))
        );
        assert_eq!(l.budget(0, 1_000), None, "nobody to wait for");
        assert_eq!(l.budget(3, 0), None, "no round trip measured yet");
    }

    #[test]
    fn linger_backs_off_after_timeouts_and_recovers() {
        let mut l = Linger::default();
        l.record(false);
        assert_eq!(l.budget(1, 1_000), None);
        assert!(
            l.budget(1, 1_000).is_some(),
            "one entry skipped after the first timeout"
        );
        l.record(false);
        assert_eq!(l.budget(1, 1_000), None);
        assert_eq!(l.budget(1, 1_000), None);
        assert!(l.budget(1, 1_000).is_some(), "two skipped after the second");
        for _ in 0..20 {
            l.record(false);
        }
        assert_eq!(l.skip_entries, LINGER_BACKOFF_MAX_ENTRIES, "bounded");
        for _ in 0..LINGER_BACKOFF_MAX_ENTRIES {
            assert_eq!(l.budget(1, 1_000), None);
        }
        assert!(l.budget(1, 1_000).is_some());
        l.record(true);
        l.record(false);
        assert_eq!(l.skip_entries, 1, "a success resets the backoff");
    }
}
