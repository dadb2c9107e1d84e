//! A simulated Kiwi cluster: server nodes running the real `kiwi-server`
//! (RESP listener, OpenRaft node, RocksDB engine and log) on madsim nodes
//! with fixed addresses, each with its own data directory that survives
//! kill and restart, plus the small client helpers scenarios share.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiwi_cmd::{ClusterConfig, Config};
use kiwi_resp::Frame;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId;

use kiwi_jepsen::workload::is_transient;

use crate::RespConn;

pub const RESP_PORT: u16 = 7379;
pub const RAFT_PORT: u16 = 17379;

/// Server node `n`'s address (nodes are numbered from 1).
pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, n)
}

pub fn resp_addr(n: u8) -> String {
    format!("{}:{RESP_PORT}", ip(n))
}

pub fn raft_addr(n: u8) -> String {
    format!("{}:{RAFT_PORT}", ip(n))
}

/// Per-node Raft settings a scenario may change.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub request_timeout_ms: u64,
    pub snapshot_logs: u64,
    pub snapshot_keep_logs: u64,
    /// RocksDB memtable size (`write-buffer-bytes`), which RocksDB also
    /// reserves for each new WAL file.
    pub write_buffer_bytes: u64,
}

impl Default for NodeSettings {
    fn default() -> Self {
        let c = ClusterConfig::default();
        NodeSettings {
            election_timeout_ms: 500,
            heartbeat_interval_ms: 100,
            request_timeout_ms: 3_000,
            snapshot_logs: c.snapshot_logs,
            snapshot_keep_logs: c.snapshot_keep_logs,
            // 4 MiB memtables: each new WAL's reservation is 4.4 MiB instead
            // of 70 MiB (the simulation runs ~1.25x faster; docs/simulation.md,
            // "Speed"), and a seed's Raft log (~0.1 MB per node) still never
            // rolls over to a new WAL between opens. A rollover would weaken
            // the disk model, which cuts only the newest WAL at a crash.
            write_buffer_bytes: 4 << 20,
        }
    }
}

/// Least free space for the simulation to use `/dev/shm`: one seed's three
/// nodes peak at ~30 MB, and a container's default `/dev/shm` is 64 MB.
const SHM_MIN_FREE_BYTES: u64 = 1 << 30;

/// Where the simulated nodes keep their RocksDB directories: `KIWI_SIM_DIR`
/// if set, else `/dev/shm` where it has room, else the temp directory.
/// Decided once per process, so a node's start and the run's clean-up
/// always agree. The place never changes an execution (the disk model
/// decides what a crash loses); in memory, RocksDB's own fsyncs cost nothing.
fn sim_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("KIWI_SIM_DIR") {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        if free_bytes(shm) >= SHM_MIN_FREE_BYTES {
            return shm.to_path_buf();
        }
        std::env::temp_dir()
    })
}

/// Free bytes on the file system holding `path`; 0 if it cannot be read.
fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs only writes the struct it is given, and a zeroed
    // statvfs (integers only) is a valid value to start from.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is a
    // valid, exclusive out-pointer.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64)
}

/// The data directory of node `n` in this run (unique per test thread,
/// seed and process, so parallel test binaries never share one).
pub fn data_dir(tag: &str, seed: u64, n: u8) -> PathBuf {
    let thread = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    sim_root().join(format!(
        "kiwi-sim-{tag}-{thread}-{seed}-{}/n{n}",
        std::process::id()
    ))
}

