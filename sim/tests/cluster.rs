//! A 3-node Kiwi cluster in madsim: the real server (RESP listener, OpenRaft
//! node, RocksDB engine and log) on simulated nodes, time and TCP. Nodes
//! join through RAFT.NODE ADD, clients write through every node, the leader
//! is killed and restarted, and nothing acknowledged is lost. The run is
//! checked for determinism: one seed, one execution.
//!
//! Run: `ci/sim.sh cluster` (replay: `MADSIM_TEST_SEED=<n> ci/sim.sh cluster`).
//! The full fault-injection simulator (partitions, nemesis, checker) builds
//! on this scenario.
#![cfg(madsim)]

use std::time::Duration;

use kiwi_resp::Frame;
use kiwi_sim::bulk;
use kiwi_sim::cluster::{
    call_until_settled, connect, form_cluster, resp_addr, start_servers_and_client,
    stop_and_remove, NodeSettings,
};
use madsim::runtime::{Handle, Runtime};

const NODES: u8 = 3;
const TAG: &str = "cluster";

async fn leader(addr: &str) -> u8 {
    kiwi_sim::cluster::leader(addr, NODES).await
}

async fn scenario() -> Vec<String> {
    let handle = Handle::current();
    let (nodes, client) = start_servers_and_client(&handle, TAG, NODES, &NodeSettings::default());

    let trace = client
        .spawn(async move {
            let mut trace = Vec::new();
            // Node 1 leads alone at first; the others join through it.
            form_cluster(NODES).await;
            // Writes through every node.
            for n in 1..=NODES {
                for i in 0..10 {
                    let key = format!("n{n}:k{i}");
                    let r = call_until_settled(&resp_addr(n), &["SET", &key, "v"]).await;
                    assert_eq!(r, Frame::ok());
                }
                let r = call_until_settled(&resp_addr(n), &["INCR", "counter"]).await;
                assert_eq!(r, Frame::Integer(n as i64));
            }
            trace.push(format!(
                "t={:?} writes ok",
                madsim::time::TimeHandle::current().elapsed()
            ));
            leader(&resp_addr(2)).await
        })
        .await
        .expect("phase 1");
    let old_leader = trace;
    let mut trace = vec![format!("leader {old_leader}")];

    handle.kill(nodes[old_leader as usize - 1].id());
    let survivor = if old_leader == 1 { 2 } else { 1 };
    let phase2 = client
        .spawn(async move {
            // A new leader takes over; acknowledged writes are all there.
            let r = call_until_settled(&resp_addr(survivor), &["INCR", "counter"]).await;
            assert_eq!(r, Frame::Integer(NODES as i64 + 1));
            for n in 1..=NODES {
                let r =
                    call_until_settled(&resp_addr(survivor), &["GET", &format!("n{n}:k9")]).await;
                assert_eq!(r, bulk("v"));
            }
            let new_leader = leader(&resp_addr(survivor)).await;
            assert_ne!(new_leader, old_leader);
            format!("new leader {new_leader}")
        })
        .await
        .expect("phase 2");
    trace.push(phase2);

    handle.restart(nodes[old_leader as usize - 1].id());
    let phase3 = client
        .spawn(async move {
            // The old leader rejoins as a follower and catches up.
            for _ in 0..100 {
                let mut conn = connect(&resp_addr(old_leader)).await;
                let _ = conn.call(&["READONLY"]).await;
                if let Ok(f) = conn.call(&["GET", "counter"]).await {
                    if f == bulk(&(NODES as u64 + 1).to_string()) {
                        return format!("node {old_leader} caught up");
                    }
                }
                madsim::time::sleep(Duration::from_millis(200)).await;
            }
            panic!("node {old_leader} never caught up");
        })
        .await
        .expect("phase 3");
    trace.push(phase3);

    stop_and_remove(&handle, TAG, &nodes).await;
    trace
}

#[test]
fn cluster_replicates_and_survives_leader_kill() {
    let _serial = kiwi_sim::exclusive();
    let seed = kiwi_sim::replay_seed("cluster_replicates_and_survives_leader_kill");
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = rt.block_on(scenario());
    assert_eq!(trace.len(), 3, "seed {seed}: {trace:?}");
}

#[test]
fn cluster_same_seed_same_execution() {
    let _serial = kiwi_sim::exclusive();
    Runtime::check_determinism(
        kiwi_sim::replay_seed("cluster_same_seed_same_execution"),
        madsim::Config::default(),
        scenario,
    );
}
