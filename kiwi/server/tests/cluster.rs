//! Cluster mode end to end: real `kiwi-server` processes on loopback forming
//! a Raft cluster, real clients, kill -9 and restarts.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    check_transaction_atomicity, check_watch_compare_and_set, free_port, scrape, Kiwi, RespClient,
};
use kiwi_resp::Frame;

/// Short timeouts so elections happen within a second on loopback.
const ELECTION_TIMEOUT_MS: u64 = 400;
const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Every test cluster authenticates its peers (see kiwi_raft::peer_auth).
const CLUSTER_SECRET: &str = "test-secret";

struct Node {
    id: u64,
    raft_port: u16,
    metrics_port: u16,
    dir: PathBuf,
    config: PathBuf,
    proc: Option<Kiwi>,
}

impl Node {
    fn port(&self) -> u16 {
        self.proc.as_ref().expect("node is running").port
    }

    fn client(&self) -> RespClient {
        RespClient::connect(self.port())
    }

    fn raft_addr(&self) -> String {
        format!("127.0.0.1:{}", self.raft_port)
    }

    fn resp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    fn start(&mut self, init: bool) {
        let mut extra = vec!["-c", self.config.to_str().expect("utf-8 path")];
        if init {
            extra.push("--init-cluster");
        }
        self.proc = Some(Kiwi::start_in(&self.dir, &extra));
    }

    fn kill9(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill9();
        }
    }

    /// A RAFT.INFO field of this node.
    fn info(&self, field: &str) -> String {
        // A verbatim string; RESP2 clients see a bulk string.
        let text = match self.client().call(&["RAFT.INFO"]) {
            Frame::Bulk(text) | Frame::Verbatim { text, .. } => text,
            other => panic!("RAFT.INFO replied {other:?}"),
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {field} in {text}"))
    }
}

struct Cluster {
    nodes: Vec<Node>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    /// `n` nodes: node 1 initializes the cluster, the others join through it.
    fn start(n: u64, follower_mode: &str) -> Cluster {
        Cluster::start_with(n, follower_mode, "")
    }

    /// [`Cluster::start`] with `settings` (top-level TOML) in every node's file.
    fn start_with(n: u64, follower_mode: &str, settings: &str) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut nodes: Vec<Node> = (1..=n)
            .map(|id| Cluster::new_node(&tmp, id, follower_mode, settings))
            .collect();
        nodes[0].start(true);
        wait_for("node 1 to lead", Duration::from_secs(20), || {
            nodes[0].info("raft_role") == "leader"
        });
        for node in nodes.iter_mut().skip(1) {
            node.start(false);
        }
        let c = Cluster { nodes, _tmp: tmp };
        for i in 1..c.nodes.len() {
            let (id, raft, resp) = (
                c.nodes[i].id,
                c.nodes[i].raft_addr(),
                c.nodes[i].resp_addr(),
            );
            let reply =
                c.nodes[0]
                    .client()
                    .call(&["RAFT.NODE", "ADD", &id.to_string(), &raft, &resp]);
            assert_eq!(reply, Frame::ok(), "adding node {id}");
        }
        c
    }

    fn new_node(tmp: &tempfile::TempDir, id: u64, follower_mode: &str, settings: &str) -> Node {
        let dir = tmp.path().join(format!("n{id}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let raft_port = free_port();
        let metrics_port = free_port();
        let config = tmp.path().join(format!("n{id}.toml"));
        let toml = format!(
            "{settings}\nmetrics-addr = \"127.0.0.1:{metrics_port}\"\n\
             [cluster]\nnode-id = {id}\nraft-addr = \"127.0.0.1:{raft_port}\"\n\
             election-timeout-ms = {ELECTION_TIMEOUT_MS}\nheartbeat-interval-ms = 100\n\
             request-timeout-ms = {REQUEST_TIMEOUT_MS}\nfollower-mode = \"{follower_mode}\"\n\
             secret = \"{CLUSTER_SECRET}\"\n"
        );
        std::fs::write(&config, toml).expect("write config");
        Node {
            id,
            raft_port,
            metrics_port,
            dir,
            config,
            proc: None,
        }
    }

    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.proc.is_some())
    }

    /// Index of the node that running nodes agree leads: it says it leads
    /// and every other running node names it as leader (right after an
    /// election a follower may not know the winner yet, and would answer
    /// `-CLUSTERDOWN No raft leader`).
    fn leader(&self) -> usize {
        let mut found = None;
        wait_for("a leader all nodes know", Duration::from_secs(20), || {
            found = self
                .nodes
                .iter()
                .position(|n| n.proc.is_some() && n.info("raft_role") == "leader");
            found.is_some_and(|i| {
                let id = self.nodes[i].id.to_string();
                self.running().all(|n| n.info("raft_leader_id") == id)
            })
        });
        found.expect("leader")
    }
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn bulk(s: &str) -> Frame {
    Frame::bulk(s.to_string())
}

