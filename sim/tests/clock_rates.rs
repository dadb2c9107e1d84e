//! Nodes whose clocks run at different rates: one at half speed, one true,
//! one at double speed (which node gets which is up to the seed). A node's
//! rate applies to its wall clock and to OpenRaft's clock and timers
//! (`kiwi_runtime::time::set_clock_drift_ppm`), so a fast follower's
//! election timeout fires in half the time and a slow leader's heartbeats
//! come at half the rate. Real oscillators are never this far off (NTP
//! corrects up to ±500 ppm); the rates here are for the timers, which
//! ±500 ppm would barely move.
//!
//! The scenario: clients run every workload through any node for 40
//! simulated seconds while the leader is killed twice and restarted. The
//! history must be linearizable (Raft's safety never rests on timers:
//! reads go through the read index), and the cluster must serve a write
//! and a read after each restart (liveness with disagreeing timers).
//!
//! Run: `ci/sim.sh clock_rates` (replay one seed:
//! `MADSIM_TEST_SEED=<n> CLOCK_RATES_SEEDS=1 ci/sim.sh clock_rates`).
#![cfg(madsim)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiwi_jepsen::client::serves_write_and_read;
use kiwi_jepsen::workload::{run_client, ClientConfig};
use kiwi_jepsen::{check_with_clock_error, History};
use kiwi_runtime::raft_rt::{KiwiRaftRuntime, TokioInstant};
use kiwi_sim::cluster::{
    form_cluster, leader, resp_addr, start_servers_and_client, stop_and_remove, NodeSettings,
};
use kiwi_sim::{env_u64, now};
use madsim::rand::seq::SliceRandom;
use madsim::rand::thread_rng;
use madsim::runtime::{Handle, Runtime};
use openraft_rt::instant::Instant as _;
use openraft_rt::AsyncRuntime;

const NODES: u8 = 3;
const CLIENTS: u64 = 3;
const TAG: &str = "clock-rates";
/// The nodes' rate errors: half speed, true, double speed.
const RATES_PPM: [i64; 3] = [-500_000, 0, 1_000_000];
const CLIENTS_FOR: Duration = Duration::from_secs(40);
/// Longest the cluster may take to serve a write and a read after a restart.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);
const CHECK_BUDGET_STEPS: u64 = 2_000_000;

/// Runs the scenario; returns its history.
async fn scenario() -> History {
    let handle = Handle::current();
    let (nodes, client) = start_servers_and_client(&handle, TAG, NODES, &NodeSettings::default());
    client
        .spawn(form_cluster(NODES))
        .await
        .expect("forming the cluster");
    let mut rates = RATES_PPM;
    rates.shuffle(&mut thread_rng());
    for (node, ppm) in nodes.iter().zip(rates) {
        kiwi_runtime::time::set_clock_drift_ppm(node.id(), ppm);
    }

    let history = Arc::new(Mutex::new(History::default()));
    let servers: Vec<String> = (1..=NODES).map(resp_addr).collect();
    let cfg = ClientConfig {
        servers: servers.clone(),
        ..ClientConfig::default()
    };
    let start = kiwi_runtime::time::instant();
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|c| {
            client.spawn(run_client(
                c,
                cfg.clone(),
                history.clone(),
                start,
                CLIENTS_FOR,
            ))
        })
        .collect();

    for _ in 0..2 {
        madsim::time::sleep(Duration::from_secs(8)).await;
        let l = client
            .spawn(async { leader(&resp_addr(1), NODES).await })
            .await
            .expect("asking for the leader");
        handle.kill(nodes[l as usize - 1].id());
        madsim::time::sleep(Duration::from_secs(4)).await;
        handle.restart(nodes[l as usize - 1].id());
        let servers = servers.clone();
        let probe = client.spawn(async move {
            let live = serves_write_and_read(&servers, "liveness", Duration::from_secs(2), RECOVERY_BOUND)
                .await;
            assert!(
                live,
                "no node served a write and a read within {RECOVERY_BOUND:?} of node {l} restarting \
                 (rates {rates:?} ppm)"
            );
        });
        probe.await.expect("recovery probe");
    }

    for c in clients {
        c.await.expect("client task");
    }
    stop_and_remove(&handle, TAG, &nodes).await;
    kiwi_runtime::time::clear_node_clocks();
    let ops = history.lock().map(|h| h.clone()).unwrap_or_default();
    ops
}

