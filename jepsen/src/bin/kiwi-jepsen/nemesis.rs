//! Faults against the real processes, one at a time, each healed before the
//! next: kill -9 then restart, SIGSTOP then SIGCONT, and membership changes
//! (`RAFT.NODE REMOVE`, then `ADD` back with the node's old data). Network
//! partitions need a fault-injecting proxy on the Raft links, which is not
//! built yet.

use std::io;
use std::str::FromStr;
use std::time::Duration;

use kiwi_runtime::time::Instant;

use kiwi_jepsen::client::call_until_ok;

use crate::cluster::{Cluster, ADMIN_TRY};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kill,
    Pause,
    Member,
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "kill" => Ok(Kind::Kill),
            "pause" => Ok(Kind::Pause),
            "member" => Ok(Kind::Member),
            other => Err(format!(
                "unknown nemesis '{other}' (kill, pause, member; partitions need the proxy, not built yet)"
            )),
        }
    }
}

/// Injects faults of `kinds` until `until` after `start`; returns the log.
/// Every fault is healed when this returns.
pub async fn run(
    cluster: &mut Cluster,
    kinds: &[Kind],
    start: Instant,
    until: Duration,
) -> io::Result<Vec<String>> {
    let mut log = Vec::new();
    if kinds.is_empty() {
        kiwi_runtime::time::sleep(until.saturating_sub(start.elapsed())).await;
        return Ok(log);
    }
    let stamp = |start: Instant| format!("{:>7.3}s", start.elapsed().as_secs_f64());
    loop {
        kiwi_runtime::time::sleep(Duration::from_millis(kiwi_runtime::rand::between(
            1_000, 3_000,
        )))
        .await;
        if start.elapsed() >= until {
            return Ok(log);
        }
        let kind = kinds[kiwi_runtime::rand::index(kinds.len())];
        let i = kiwi_runtime::rand::index(cluster.nodes.len());
        let length = Duration::from_millis(kiwi_runtime::rand::between(500, 5_000));
        let id = cluster.nodes[i].id;
        log.push(format!(
            "{} {kind:?} node {id} for {length:?}",
            stamp(start)
        ));
        match kind {
            Kind::Kill => {
                cluster.kill(i)?;
                kiwi_runtime::time::sleep(length).await;
                cluster.restart(i)?;
            }
            Kind::Pause => {
                cluster.pause(i)?;
                kiwi_runtime::time::sleep(length).await;
                cluster.resume(i)?;
            }
            Kind::Member => {
                let via = [cluster.nodes[(i + 1) % cluster.nodes.len()].resp_addr()];
                let remove = [
                    "RAFT.NODE".to_string(),
                    "REMOVE".to_string(),
                    id.to_string(),
                ];
                if !call_until_ok(&via, &remove, ADMIN_TRY, Duration::from_secs(10)).await {
                    log.push(format!("{} refused", stamp(start)));
                    continue;
                }
                kiwi_runtime::time::sleep(length).await;
                let node = &cluster.nodes[i];
                let add = [
                    "RAFT.NODE".to_string(),
                    "ADD".to_string(),
                    id.to_string(),
                    node.raft_addr(),
                    node.resp_addr(),
                ];
                if !call_until_ok(&via, &add, ADMIN_TRY, Duration::from_secs(120)).await {
                    return Err(io::Error::other(format!(
                        "node {id} could not be added back"
                    )));
                }
            }
        }
        log.push(format!("{} healed", stamp(start)));
    }
}