/// What `node` has applied locally (READONLY reads skip the leader).
fn local_get(node: &Node, key: &str) -> Frame {
    let mut c = node.client();
    assert_eq!(c.call(&["READONLY"]), Frame::ok());
    c.call(&["GET", key])
}

#[test]
fn writes_on_any_node_are_read_everywhere_and_survive_killing_the_leader() {
    let mut cluster = Cluster::start(3, "forward");
    // Writes through every node (followers forward to the leader).
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut c = node.client();
        assert_eq!(
            c.call(&["SET", &format!("k{i}"), &format!("v{i}")]),
            Frame::ok()
        );
        assert_eq!(c.call(&["INCR", "counter"]), Frame::Integer(i as i64 + 1));
    }
    // Linearizable reads from every node see every acknowledged write.
    for node in &cluster.nodes {
        let mut c = node.client();
        for i in 0..3 {
            assert_eq!(c.call(&["GET", &format!("k{i}")]), bulk(&format!("v{i}")));
        }
        assert_eq!(c.call(&["GET", "counter"]), bulk("3"));
    }
    // Every replica applied them (local reads).
    for node in &cluster.nodes {
        wait_for("replication", Duration::from_secs(10), || {
            local_get(node, "counter") == bulk("3")
        });
    }

    // kill -9 the leader: a new one is elected within a few election timeouts.
    let old = cluster.leader();
    cluster.nodes[old].kill9();
    let killed_at = Instant::now();
    let new = cluster.leader();
    let elected_after = killed_at.elapsed();
    assert_ne!(new, old);
    assert!(
        elected_after < Duration::from_millis(ELECTION_TIMEOUT_MS * 10),
        "new leader after {elected_after:?}"
    );
    // No acknowledged write was lost; the survivors take new writes.
    for node in cluster.running() {
        let mut c = node.client();
        for i in 0..3 {
            assert_eq!(c.call(&["GET", &format!("k{i}")]), bulk(&format!("v{i}")));
        }
        let incr = c.call(&["INCR", "counter"]);
        assert!(matches!(incr, Frame::Integer(4 | 5)), "{incr:?}");
    }
    let mut c = cluster.nodes[new].client();
    assert_eq!(c.call(&["GET", "counter"]), bulk("5"));

    // The old leader comes back and catches up from the log.
    cluster.nodes[old].start(false);
    wait_for(
        "the restarted node to catch up",
        Duration::from_secs(15),
        || local_get(&cluster.nodes[old], "counter") == bulk("5"),
    );
    assert_eq!(cluster.nodes[old].info("raft_role"), "follower");
}

