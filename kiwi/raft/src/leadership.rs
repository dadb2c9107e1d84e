//! Leadership confirmation for linearizable reads, from the transport's own
//! record of which peers accepted this node's AppendEntries, and when.
//!
//! A read on the leader is linearizable only if, after it arrived, a quorum
//! still accepted this node as leader (Raft's ReadIndex). OpenRaft's
//! `ensure_linearizable` checks that, but in 0.10.0-alpha.37 a pipelined
//! replication stream can credit an old acknowledgement to a newer request:
//! its in-flight queue matches replies to requests by log id, and an
//! entry-less request (sent only to carry the commit index) ends at the same
//! log id as the request before it. A reply the follower wrote before this
//! node was paused, read after it resumed, then "confirms" an entry-less
//! request sent after the resume, and a deposed leader serves a stale read
//! (simulation seed 6947: `MADSIM_TEST_SEED=6947 SIM_SEEDS=1 ci/sim.sh
//! nemesis_histories`).
//!
//! So Kiwi keeps its own record, which cannot mix replies up: the transport
//! pairs each reply with the request it answers (an append stream answers in
//! order) and notes, per peer, the leadership the request carried and when
//! it was written. A read is served only when a majority of every voter
//! configuration accepted, under the read's leadership, a request written
//! no earlier than the read arrived. (Why time and not order is enough: a
//! newer leader elected before the read arrived had the votes of a majority
//! before then, and one of them would have refused this node's request
//! written later.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kiwi_runtime::sync::Notify;
use kiwi_runtime::time::Instant;

use crate::types::{NodeId, TypeConfig};

/// A leadership: the term and the node elected in it.
pub type Leadership = openraft::alias::CommittedLeaderIdOf<TypeConfig>;

/// The newest request a peer accepted.
#[derive(Debug, Clone)]
struct Accepted {
    leadership: Leadership,
    sent_at: Instant,
}

/// Per peer, the newest request of this node's that it accepted. Shared by
/// the transport (which records) and the read path (which waits on it).
///
/// A lock and one `Notify` rather than tokio's `watch`: `Notify` wakes its
/// waiters in FIFO order, which madsim replays (see
/// `kiwi_runtime::raft_rt::watch`).
#[derive(Clone, Default)]
pub struct PeerAcks {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    accepted: Mutex<BTreeMap<NodeId, Accepted>>,
    changed: Notify,
}

impl PeerAcks {
    fn accepted(&self) -> MutexGuard<'_, BTreeMap<NodeId, Accepted>> {
        // Writers replace whole entries: a panic cannot leave half of one.
        self.shared
            .accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// `target` accepted (did not refuse for a higher vote) a request that
    /// carried `leadership` and was written at `sent_at`.
    pub fn record(&self, target: NodeId, leadership: Leadership, sent_at: Instant) {
        {
            let mut accepted = self.accepted();
            // Newest by leadership, then by write time: a late reply to a
            // request of an earlier term must not hide a newer one (that
            // would only cost an extra round, but for nothing).
            let newer = match accepted.get(&target) {
                Some(old) => (&leadership, sent_at) > (&old.leadership, old.sent_at),
                None => true,
            };
            if !newer {
                return;
            }
            accepted.insert(
                target,
                Accepted {
                    leadership,
                    sent_at,
                },
            );
        }
        self.shared.changed.notify_waiters();
    }

    /// Whether `read` is confirmed now.
    pub fn confirmed(&self, read: &ReadQuorum<'_>) -> bool {
        read.granted_by(&self.accepted())
    }

    /// Waits, at most `timeout`, until `read` is confirmed. False if that
    /// did not happen in time.
    pub async fn confirm(&self, read: &ReadQuorum<'_>, timeout: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a record between the
                // check and the await still wakes this read.
                let changed = self.shared.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.confirmed(read) {
                    return;
                }
                changed.await;
            }
        };
        kiwi_runtime::time::timeout(timeout, wait).await.is_ok()
    }
}

/// What confirms a read: a majority of every configuration in `voter_sets`
/// (counting `me`) accepted, under `leadership`, a request written at or
/// after `since` (when the read arrived).
pub struct ReadQuorum<'a> {
    pub me: NodeId,
    pub leadership: Leadership,
    pub since: Instant,
    pub voter_sets: &'a [BTreeSet<NodeId>],
}

