//! Faults against the real processes, one at a time (or, combined, one or
//! two at once), each round healed before the next: kill -9 then restart,
//! SIGSTOP then SIGCONT, network partitions through the Raft proxies (one
//! node isolated, the leader isolated, random halves, or a bridge), and
//! membership changes (`RAFT.NODE REMOVE`, then `ADD` back with the node's
//! old data).

use std::io;
use std::str::FromStr;
use std::time::Duration;

use kiwi_runtime::time::Instant;

use kiwi_jepsen::client::{call_until_ok, RespConn};
use kiwi_jepsen::report::Fault;
use kiwi_resp::Frame;

use crate::cluster::{Cluster, Node, ADMIN_TRY};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kill,
    Pause,
    Partition,
    Member,
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "kill" => Ok(Kind::Kill),
            "pause" => Ok(Kind::Pause),
            "partition" => Ok(Kind::Partition),
            "member" => Ok(Kind::Member),
            other => Err(format!(
                "unknown nemesis '{other}' (kill, pause, partition, member)"
            )),
        }
    }
}

/// A fault in place, and what heals it.
enum Active {
    Killed(usize),
    Paused(usize),
    Cut,
    /// Removed from the membership; added back through `via`.
    Removed {
        i: usize,
        via: String,
    },
}

/// The fault log: lines stamped with the time since the start.
struct Log {
    start: Instant,
    lines: Vec<String>,
}

impl Log {
    fn push(&mut self, what: String) {
        let at = self.start.elapsed().as_secs_f64();
        self.lines.push(format!("{at:>7.3}s {what}"));
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Injects a fault of `kind` on node index `i` (a partition picks its own
/// sides). Returns what heals it and its label, or `None` if the cluster
/// refused it (a membership change without a quorum).
async fn inject(
    cluster: &mut Cluster,
    kind: Kind,
    i: usize,
    log: &mut Log,
) -> io::Result<Option<(Active, String)>> {
    let id = cluster.nodes[i].id;
    Ok(Some(match kind {
        Kind::Kill => {
            cluster.kill(i)?;
            (Active::Killed(i), format!("kill n{id}"))
        }
        Kind::Pause => {
            cluster.pause(i)?;
            (Active::Paused(i), format!("pause n{id}"))
        }
        Kind::Partition => {
            let (a, b, shape) = grudge(cluster).await;
            cluster.net.partition(&a, &b);
            log.push(format!("partition ({shape}) {a:?} | {b:?}"));
            (Active::Cut, format!("partition {a:?}|{b:?}"))
        }
        Kind::Member => {
            // Ask a node that is neither the removed one nor down.
            let via = (1..cluster.nodes.len())
                .map(|k| (i + k) % cluster.nodes.len())
                .find(|&k| cluster.is_running(k))
                .map(|k| cluster.nodes[k].resp_addr());
            let Some(via) = via else { return Ok(None) };
            let remove = [
                "RAFT.NODE".to_string(),
                "REMOVE".to_string(),
                id.to_string(),
            ];
            if !call_until_ok(
                std::slice::from_ref(&via),
                &remove,
                ADMIN_TRY,
                Duration::from_secs(10),
            )
            .await
            {
                log.push(format!("remove n{id} refused"));
                return Ok(None);
            }
            (Active::Removed { i, via }, format!("member n{id}"))
        }
    }))
}

/// Heals one fault.
async fn heal(cluster: &mut Cluster, active: Active, log: &mut Log) -> io::Result<()> {
    match active {
        Active::Killed(i) => cluster.restart(i),
        Active::Paused(i) => cluster.resume(i),
        Active::Cut => {
            log.push(format!("leaders seen: {}", leaders_seen(cluster).await));
            cluster.net.heal();
            Ok(())
        }
        Active::Removed { i, via } => {
            let node = &cluster.nodes[i];
            let add = node.add_command();
            // Any node will do (the leader forwards), the one asked first.
            let mut servers: Vec<String> = cluster.nodes.iter().map(|n| n.resp_addr()).collect();
            servers.retain(|s| *s != via);
            servers.insert(0, via);
            if call_until_ok(&servers, &add, ADMIN_TRY, Duration::from_secs(120)).await {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "node {} could not be added back",
                    node.id
                )))
            }
        }
    }
}