#[test]
fn a_new_node_joins_through_a_snapshot_and_nodes_can_be_removed() {
    let mut cluster = Cluster::start(3, "forward");
    let leader = cluster.leader();
    let mut c = cluster.nodes[leader].client();
    for i in 0..200 {
        assert_eq!(
            c.call(&["SET", &format!("key:{i}"), &i.to_string()]),
            Frame::ok()
        );
    }
    assert_eq!(c.call(&["RPUSH", "list", "a", "b", "c"]), Frame::Integer(3));
    assert_eq!(c.call(&["SET", "ttl", "v", "EX", "1000"]), Frame::ok());
    assert!(matches!(c.call(&["GET"]), Frame::Error(_)));
    // Snapshot and purge the log, so a new node cannot catch up from entries.
    assert_eq!(c.call(&["RAFT.SNAPSHOT"]), Frame::ok());
    let purged: u64 = cluster.nodes[leader]
        .info("raft_purged_index")
        .parse()
        .expect("purged index");
    assert!(purged >= 200, "purged up to {purged}");

    let mut fourth = Cluster::new_node(&cluster._tmp, 4, "forward", "");
    fourth.start(false);
    // Joining through a follower: the admin command is forwarded.
    let follower = (leader + 1) % 3;
    let reply = cluster.nodes[follower].client().call(&[
        "RAFT.NODE",
        "ADD",
        "4",
        &fourth.raft_addr(),
        &fourth.resp_addr(),
    ]);
    assert_eq!(reply, Frame::ok());
    // It could only have caught up by installing the snapshot.
    wait_for(
        "node 4 to report the installed snapshot",
        Duration::from_secs(10),
        || {
            fourth
                .info("raft_snapshot_index")
                .parse::<u64>()
                .is_ok_and(|s| s >= purged)
        },
    );
    assert_eq!(local_get(&fourth, "key:199"), bulk("199"));
    // The snapshot shows in INFO raft and in the metrics of both ends.
    assert_eq!(fourth.info("raft_snapshots_installed"), "1");
    assert!(cluster.nodes[leader].info("raft_snapshots_built") != "0");
    let joined = scrape(fourth.metrics_port);
    assert_eq!(joined["kiwi_raft_snapshots_installed_total"], 1.0);
    assert_eq!(joined["kiwi_raft_snapshot_install_seconds_count"], 1.0);
    assert_eq!(joined["kiwi_raft_is_leader"], 0.0);
    assert_eq!(joined["kiwi_raft_node_id"], 4.0);
    // Engine figures (keys per db) are copied once a second.
    let led_port = cluster.nodes[leader].metrics_port;
    wait_for("the leader's key counts", Duration::from_secs(10), || {
        scrape(led_port).contains_key("kiwi_expiring_keys{db=\"0\"}")
    });
    let led = scrape(led_port);
    assert_eq!(led["kiwi_raft_is_leader"], 1.0);
    assert_eq!(led["kiwi_raft_leader_id"], cluster.nodes[leader].id as f64);
    assert_eq!(led["kiwi_raft_voters"], 4.0);
    assert!(led["kiwi_raft_snapshot_build_seconds_count"] >= 1.0);
    assert!(led["kiwi_raft_commit_index"] >= purged as f64);
    // The leader tracks every follower's lag, the new learner included.
    for id in cluster.nodes.iter().map(|n| n.id).chain([4]) {
        if id != cluster.nodes[leader].id {
            let lag = format!("kiwi_raft_follower_lag_entries{{follower=\"{id}\"}}");
            assert!(led.contains_key(&lag), "no {lag}");
        }
    }
    // Every metric the example Grafana dashboard graphs exists (so the
    // dashboard cannot drift from the exposition).
    let dashboard = include_str!("../../../docs/ops/grafana-dashboard.json");
    let graphed: std::collections::BTreeSet<&str> = dashboard
        .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .filter(|w| w.starts_with("kiwi_"))
        .collect();
    assert!(graphed.len() > 20, "the dashboard graphs {graphed:?}");
    for name in graphed {
        assert!(
            led.keys()
                .any(|k| k == name || k.starts_with(&format!("{name}{{"))),
            "the dashboard graphs {name}, which the leader does not export"
        );
    }
    // Linearizable reads on the leader pass a ReadIndex barrier each.
    let reads_before: u64 = cluster.nodes[leader]
        .info("raft_read_index_calls")
        .parse()
        .expect("count");
    assert_eq!(c.call(&["GET", "key:1"]), bulk("1"));
    let reads_after: u64 = cluster.nodes[leader]
        .info("raft_read_index_calls")
        .parse()
        .expect("count");
    assert_eq!(reads_after, reads_before + 1);
    let mut local = fourth.client();
    assert_eq!(local.call(&["READONLY"]), Frame::ok());
    assert_eq!(local.call(&["DBSIZE"]), Frame::Integer(202));
    assert_eq!(
        local.call(&["LRANGE", "list", "0", "-1"]),
        Frame::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(cluster.nodes[leader].info("raft_voters"), "1,2,3,4");
    // Writes after the join reach node 4 through the log.
    assert_eq!(c.call(&["SET", "after", "join"]), Frame::ok());
    wait_for(
        "node 4 to apply new writes",
        Duration::from_secs(10),
        || local_get(&fourth, "after") == bulk("join"),
    );

    // Remove node 4 again.
    assert_eq!(
        fourth.client().call(&["RAFT.NODE", "REMOVE", "4"]),
        Frame::ok()
    );
    wait_for("the removal to commit", Duration::from_secs(10), || {
        cluster.nodes[leader].info("raft_voters") == "1,2,3"
    });
    fourth.kill9();
    assert_eq!(c.call(&["SET", "after", "remove"]), Frame::ok());
    cluster.nodes.push(fourth);
}

#[test]
fn without_a_quorum_requests_fail_within_the_timeout() {
    let mut cluster = Cluster::start(3, "forward");
    let leader = cluster.leader();
    for i in 0..3 {
        if i != leader {
            cluster.nodes[i].kill9();
        }
    }
    let mut c = cluster.nodes[leader].client();
    let started = Instant::now();
    let reply = c.call(&["SET", "k", "v"]);
    let took = started.elapsed();
    assert!(reply.is_error(), "{reply:?}");
    assert!(
        took < Duration::from_millis(REQUEST_TIMEOUT_MS * 3),
        "a request without quorum took {took:?}"
    );
    // Reads need a quorum too (ReadIndex): no stale answers from a lone leader.
    assert!(c.call(&["GET", "k"]).is_error());
    // READONLY trades that for availability, explicitly.
    assert_eq!(c.call(&["READONLY"]), Frame::ok());
    assert_eq!(c.call(&["GET", "k"]), Frame::Null);
}

#[test]
fn moved_mode_redirects_clients_to_the_leader() {
    let cluster = Cluster::start(3, "moved");
    let leader = cluster.leader();
    let follower = (leader + 1) % 3;
    let reply = cluster.nodes[follower].client().call(&["SET", "k", "v"]);
    let expected = format!("MOVED 0 {}", cluster.nodes[leader].resp_addr());
    assert_eq!(reply, Frame::error(expected));
    let mut c = cluster.nodes[leader].client();
    assert_eq!(c.call(&["SET", "k", "v"]), Frame::ok());
    assert_eq!(
        cluster.nodes[follower].client().call(&["RAFT.LEADER"]),
        bulk(&cluster.nodes[leader].resp_addr())
    );
    // INFO raft mirrors RAFT.INFO; INFO alone keeps Redis's default sections.
    let Frame::Bulk(info) = cluster.nodes[follower].client().call(&["INFO", "raft"]) else {
        panic!("INFO raft is a bulk string");
    };
    let info = String::from_utf8_lossy(&info);
    assert!(info.starts_with("# Raft\r\n"), "{info}");
    assert!(info.contains("raft_role:follower\r\n"), "{info}");
    let Frame::Bulk(default) = cluster.nodes[follower].client().call(&["INFO"]) else {
        panic!("INFO is a bulk string");
    };
    assert!(!String::from_utf8_lossy(&default).contains("# Raft"));
}

#[test]
fn standalone_refuses_cluster_commands_like_redis() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let disabled = Frame::error("ERR This instance has cluster support disabled");
    assert_eq!(c.call(&["RAFT.INFO"]), disabled);
    assert_eq!(c.call(&["READONLY"]), disabled);
}

