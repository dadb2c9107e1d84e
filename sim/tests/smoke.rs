//! madsim smoke test: the real kiwi-server boots in a simulated node, a client
//! node speaks RESP to it over simulated TCP, the server node is killed and
//! restarted, and its data survives. The whole run is checked for
//! determinism: the same seed must produce the same execution twice.
//!
//! Run: `ci/sim.sh` (or `MADSIM_TEST_SEED=<n> ci/sim.sh` to replay a seed).
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kiwi_cmd::Config;
use kiwi_resp::Frame;
use kiwi_sim::{bulk, RespConn};
use madsim::runtime::{Handle, Runtime};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 7379;

/// A data directory unique to this process, test thread and seed (tests of
/// one binary run in parallel threads).
fn data_dir(seed: u64) -> PathBuf {
    let thread = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    std::env::temp_dir().join(format!("kiwi-sim-{thread}-{seed}-{}", std::process::id()))
}

async fn scenario() -> Vec<String> {
    let handle = Handle::current();
    let dir = data_dir(handle.seed());
    let _ = std::fs::remove_dir_all(&dir);
    let server_dir = dir.clone();
    let server = handle
        .create_node()
        .name("kiwi-0")
        .ip(IpAddr::V4(SERVER_IP))
        .init(move || {
            let cfg = Config {
                bind: SERVER_IP.to_string(),
                // Simulated clients have their own (non-loopback) addresses.
                protected_mode: false,
                port: PORT,
                dir: server_dir.clone(),
                ..Config::default()
            };
            async move {
                if let Err(e) = kiwi_server::run(cfg, std::future::pending()).await {
                    panic!("kiwi-server failed in simulation: {e}");
                }
            }
        })
        .build();
    let client = handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(CLIENT_IP))
        .build();
    let addr = SocketAddr::new(IpAddr::V4(SERVER_IP), PORT).to_string();

    let mut trace = Vec::new();
    let a = addr.clone();
    let phase1 = client
        .spawn(async move {
            let mut conn = connect_with_retry(&a).await;
            let mut log = Vec::new();
            for i in 0..50 {
                let r = conn
                    .call(&["SET", &format!("key{i}"), &format!("value{i}")])
                    .await
                    .expect("SET");
                assert_eq!(r, Frame::ok());
            }
            let r = conn
                .call(&["INCRBY", "counter", "42"])
                .await
                .expect("INCRBY");
            assert_eq!(r, Frame::Integer(42));
            let r = conn.call(&["GET", "key7"]).await.expect("GET");
            assert_eq!(r, bulk("value7"));
            log.push(format!(
                "t={:?} phase1 ok",
                madsim::time::TimeHandle::current().elapsed()
            ));
            log
        })
        .await
        .expect("phase 1");
    trace.extend(phase1);

    handle.kill(server.id());
    madsim::time::sleep(Duration::from_secs(1)).await;
    handle.restart(server.id());

    let phase2 = client
        .spawn(async move {
            let mut conn = connect_with_retry(&addr).await;
            assert_eq!(
                conn.call(&["DBSIZE"]).await.expect("DBSIZE"),
                Frame::Integer(51)
            );
            assert_eq!(
                conn.call(&["GET", "key49"]).await.expect("GET"),
                bulk("value49")
            );
            assert_eq!(
                conn.call(&["GET", "counter"]).await.expect("GET"),
                bulk("42")
            );
            assert_eq!(
                conn.call(&["SET", "ttl", "x", "PX", "500"])
                    .await
                    .expect("SET"),
                Frame::ok()
            );
            madsim::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                conn.call(&["GET", "ttl"]).await.expect("GET"),
                Frame::Null,
                "simulated time drives expiry"
            );
            vec!["phase2 ok".to_string()]
        })
        .await
        .expect("phase 2");
    trace.extend(phase2);
    // Stop the server so RocksDB closes (killed tasks are dropped on their
    // next poll) before the directory is removed or reused.
    handle.kill(server.id());
    madsim::time::sleep(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    trace
}

async fn connect_with_retry(addr: &str) -> RespConn {
    for _ in 0..100 {
        if let Ok(c) = RespConn::connect(addr).await {
            return c;
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server at {addr} never accepted");
}

#[test]
fn server_boots_serves_and_survives_restart() {
    let _serial = kiwi_sim::exclusive();
    let seed = kiwi_sim::replay_seed("server_boots_serves_and_survives_restart");
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = rt.block_on(scenario());
    assert_eq!(trace.len(), 2, "seed {seed}: {trace:?}");
}

#[test]
fn same_seed_same_execution() {
    // Runs the scenario twice and fails if any random decision differs.
    let _serial = kiwi_sim::exclusive();
    Runtime::check_determinism(
        kiwi_sim::replay_seed("same_seed_same_execution"),
        madsim::Config::default(),
        scenario,
    );
}