/// Creates server node `n` with an empty data directory; node 1 founds the
/// cluster (a restart of it finds the cluster initialized and ignores that).
pub fn start_node(handle: &Handle, dir: PathBuf, n: u8, settings: &NodeSettings) -> NodeHandle {
    let _ = std::fs::remove_dir_all(&dir);
    let s = settings.clone();
    handle
        .create_node()
        .name(format!("kiwi-{n}"))
        .ip(IpAddr::V4(ip(n)))
        .init(move || {
            let cfg = Config {
                bind: ip(n).to_string(),
                // Simulated clients have their own (non-loopback) addresses.
                protected_mode: false,
                port: RESP_PORT,
                dir: dir.clone(),
                write_buffer_bytes: s.write_buffer_bytes,
                cluster: Some(ClusterConfig {
                    node_id: n as u64,
                    raft_addr: raft_addr(n),
                    election_timeout_ms: s.election_timeout_ms,
                    heartbeat_interval_ms: s.heartbeat_interval_ms,
                    request_timeout_ms: s.request_timeout_ms,
                    snapshot_logs: s.snapshot_logs,
                    snapshot_keep_logs: s.snapshot_keep_logs,
                    init_cluster: n == 1,
                    // Every simulated connection runs the peer handshake.
                    secret: "sim-secret".into(),
                    ..ClusterConfig::default()
                }),
                ..Config::default()
            };
            async move {
                if let Err(e) = kiwi_server::run(cfg, std::future::pending()).await {
                    panic!("kiwi-server {n} failed in simulation: {e}");
                }
            }
        })
        .build()
}

/// Starts server nodes `1..=nodes` (fresh data directories under `tag`
/// and this run's seed) and one client node, `10.0.1.100`.
pub fn start_servers_and_client(
    handle: &Handle,
    tag: &str,
    nodes: u8,
    settings: &NodeSettings,
) -> (Vec<NodeHandle>, NodeHandle) {
    let seed = handle.seed();
    let servers = (1..=nodes)
        .map(|n| start_node(handle, data_dir(tag, seed, n), n, settings))
        .collect();
    let client = handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 100)))
        .build();
    (servers, client)
}

/// Kills the servers, lets RocksDB close (killed tasks drop on their next
/// poll), and removes the run's directory with their data.
pub async fn stop_and_remove(handle: &Handle, tag: &str, servers: &[NodeHandle]) {
    for node in servers {
        handle.kill(node.id());
    }
    madsim::time::sleep(Duration::from_secs(1)).await;
    if let Some(run_dir) = data_dir(tag, handle.seed(), 1).parent() {
        let _ = std::fs::remove_dir_all(run_dir);
    }
}

/// Cuts (`clog`) or restores the link between nodes `a` and `b`, both ways.
pub fn set_link(a: NodeId, b: NodeId, clog: bool) {
    let net = NetSim::current();
    for (from, to) in [(a, b), (b, a)] {
        if clog {
            net.clog_link(from, to);
        } else {
            net.unclog_link(from, to);
        }
    }
}

/// Connects, retrying for up to 10 simulated seconds.
pub async fn connect(addr: &str) -> RespConn {
    for _ in 0..200 {
        if let Ok(c) = RespConn::connect(addr).await {
            return c;
        }
        madsim::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} never accepted");
}

/// Calls until the reply is not a transient cluster error, within a bounded
/// number of attempts.
pub async fn call_until_settled(addr: &str, args: &[&str]) -> Frame {
    for _ in 0..100 {
        let mut conn = connect(addr).await;
        match conn.call(args).await {
            Ok(frame) if !is_transient(&frame) => return frame,
            _ => madsim::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("{args:?} on {addr} never settled");
}

/// Adds nodes `2..=nodes` to the cluster node 1 founded.
pub async fn form_cluster(nodes: u8) {
    for n in 2..=nodes {
        let add = call_until_settled(
            &resp_addr(1),
            &[
                "RAFT.NODE",
                "ADD",
                &n.to_string(),
                &raft_addr(n),
                &resp_addr(n),
            ],
        )
        .await;
        assert_eq!(add, Frame::ok(), "adding node {n}");
    }
}

/// The node number that `addr`'s node reports as leader.
pub async fn leader(addr: &str, nodes: u8) -> u8 {
    let Frame::Bulk(leader) = call_until_settled(addr, &["RAFT.LEADER"]).await else {
        panic!("RAFT.LEADER is a bulk string");
    };
    (1..=nodes)
        .find(|&n| resp_addr(n).as_bytes() == &leader[..])
        .unwrap_or_else(|| panic!("leader {leader:?} is not a cluster member"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_reads_the_file_system_and_is_zero_for_a_missing_path() {
        assert!(free_bytes(Path::new("/")) > 0);
        assert_eq!(free_bytes(Path::new("/no/such/directory")), 0);
    }
}