#[test]
fn multi_exec_is_one_log_entry_seen_whole_on_every_node() {
    let cluster = Cluster::start(3, "forward");
    let follower = (cluster.leader() + 1) % cluster.nodes.len();
    let mut c = cluster.nodes[follower].client();
    assert_eq!(c.call(&["MULTI"]), Frame::ok());
    assert_eq!(c.call(&["SET", "t", "1"]), Frame::simple("QUEUED"));
    assert_eq!(c.call(&["INCR", "t"]), Frame::simple("QUEUED"));
    assert_eq!(c.call(&["LPUSH", "t", "x"]), Frame::simple("QUEUED"));
    assert_eq!(c.call(&["PING"]), Frame::simple("QUEUED"));
    assert_eq!(c.call(&["GET", "t"]), Frame::simple("QUEUED"));
    assert_eq!(
        c.call(&["EXEC"]),
        Frame::Array(vec![
            Frame::ok(),
            Frame::Integer(2),
            Frame::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Frame::simple("PONG"),
            bulk("2"),
        ])
    );
    // A read-only transaction runs behind one read barrier.
    assert_eq!(c.call(&["MULTI"]), Frame::ok());
    c.call(&["GET", "t"]);
    c.call(&["EXISTS", "t"]);
    assert_eq!(
        c.call(&["EXEC"]),
        Frame::Array(vec![bulk("2"), Frame::Integer(1)])
    );
    // What one log entry cannot carry is refused while queuing.
    assert_eq!(c.call(&["MULTI"]), Frame::ok());
    assert!(matches!(c.call(&["SELECT", "1"]), Frame::Error(_)));
    assert_eq!(
        c.call(&["EXEC"]),
        Frame::error("EXECABORT Transaction discarded because of previous errors.")
    );
    // WATCH compares contents when the guarded entry applies.
    let mut other = cluster.nodes[cluster.leader()].client();
    assert_eq!(c.call(&["WATCH", "t"]), Frame::ok());
    assert_eq!(other.call(&["SET", "t", "5"]), Frame::ok());
    assert_eq!(c.call(&["MULTI"]), Frame::ok());
    c.call(&["SET", "t", "9"]);
    assert_eq!(c.call(&["EXEC"]), Frame::NullArray);
    assert_eq!(c.call(&["GET", "t"]), bulk("5"));
    assert_eq!(c.call(&["WATCH", "t", "nokey"]), Frame::ok());
    assert_eq!(c.call(&["MULTI"]), Frame::ok());
    c.call(&["INCR", "t"]);
    assert_eq!(c.call(&["EXEC"]), Frame::Array(vec![Frame::Integer(6)]));
    check_watch_compare_and_set(&ports_of(&cluster), 6, 15);
    // Writers and readers on all three nodes: nobody sees half a transaction.
    check_transaction_atomicity(&ports_of(&cluster), Duration::from_secs(3));
}

