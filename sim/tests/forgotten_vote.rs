//! A node that crashes right after voting must still remember the vote.
//!
//! Raft's safety rests on it: a vote forgotten in a crash lets the node
//! vote again in the same term, or follow a leader it already voted out.
//! The log store fsyncs the vote before OpenRaft is told it is saved
//! (`kiwi/raft/src/log_store.rs`), and the simulator's disk model
//! (`kiwi_runtime::disk`) loses whatever a crashed node wrote after its
//! last sync. The `canary-no-vote-fsync` build skips that fsync; this
//! scenario must then lose an acknowledged write.
//!
//! The scenario, three nodes:
//! 1. The leader Y is paused (it keeps believing it leads) and cut off from
//!    X, one of the two others, so it cannot hear of X's election. The
//!    network is slowed so that a vote and the next sync are apart for
//!    about a hundred ms.
//! 2. The third node, C, is killed at a time the seed picks from the span
//!    of the election that follows; on some seeds that is after C voted
//!    for X and before anything synced the vote.
//! 3. X is cut off from C too, C restarts, Y resumes.
//! 4. A marker is written through Y. With C's vote for X remembered, C
//!    refuses Y's old-term appends; forgotten, C accepts them and Y
//!    acknowledges the marker.
//! 5. X is reconnected and the marker is read from the cluster. X leads a
//!    newer term than Y, and its log lacks the marker: with a forgotten
//!    vote, the acknowledged marker is overwritten, and the read answers nil.
//!
//! Run: `ci/sim.sh rebooted_voter` (replay one seed:
//! `MADSIM_TEST_SEED=<n> FORGOTTEN_VOTE_SEEDS=1 ci/sim.sh rebooted_voter`).
#![cfg(madsim)]

use std::time::Duration;

use kiwi_jepsen::client::RespConn;
use kiwi_resp::Frame;
use kiwi_sim::cluster::{
    call_until_settled, form_cluster, leader, resp_addr, set_link, start_servers_and_client,
    stop_and_remove, NodeSettings,
};
use kiwi_sim::env_u64;
use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};

const NODES: u8 = 3;
const TAG: &str = "forgotten-vote";
/// One-way network latency while the scenario runs: a vote and the append
/// that would sync it are then at least 2 × 20 ms apart.
const LATENCY_MS: std::ops::Range<u64> = 20..30;
/// The span after the pause in which C is killed. X's election comes
/// about 1.5–2.5 s after the pause: C refuses to vote while its lease from
/// Y lasts, and X waits out its own election timeout. C's vote stays
/// unsynced for about 100 ms of it (two one-way latencies and a sync).
const KILL_AFTER_MS: std::ops::Range<u64> = 1200..2600;
/// How long one attempt of the marker write through Y may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts of the marker write while Y answers TRYAGAIN, 50 ms apart.
const WRITE_ATTEMPTS: usize = 40;

/// What the marker write through Y answered, and what the cluster later
/// answers to a read of the marker.
async fn scenario() -> (Option<Frame>, Frame) {
    let handle = Handle::current();
    let (nodes, client) = start_servers_and_client(&handle, TAG, NODES, &NodeSettings::default());
    let y = client
        .spawn(async move {
            form_cluster(NODES).await;
            leader(&resp_addr(1), NODES).await
        })
        .await
        .expect("cluster formed");
    let others: Vec<u8> = (1..=NODES).filter(|&n| n != y).collect();
    let (c, x) = if thread_rng().gen_bool(0.5) {
        (others[0], others[1])
    } else {
        (others[1], others[0])
    };
    let node = |n: u8| nodes[n as usize - 1].id();

    let net = NetSim::current();
    net.update_config(|cfg| {
        cfg.send_latency =
            Duration::from_millis(LATENCY_MS.start)..Duration::from_millis(LATENCY_MS.end)
    });
    // Y must not hear of X's election (a queued vote request would make it
    // step down when it resumes): X and Y are cut off from each other.
    let cut = |a: u8, b: u8, clog: bool| set_link(node(a), node(b), clog);
    cut(x, y, true);
    handle.pause(node(y));
    let kill_after = thread_rng().gen_range(KILL_AFTER_MS);
    madsim::time::sleep(Duration::from_millis(kill_after)).await;
    handle.kill(node(c));
    cut(x, c, true);
    // Killed tasks drop (and RocksDB closes) on their next poll.
    madsim::time::sleep(Duration::from_millis(50)).await;
    handle.restart(node(c));
    handle.resume(node(y));

    // Y's leader lease expired while it was paused, so it refuses writes
    // (TRYAGAIN) until a heartbeat round is acknowledged again: retry.
    let write = client
        .spawn(async move {
            let mut conn = RespConn::connect(&resp_addr(y)).await.ok()?;
            let mut reply = None;
            for _ in 0..WRITE_ATTEMPTS {
                reply = madsim::time::timeout(WRITE_TIMEOUT, conn.call(&["SET", "marker", "v"]))
                    .await
                    .ok()?
                    .ok();
                match &reply {
                    Some(Frame::Error(e)) if e.starts_with(b"TRYAGAIN") => {
                        madsim::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => break,
                }
            }
            reply
        })
        .await
        .expect("client task");

    cut(x, y, false);
    cut(x, c, false);
    net.update_config(|cfg| *cfg = Default::default());
    madsim::time::sleep(Duration::from_secs(3)).await;
    let read = client
        .spawn(async move { call_until_settled(&resp_addr(x), &["GET", "marker"]).await })
        .await
        .expect("client task");
    stop_and_remove(&handle, TAG, &nodes).await;
    if std::env::var_os("SIM_TRACE").is_some() {
        eprintln!("leader {y}, killed {c} at +{kill_after} ms, cut off {x}: write {write:?}, read {read:?}");
    }
    (write, read)
}

/// Runs `seed`; panics if an acknowledged marker was lost. Returns whether
/// the marker write was acknowledged.
fn run_seed(seed: u64) -> bool {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let (write, read) = rt.block_on(scenario());
    let acknowledged = write == Some(Frame::ok());
    if acknowledged && read != Frame::Bulk("v".into()) {
        panic!(
            "seed {seed}: the marker write was acknowledged, then a read answered \
             {read:?}\nreplay: MADSIM_TEST_SEED={seed} FORGOTTEN_VOTE_SEEDS=1 ci/sim.sh rebooted_voter"
        );
    }
    acknowledged
}

#[test]
fn a_rebooted_voter_never_forgets_its_vote() {
    let _serial = kiwi_sim::exclusive();
    let first = env_u64("MADSIM_TEST_SEED", 1);
    let seeds = env_u64("FORGOTTEN_VOTE_SEEDS", 20);
    let acknowledged = (first..first + seeds).filter(|&s| run_seed(s)).count();
    eprintln!(
        "rebooted voter: {seeds} seeds; the marker write was acknowledged on \
         {acknowledged} and never lost"
    );
}

/// Built with `canary-no-vote-fsync`, the scenario must lose an
/// acknowledged write within 200 seeds.
#[cfg(feature = "canary-no-vote-fsync")]
#[test]
fn canary_is_caught_within_200_seeds() {
    kiwi_sim::canary_caught_by(|seed| {
        run_seed(seed);
    });
}