fn run_seed(seed: u64) -> History {
    kiwi_runtime::time::clear_node_clocks();
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let (history, simulated) = rt.block_on(async {
        let history = scenario().await;
        (history, now())
    });
    // A node at double speed is ahead by the whole run by its end; the
    // expiring keys' bounds widen by that much (their other checks stand).
    let clock_error_ms = 2 * simulated.as_millis() as u64 + 10;
    let report = check_with_clock_error(&history, CHECK_BUDGET_STEPS, clock_error_ms);
    if let Some(bad) = report.first_failure() {
        for o in history.ops.iter().filter(|o| o.key == bad.key) {
            eprintln!("  {o}");
        }
        panic!(
            "seed {seed}: key {} is {:?}\n{}\n\
             replay: MADSIM_TEST_SEED={seed} CLOCK_RATES_SEEDS=1 ci/sim.sh clock_rates",
            bad.key, bad.verdict, bad.explanation
        );
    }
    history
}

#[test]
fn clock_rates_leave_histories_linearizable_and_the_cluster_live() {
    let _serial = kiwi_sim::exclusive();
    let first = env_u64("MADSIM_TEST_SEED", 1);
    let seeds = env_u64("CLOCK_RATES_SEEDS", 5);
    for seed in first..first + seeds {
        let history = run_seed(seed);
        let done = history.done();
        eprintln!(
            "clock rates: seed {seed}: {} ops, {done} done",
            history.ops.len()
        );
        assert!(
            done > 100,
            "seed {seed}: only {done} operations completed in {CLIENTS_FOR:?}"
        );
    }
}

/// The clock model itself: on a node at double speed, OpenRaft's clock and
/// the wall clock gain two seconds per true second, and OpenRaft's sleeps
/// (by duration or to a deadline on the node's clock) end in half the time.
#[test]
fn clock_rates_double_speed_runs_raft_timers_and_the_wall_clock_twice_as_fast() {
    let _serial = kiwi_sim::exclusive();
    kiwi_runtime::time::clear_node_clocks();
    let rt = Runtime::with_seed_and_config(1, madsim::Config::default());
    rt.block_on(async {
        let node = Handle::current().create_node().name("fast").build();
        kiwi_runtime::time::set_clock_drift_ppm(node.id(), 1_000_000);
        node.spawn(async {
            let (true_start, wall_start) = (now(), kiwi_runtime::time::now_ms());
            let raft_start = TokioInstant::now();
            KiwiRaftRuntime::sleep(Duration::from_secs(1)).await;
            let true_ms = (now() - true_start).as_millis();
            assert!(
                (500..=502).contains(&true_ms),
                "a 1 s sleep took {true_ms} ms"
            );
            let raft_ms = raft_start.elapsed().as_millis();
            assert!(
                (1000..=1004).contains(&raft_ms),
                "the node's clock moved {raft_ms} ms"
            );
            let wall_ms = kiwi_runtime::time::now_ms() - wall_start;
            assert!(
                (1000..=1004).contains(&wall_ms),
                "the wall clock moved {wall_ms} ms"
            );

            let true_start = now();
            KiwiRaftRuntime::sleep_until(TokioInstant::now() + Duration::from_secs(2)).await;
            let true_ms = (now() - true_start).as_millis();
            assert!(
                (1000..=1002).contains(&true_ms),
                "sleeping to +2 s took {true_ms} ms"
            );
        })
        .await
        .expect("the fast node's task");
    });
    kiwi_runtime::time::clear_node_clocks();
}