fn ports_of(cluster: &Cluster) -> Vec<u16> {
    cluster.nodes.iter().map(|n| n.port()).collect()
}

#[test]
fn publish_on_any_node_reaches_subscribers_on_every_node() {
    let cluster = Cluster::start(3, "forward");
    let mut subscribers: Vec<RespClient> = cluster.nodes.iter().map(|n| n.client()).collect();
    for s in &mut subscribers {
        s.set_read_timeout(Some(Duration::from_secs(10)));
        assert_eq!(
            s.call(&["SUBSCRIBE", "news"]),
            Frame::Array(vec![bulk("subscribe"), bulk("news"), Frame::Integer(1)])
        );
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut publisher = node.client();
        for n in 0..3 {
            // The reply counts this node's subscribers, as Redis Cluster's.
            let msg = format!("from {i} #{n}");
            assert_eq!(
                publisher.call(&["PUBLISH", "news", &msg]),
                Frame::Integer(1)
            );
        }
        for s in &mut subscribers {
            for n in 0..3 {
                let want = Frame::Array(vec![
                    bulk("message"),
                    bulk("news"),
                    bulk(&format!("from {i} #{n}")),
                ]);
                assert_eq!(
                    s.read_frame(),
                    Some(want),
                    "messages arrive everywhere, in order"
                );
            }
        }
    }
}