/// Injects faults of `kinds` until `until` after `start`; returns the log
/// and the faults' intervals. One fault at a time, or with `combined` one
/// or two at once (of different kinds, on different nodes). Every fault is
/// healed when this returns.
pub async fn run(
    cluster: &mut Cluster,
    kinds: &[Kind],
    combined: bool,
    start: Instant,
    until: Duration,
) -> io::Result<(Vec<String>, Vec<Fault>)> {
    let mut log = Log {
        start,
        lines: Vec::new(),
    };
    let mut faults = Vec::new();
    if kinds.is_empty() {
        kiwi_runtime::time::sleep(until.saturating_sub(start.elapsed())).await;
        return Ok((log.lines, faults));
    }
    loop {
        kiwi_runtime::time::sleep(Duration::from_millis(kiwi_runtime::rand::between(
            1_000, 3_000,
        )))
        .await;
        if start.elapsed() >= until {
            return Ok((log.lines, faults));
        }
        let count = if combined && kinds.len() > 1 && cluster.nodes.len() > 1 {
            1 + kiwi_runtime::rand::index(2)
        } else {
            1
        };
        let mut round: Vec<(Kind, usize)> = Vec::new();
        while round.len() < count {
            let kind = kinds[kiwi_runtime::rand::index(kinds.len())];
            let mut i = kiwi_runtime::rand::index(cluster.nodes.len());
            // Half the pauses freeze the leader: a leader resumed with
            // replies queued from before must not serve stale reads.
            if kind == Kind::Pause && kiwi_runtime::rand::index(2) == 0 {
                if let Some(id) = leader(cluster).await {
                    i = cluster.nodes.iter().position(|n| n.id == id).unwrap_or(i);
                }
            }
            if round.iter().all(|&(k, j)| k != kind && j != i) {
                round.push((kind, i));
            }
        }
        // A partition must outlast an election (1-2 election timeouts) to
        // let the majority move on without the cut-off node.
        let length = Duration::from_millis(if round.iter().any(|(k, _)| *k == Kind::Partition) {
            kiwi_runtime::rand::between(2_000, 8_000)
        } else {
            kiwi_runtime::rand::between(500, 5_000)
        });
        let mut active = Vec::new();
        for (kind, i) in round {
            let began_ns = log.now_ns();
            if let Some((fault, label)) = inject(cluster, kind, i, &mut log).await? {
                log.push(format!("{label} for {length:?}"));
                active.push((fault, label, began_ns));
            }
        }
        kiwi_runtime::time::sleep(length).await;
        // Membership last: adding a node back needs a quorum.
        active.sort_by_key(|(f, _, _)| matches!(f, Active::Removed { .. }));
        for (fault, label, began_ns) in active {
            heal(cluster, fault, &mut log).await?;
            log.push(format!("healed {label}"));
            faults.push(Fault {
                start_ns: began_ns,
                end_ns: log.now_ns(),
                label,
            });
        }
    }
}

/// Which nodes to cut from which: one node alone, the leader alone (twice
/// as likely: the shape that tests leases and read barriers), a random
/// minority from the majority, or (five nodes or more) a bridge: two halves
/// that cannot talk except through one node in both. Returns the two sides
/// and the shape's name.
async fn grudge(cluster: &Cluster) -> (Vec<u8>, Vec<u8>, &'static str) {
    let mut ids: Vec<u8> = cluster.nodes.iter().map(|n| n.id).collect();
    let shapes = if ids.len() >= 5 { 5 } else { 4 };
    let apart = |ids: &[u8], lone: u8| -> (Vec<u8>, Vec<u8>) {
        (
            vec![lone],
            ids.iter().copied().filter(|&x| x != lone).collect(),
        )
    };
    match kiwi_runtime::rand::index(shapes) {
        0 => {
            let lone = ids[kiwi_runtime::rand::index(ids.len())];
            let (a, b) = apart(&ids, lone);
            (a, b, "one node")
        }
        1 | 3 => match leader(cluster).await {
            Some(lone) => {
                let (a, b) = apart(&ids, lone);
                (a, b, "leader")
            }
            None => {
                let lone = ids[kiwi_runtime::rand::index(ids.len())];
                let (a, b) = apart(&ids, lone);
                (a, b, "one node (no leader known)")
            }
        },
        2 => {
            shuffle(&mut ids);
            let b = ids.split_off(ids.len() / 2);
            (ids, b, "halves")
        }
        _ => {
            // a | bridge | b: the bridge node sits in neither side, so it
            // keeps both of its links; a and b cannot reach each other.
            shuffle(&mut ids);
            ids.pop(); // the bridge
            let b = ids.split_off(ids.len() / 2);
            (ids, b, "bridge")
        }
    }
}

fn shuffle(ids: &mut [u8]) {
    for k in (1..ids.len()).rev() {
        ids.swap(k, kiwi_runtime::rand::index(k + 1));
    }
}

/// Whom `node` names as the leader: `Some(Some(id))`, `Some(None)` when it
/// knows of no leader, `None` when it does not answer within a second.
async fn leader_seen_by(cluster: &Cluster, node: &Node) -> Option<Option<u8>> {
    let ask = async {
        let mut c = RespConn::connect(&node.resp_addr()).await.ok()?;
        c.call(&["RAFT.LEADER"]).await.ok()
    };
    match kiwi_runtime::time::timeout(Duration::from_secs(1), ask).await {
        Ok(Some(Frame::Bulk(addr))) => Some(
            cluster
                .nodes
                .iter()
                .find(|n| n.resp_addr().as_bytes() == &addr[..])
                .map(|n| n.id),
        ),
        Ok(Some(_)) => Some(None),
        _ => None,
    }
}

/// Each node's view of the leader, e.g. `n1:n1 n2:n3 n3:n3` (`-`: none,
/// `?`: no answer).
async fn leaders_seen(cluster: &Cluster) -> String {
    let mut views = Vec::new();
    for node in &cluster.nodes {
        let view = match leader_seen_by(cluster, node).await {
            Some(Some(id)) => format!("n{id}"),
            Some(None) => "-".to_string(),
            None => "?".to_string(),
        };
        views.push(format!("n{}:{view}", node.id));
    }
    views.join(" ")
}

/// The leader's id, as the first node that knows one reports it.
async fn leader(cluster: &Cluster) -> Option<u8> {
    for node in &cluster.nodes {
        if let Some(Some(id)) = leader_seen_by(cluster, node).await {
            return Some(id);
        }
    }
    None
}
