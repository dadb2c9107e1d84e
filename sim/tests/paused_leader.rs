//! A leader paused mid-replication must not serve a stale read when it
//! resumes.
//!
//! The scenario behind nemesis seed 6947, made deterministic enough to hit
//! on most seeds: writes keep the leader's append streams busy, the leader
//! is paused (its followers' replies queue up), a new leader is elected and
//! acknowledges a marker write, a read of the marker is queued on the old
//! leader, and the old leader resumes. It must answer the marker or an
//! error, never nil. OpenRaft 0.10.0-alpha.37 alone gets this wrong (it
//! credits the queued replies to requests sent after the resume); Kiwi's
//! own check (`kiwi_raft::leadership`) refuses the read. The
//! `canary-openraft-read-barrier` build turns that check off, and this test
//! must then fail.
//!
//! Run: `ci/sim.sh resumed_leader` (replay one seed:
//! `MADSIM_TEST_SEED=<n> PAUSED_LEADER_SEEDS=1 ci/sim.sh resumed_leader`).
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use kiwi_jepsen::client::RespConn;
use kiwi_resp::Frame;
use kiwi_sim::cluster::{
    call_until_settled, form_cluster, leader, resp_addr, start_servers_and_client, stop_and_remove,
    NodeSettings,
};
use kiwi_sim::env_u64;
use madsim::runtime::{Handle, Runtime};

const NODES: u8 = 3;
const TAG: &str = "paused-leader";
/// Writers keeping the leader's replication pipelines full.
const WRITERS: usize = 4;
/// How long the old leader stays paused: several election timeouts.
const PAUSE: Duration = Duration::from_secs(3);

/// What the resumed old leader answered to the queued read of the marker.
async fn scenario() -> Frame {
    let handle = Handle::current();
    let (nodes, client) = start_servers_and_client(&handle, TAG, NODES, &NodeSettings::default());
    let old = client
        .spawn(async move {
            form_cluster(NODES).await;
            leader(&resp_addr(1), NODES).await
        })
        .await
        .expect("cluster formed");

    let stop = Arc::new(AtomicBool::new(false));
    for w in 0..WRITERS {
        let stop = stop.clone();
        client.spawn(async move {
            let key = format!("w{w}");
            while !stop.load(Relaxed) {
                let Ok(mut conn) = RespConn::connect(&resp_addr(old)).await else {
                    madsim::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                while !stop.load(Relaxed) && conn.call(&["INCR", &key]).await.is_ok() {}
            }
        });
    }
    // Let the pipelines fill, then freeze the leader mid-stream.
    madsim::time::sleep(Duration::from_millis(500)).await;
    handle.pause(nodes[old as usize - 1].id());

    let read = client
        .spawn(async move {
            let survivor = if old == 1 { 2 } else { 1 };
            // Through a survivor, so the new leader acknowledges it.
            let set = call_until_settled(&resp_addr(survivor), &["SET", "marker", "v"]).await;
            assert_eq!(set, Frame::ok());
            // Queued on the paused old leader, which still thinks it leads.
            let mut conn = RespConn::connect(&resp_addr(old)).await.ok()?;
            Some(madsim::task::spawn(async move {
                conn.call(&["GET", "marker"]).await
            }))
        })
        .await
        .expect("marker written");
    madsim::time::sleep(PAUSE).await;
    handle.resume(nodes[old as usize - 1].id());
    stop.store(true, Relaxed);
    let reply = match read {
        Some(read) => match client.spawn(read).await {
            Ok(Ok(Ok(frame))) => frame,
            _ => Frame::error("ERR connection lost"),
        },
        // The paused node's listener did not take the connection: nothing
        // was asked of it.
        None => Frame::error("ERR no connection to the paused leader"),
    };
    stop_and_remove(&handle, TAG, &nodes).await;
    reply
}

/// Runs `seed`; panics if the old leader served a stale read. Returns the
/// error it answered instead, if any.
fn run_seed(seed: u64) -> Option<String> {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    match rt.block_on(scenario()) {
        Frame::Bulk(v) if &v[..] == b"v" => None,
        Frame::Error(e) => Some(String::from_utf8_lossy(&e).into_owned()),
        other => panic!(
            "seed {seed}: the resumed old leader answered {other:?} to a read of a \
             write the new leader had acknowledged\n\
             replay: MADSIM_TEST_SEED={seed} PAUSED_LEADER_SEEDS=1 ci/sim.sh resumed_leader"
        ),
    }
}

#[test]
fn a_resumed_leader_never_serves_a_stale_read() {
    let _serial = kiwi_sim::exclusive();
    let first = env_u64("MADSIM_TEST_SEED", 1);
    let seeds = env_u64("PAUSED_LEADER_SEEDS", 20);
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    for seed in first..first + seeds {
        if let Some(error) = run_seed(seed) {
            *refused.entry(error).or_default() += 1;
        }
    }
    eprintln!("paused leader: {seeds} seeds; refused: {refused:?}; the rest served the marker");
}

/// Built with `canary-openraft-read-barrier`, the scenario must catch the
/// stale read within 200 seeds (it takes one: seed 1).
#[cfg(feature = "canary-openraft-read-barrier")]
#[test]
fn canary_is_caught_within_200_seeds() {
    kiwi_sim::canary_caught_by(|seed| {
        run_seed(seed);
    });
}