/// Every replica publishes the keyspace events of the entries it applies,
/// so a subscriber on any node sees writes made through any node, expiry
/// (decided by the leader, applied everywhere) included.
#[test]
fn keyspace_notifications_fire_on_every_node() {
    let cluster = Cluster::start(3, "forward");
    let mut subscribers: Vec<RespClient> = cluster.nodes.iter().map(|n| n.client()).collect();
    for (node, s) in cluster.nodes.iter().zip(&mut subscribers) {
        // The setting is per node, as on Redis replicas.
        let mut c = node.client();
        assert_eq!(
            c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
            Frame::ok()
        );
        s.set_read_timeout(Some(Duration::from_secs(10)));
        s.call(&["SUBSCRIBE", "__keyevent@0__:set", "__keyevent@0__:expired"]);
        s.read_frame();
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        let key = format!("from-{i}");
        assert_eq!(node.client().call(&["SET", &key, "v"]), Frame::ok());
        for s in &mut subscribers {
            let want = Frame::Array(vec![
                bulk("message"),
                bulk("__keyevent@0__:set"),
                bulk(&key),
            ]);
            assert_eq!(
                s.read_frame(),
                Some(want),
                "every node tells its subscribers"
            );
        }
    }
    assert_eq!(
        cluster.nodes[1]
            .client()
            .call(&["SET", "short", "v", "PX", "50"]),
        Frame::ok()
    );
    for s in &mut subscribers {
        let _set = s.read_frame();
        let want = Frame::Array(vec![
            bulk("message"),
            bulk("__keyevent@0__:expired"),
            bulk("short"),
        ]);
        assert_eq!(
            s.read_frame(),
            Some(want),
            "active expiry reaches every node"
        );
    }
}

/// WAIT counts the members that hold the client's writes, on the leader
/// and through a follower.
#[test]
fn wait_counts_replicas_on_the_leader() {
    let cluster = Cluster::start(3, "forward");
    let leader = cluster.leader();
    let mut c = cluster.nodes[leader].client();
    assert_eq!(c.call(&["SET", "k", "v"]), Frame::ok());
    assert_eq!(c.call(&["WAIT", "2", "10000"]), Frame::Integer(2));
    assert_eq!(c.call(&["INCR", "n"]), Frame::Integer(1));
    assert_eq!(c.call(&["WAIT", "2", "0"]), Frame::Integer(2));
    // Through a follower the leader counts (the follower forwards WAIT).
    let follower = (leader + 1) % 3;
    let mut f = cluster.nodes[follower].client();
    assert_eq!(f.call(&["SET", "k2", "v"]), Frame::ok());
    assert_eq!(f.call(&["WAIT", "2", "0"]), Frame::Integer(2));
}