impl ReadQuorum<'_> {
    fn granted_by(&self, accepted: &BTreeMap<NodeId, Accepted>) -> bool {
        self.voter_sets.iter().all(|voters| {
            let granted = voters
                .iter()
                .filter(|id| {
                    **id == self.me
                        || accepted.get(id).is_some_and(|a| {
                            a.leadership == self.leadership && a.sent_at >= self.since
                        })
                })
                .count();
            granted * 2 > voters.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::vote::RaftLeaderIdExt;

    fn leadership(term: u64, node: NodeId) -> Leadership {
        openraft::alias::LeaderIdOf::<TypeConfig>::new_committed(term, node)
    }

    fn voters(ids: &[NodeId]) -> Vec<BTreeSet<NodeId>> {
        vec![ids.iter().copied().collect()]
    }

    /// Node 1's read, arrived at `since`.
    fn read(
        leadership: Leadership,
        since: Instant,
        voter_sets: &[BTreeSet<NodeId>],
    ) -> ReadQuorum<'_> {
        ReadQuorum {
            me: 1,
            leadership,
            since,
            voter_sets,
        }
    }

    #[test]
    fn a_majority_of_fresh_acks_confirms() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        assert!(!acks.confirmed(&read(term7, since, &three)));
        acks.record(2, term7, since);
        assert!(acks.confirmed(&read(term7, since, &three)));
    }

    #[test]
    fn acks_for_requests_written_before_the_read_do_not_confirm() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let written = kiwi_runtime::time::instant();
        acks.record(2, term7, written);
        acks.record(3, term7, written);
        let since = written + Duration::from_millis(1);
        assert!(!acks.confirmed(&read(term7, since, &three)));
    }

    #[test]
    fn acks_under_another_leadership_do_not_confirm() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        acks.record(2, leadership(6, 1), since);
        acks.record(3, leadership(8, 2), since);
        assert!(!acks.confirmed(&read(term7, since, &three)));
    }

    #[test]
    fn an_older_ack_never_replaces_a_newer_one() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        acks.record(2, term7, since);
        acks.record(2, term7, since - Duration::from_millis(1));
        assert!(acks.confirmed(&read(term7, since, &three)));
    }

    #[test]
    fn a_late_ack_from_an_earlier_leadership_never_replaces_a_newer_one() {
        let acks = PeerAcks::default();
        let (term9, three) = (leadership(9, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        acks.record(2, term9, since);
        acks.record(2, leadership(7, 1), since + Duration::from_millis(1));
        assert!(acks.confirmed(&read(term9, since, &three)));
        // A newer leadership does replace an older one.
        let term10 = leadership(10, 1);
        acks.record(2, term10, since);
        assert!(acks.confirmed(&read(term10, since, &three)));
        assert!(!acks.confirmed(&read(term9, since, &three)));
    }

    #[test]
    fn every_joint_configuration_needs_its_majority() {
        let acks = PeerAcks::default();
        let term7 = leadership(7, 1);
        let since = kiwi_runtime::time::instant();
        let joint: Vec<BTreeSet<NodeId>> = vec![
            [1, 2, 3].into_iter().collect(),
            [4, 5, 6].into_iter().collect(),
        ];
        acks.record(2, term7, since);
        acks.record(4, term7, since);
        assert!(!acks.confirmed(&read(term7, since, &joint)));
        acks.record(5, term7, since);
        assert!(acks.confirmed(&read(term7, since, &joint)));
    }

    #[tokio::test]
    async fn a_later_ack_wakes_a_waiting_read() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        let recorder = acks.clone();
        let ack = term7;
        let late = tokio::spawn(async move {
            kiwi_runtime::time::sleep_ms(5).await;
            recorder.record(3, ack, kiwi_runtime::time::instant());
        });
        let long = Duration::from_secs(5);
        assert!(acks.confirm(&read(term7, since, &three), long).await);
        late.await.ok();
    }

    #[tokio::test]
    async fn an_unconfirmed_read_gives_up_after_its_timeout() {
        let acks = PeerAcks::default();
        let (term7, three) = (leadership(7, 1), voters(&[1, 2, 3]));
        let since = kiwi_runtime::time::instant();
        let short = Duration::from_millis(10);
        assert!(!acks.confirm(&read(term7, since, &three), short).await);
    }
}
