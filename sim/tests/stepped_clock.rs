//! A key seen expired stays expired when the leader's wall clock steps back.
//!
//! Cluster-mode reads judge expiry by the log's clock (the latest entry time
//! applied, `kiwi_cmd::Executor::clock_ms`), not by the serving node's wall
//! clock, which NTP may step back at any moment. The scenario: a key with a
//! 1 s TTL, a read on the leader just after its deadline, the leader's clock
//! stepped back 2 s, and a second read before the expiry step commits. The
//! second read must not return the value if the first found it gone. The
//! `canary-wall-clock-reads` build (reads by the wall clock) fails this on
//! almost every seed; the nemesis run rarely catches it, because the
//! leader's expiry step deletes the key within a tenth of a second.
//!
//! Run: `ci/sim.sh stepped_clock` (replay one seed:
//! `MADSIM_TEST_SEED=<n> STEPPED_CLOCK_SEEDS=1 ci/sim.sh stepped_clock`).
#![cfg(madsim)]

use std::time::Duration;

use kiwi_resp::Frame;
use kiwi_sim::cluster::{
    connect, form_cluster, leader, resp_addr, start_servers_and_client, stop_and_remove,
    NodeSettings,
};
use kiwi_sim::{bulk, env_u64};
use madsim::runtime::{Handle, Runtime};

const NODES: u8 = 3;
const TAG: &str = "stepped-clock";
/// How far the leader's clock steps back after the first read.
const STEP_BACK_MS: i64 = 2_000;

/// The two reads of the key: just after its deadline, and after the step.
async fn scenario() -> (Frame, Frame) {
    let handle = Handle::current();
    let (nodes, client) = start_servers_and_client(&handle, TAG, NODES, &NodeSettings::default());
    let ids: Vec<_> = nodes.iter().map(|n| n.id()).collect();
    let reads = client
        .spawn(async move {
            form_cluster(NODES).await;
            let l = leader(&resp_addr(1), NODES).await;
            let mut c = connect(&resp_addr(l)).await;
            let call = |reply: Result<Frame, _>| reply.unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(
                call(c.call(&["SET", "k", "v", "PX", "1000"]).await),
                Frame::ok()
            );
            let Frame::Integer(deadline_ms) = call(c.call(&["PEXPIRETIME", "k"]).await) else {
                panic!("PEXPIRETIME of a key with a TTL is an integer");
            };
            // The client node's clock is the leader's (no skew yet).
            let wait_ms = (deadline_ms as u64 + 1).saturating_sub(kiwi_runtime::time::now_ms());
            madsim::time::sleep(Duration::from_millis(wait_ms)).await;
            let first = call(c.call(&["GET", "k"]).await);
            kiwi_runtime::time::set_clock_skew_ms(ids[l as usize - 1], -STEP_BACK_MS);
            let second = call(c.call(&["GET", "k"]).await);
            (first, second)
        })
        .await
        .expect("the scenario ran");
    stop_and_remove(&handle, TAG, &nodes).await;
    kiwi_runtime::time::clear_node_clocks();
    reads
}

/// Runs `seed`; panics if the key came back after a read found it expired.
/// Returns the first read's reply.
fn run_seed(seed: u64) -> Frame {
    kiwi_runtime::time::clear_node_clocks();
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let (first, second) = rt.block_on(scenario());
    assert!(
        !(first == Frame::Null && second == bulk("v")),
        "seed {seed}: the key read as expired, then (after the leader's clock stepped \
         back {STEP_BACK_MS} ms) as live again\n\
         replay: MADSIM_TEST_SEED={seed} STEPPED_CLOCK_SEEDS=1 ci/sim.sh stepped_clock"
    );
    first
}

#[test]
fn stepped_clock_never_brings_an_expired_key_back() {
    let _serial = kiwi_sim::exclusive();
    let first = env_u64("MADSIM_TEST_SEED", 1);
    let seeds = env_u64("STEPPED_CLOCK_SEEDS", 10);
    let mut expired_at_once = 0;
    for seed in first..first + seeds {
        if run_seed(seed) == Frame::Null {
            expired_at_once += 1;
        }
    }
    eprintln!(
        "stepped clock: {seeds} seeds; the first read found the key expired in \
         {expired_at_once} (the expiry step had committed), live in the rest"
    );
}

/// Built with `canary-wall-clock-reads`, the scenario must catch the
/// resurrected key within 200 seeds.
#[cfg(feature = "canary-wall-clock-reads")]
#[test]
fn canary_is_caught_within_200_seeds() {
    kiwi_sim::canary_caught_by(|seed| {
        run_seed(seed);
    });
}