#[test]
fn strangers_cannot_speak_raft_to_a_node() {
    use std::io::{Read, Write};
    let cluster = Cluster::start(3, "forward");
    let leader = cluster.leader();
    let target = &cluster.nodes[(leader + 1) % 3];
    // The stranger sends its challenge, gets the node's answer and
    // challenge, and cannot answer back: the connection is closed.
    let mut stranger =
        std::net::TcpStream::connect(("127.0.0.1", target.raft_port)).expect("connect");
    stranger
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stranger.write_all(&[7u8; 32]).expect("a challenge");
    let mut answer = [0u8; 64];
    stranger.read_exact(&mut answer).expect("the node's answer");
    stranger.write_all(&[0u8; 32]).expect("a forged proof");
    let mut rest = Vec::new();
    let closed = match stranger.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed && rest.is_empty(),
        "the node answered a stranger: {rest:?}"
    );
    // A stranger who says nothing is dropped too, and the cluster is unharmed.
    let _silent = std::net::TcpStream::connect(("127.0.0.1", target.raft_port)).expect("connect");
    let mut c = cluster.nodes[leader].client();
    assert_eq!(c.call(&["SET", "after", "strangers"]), Frame::ok());
    assert_eq!(local_get(target, "after"), bulk("strangers"));
}

/// Whether a TLS handshake with `port` succeeds for `openssl s_client`
/// trusting `ca` and presenting the client certificate in `holder`
/// (`client.crt`, `client.key`), and what it printed.
fn tls_handshake(port: u16, ca: &str, holder: &std::path::Path) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-CAfile", ca, "-verify_return_error"])
        .arg("-cert")
        .arg(holder.join("client.crt"))
        .arg("-key")
        .arg(holder.join("client.key"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl must be installed (ci/test.sh installs it)");
    // A few bytes after the handshake: in TLS 1.3 the server checks the
    // client's certificate after the client thinks it is done, and its
    // refusal arrives as an alert on the next read.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&[7u8; 32]);
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = child.wait_with_output().expect("openssl ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        text.contains("Verify return code: 0 (ok)") && !text.contains("alert"),
        text,
    )
}

#[test]
fn cluster_traffic_is_mutual_tls_and_foreign_certificates_are_refused() {
    use std::io::{Read, Write};
    let certs = tempfile::tempdir().expect("tempdir");
    common::make_certificates(certs.path());
    let foreign = tempfile::tempdir().expect("tempdir");
    common::make_certificates(foreign.path());
    let file = |name: &str| certs.path().join(name).display().to_string();
    // Every node presents the same certificate; it is a server and a
    // client certificate at once (no extendedKeyUsage restriction).
    let settings = format!(
        "tls-cluster = true\ntls-cert-file = {:?}\ntls-key-file = {:?}\ntls-ca-cert-file = {:?}\n",
        file("server.crt"),
        file("server.key"),
        file("ca.crt")
    );
    let cluster = Cluster::start_with(3, "forward", &settings);
    let leader = cluster.leader();
    // Replication, forwarding and the pub/sub relay run over TLS.
    let follower = &cluster.nodes[(leader + 1) % 3];
    let mut sub = cluster.nodes[(leader + 2) % 3].client();
    assert!(matches!(sub.call(&["SUBSCRIBE", "news"]), Frame::Array(_)));
    let mut c = follower.client();
    assert_eq!(c.call(&["SET", "over", "tls"]), Frame::ok());
    for node in &cluster.nodes {
        assert_eq!(node.client().call(&["GET", "over"]), bulk("tls"));
        wait_for("replication", Duration::from_secs(10), || {
            local_get(node, "over") == bulk("tls")
        });
    }
    assert_eq!(c.call(&["PUBLISH", "news", "hello"]), Frame::Integer(0));
    sub.set_read_timeout(Some(Duration::from_secs(10)));
    assert_eq!(
        sub.read_frame(),
        Some(Frame::Array(vec![
            bulk("message"),
            bulk("news"),
            bulk("hello")
        ]))
    );
    assert_eq!(follower.info("raft_role"), "follower");

    let target = follower.raft_port;
    // The Raft port speaks TLS: a peer holding a certificate from the
    // cluster's CA completes the handshake ...
    let (ok, text) = tls_handshake(target, &file("ca.crt"), certs.path());
    assert!(ok, "a certificate from the cluster CA was refused: {text}");
    // ... one whose certificate another CA signed does not (a forger's
    // CA with the same name as the real one: the signature check fails),
    let (ok, text) = tls_handshake(target, &file("ca.crt"), foreign.path());
    assert!(!ok, "a foreign certificate was accepted: {text}");
    // and plaintext (the secret's handshake sent in the clear) is cut off
    // without a byte of answer.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", target)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    plain.write_all(&[7u8; 32]).expect("a challenge");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        answer.len() < 64,
        "the node ran the secret's handshake in plaintext: {answer:?}"
    );
    // The cluster is unharmed.
    assert_eq!(c.call(&["SET", "after", "strangers"]), Frame::ok());
    assert_eq!(local_get(follower, "after"), bulk("strangers"));

    // Certificate rotation: new files in place, then CONFIG SET of the same
    // paths on every node. New connections use the new CA only.
    let rotated = tempfile::tempdir().expect("tempdir");
    common::make_certificates(rotated.path());
    for name in ["server.crt", "server.key", "ca.crt"] {
        std::fs::copy(rotated.path().join(name), certs.path().join(name)).expect("copy");
    }
    for node in &cluster.nodes {
        let reply = node.client().call(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &file("server.crt"),
            "tls-key-file",
            &file("server.key"),
            "tls-ca-cert-file",
            &file("ca.crt"),
        ]);
        assert_eq!(reply, Frame::ok());
    }
    let (ok, text) = tls_handshake(target, &file("ca.crt"), rotated.path());
    assert!(ok, "the rotated CA's certificate was refused: {text}");
    // The old CA's client certificate (still in `certs`) is refused now.
    let (ok, text) = tls_handshake(target, &file("ca.crt"), certs.path());
    assert!(
        !ok,
        "an old certificate was accepted after rotation: {text}"
    );
    assert_eq!(c.call(&["SET", "after", "rotation"]), Frame::ok());
    assert_eq!(local_get(follower, "after"), bulk("rotation"));
}

/// Cluster-mode reads judge expiry by the log's clock (the latest entry
/// time applied), which the leader keeps fresh on an idle cluster: keys
/// still expire on time, and TTL counts down without any writes.
#[test]
fn ttls_count_down_and_keys_expire_on_an_idle_cluster() {
    let cluster = Cluster::start(3, "forward");
    let leader = cluster.leader();
    let mut c = cluster.nodes[leader].client();
    assert_eq!(c.call(&["SET", "long", "v", "EX", "100"]), Frame::ok());
    assert_eq!(c.call(&["SET", "short", "v", "PX", "300"]), Frame::ok());
    assert_eq!(c.call(&["GET", "short"]), bulk("v"));
    // No writes from here on: only the leader's expiry steps move the clock.
    std::thread::sleep(std::time::Duration::from_millis(2_200));
    assert_eq!(c.call(&["GET", "short"]), Frame::Null);
    let Frame::Integer(ttl_ms) = c.call(&["PTTL", "long"]) else {
        panic!("PTTL of a key with a TTL is an integer");
    };
    // 100 s less the 2.2 s slept: the log's clock trails by up to two
    // expiry periods (a step goes out once it trails by one, checked once a
    // period), so at most ~98 000; without the steps it would have stopped
    // at the short key's expiry, ~99 600. The low side allows a slow machine.
    assert!(
        (90_000..=98_500).contains(&ttl_ms),
        "PTTL {ttl_ms} ms after 2.2 s idle: the log's clock is not kept fresh"
    );
    // A follower reads the same (forwarded to the leader).
    let mut f = cluster.nodes[(leader + 1) % 3].client();
    assert_eq!(f.call(&["GET", "short"]), Frame::Null);
    assert_eq!(f.call(&["GET", "long"]), bulk("v"));
}
