//! CL.THROTTLE end to end: the `kiwi-server-example` binary (kiwi-server
//! plus this module) as real processes, driven by the `redis` crate;
//! standalone, and a 3-node cluster where the limiter's state is
//! replicated through Raft and survives killing the leader.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(dir: &Path, extra: &[&str]) -> Node {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_kiwi-server-example"))
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn kiwi-server-example");
    let node = Node { child, port };
    wait_for("the server to accept connections", || {
        connect(node.port)
            .ok()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
            .is_some()
    });
    node
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))?.get_connection()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CL.THROTTLE's five integers.
fn throttle(port: u16, key: &str) -> Vec<i64> {
    let mut c = connect(port).expect("connect");
    redis::cmd("CL.THROTTLE")
        .arg(key)
        .arg(1) // max burst
        .arg(2) // per period
        .arg(60) // period, seconds
        .query(&mut c)
        .expect("CL.THROTTLE")
}

#[test]
fn throttle_limits_a_key_and_is_a_registered_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let node = start(tmp.path(), &[]);
    // Burst 1, 2 per minute: two now, the third waits 30 s.
    assert_eq!(throttle(node.port, "user:1"), vec![0, 2, 1, -1, 30]);
    assert_eq!(throttle(node.port, "user:1"), vec![0, 2, 0, -1, 60]);
    assert_eq!(throttle(node.port, "user:1"), vec![1, 2, 0, 30, 60]);
    assert_eq!(throttle(node.port, "user:2"), vec![0, 2, 1, -1, 30]);

    let mut c = connect(node.port).expect("connect");
    // Errors come back as errors, the key's type is respected.
    let _: () = redis::cmd("LPUSH")
        .arg("list")
        .arg("x")
        .query(&mut c)
        .expect("LPUSH");
    let wrongtype = redis::cmd("CL.THROTTLE")
        .arg("list")
        .arg(1)
        .arg(2)
        .arg(60)
        .query::<Vec<i64>>(&mut c)
        .expect_err("WRONGTYPE");
    assert_eq!(wrongtype.code(), Some("WRONGTYPE"));
    let bad = redis::cmd("CL.THROTTLE")
        .arg("k")
        .arg(1)
        .arg("x")
        .arg(60)
        .query::<Vec<i64>>(&mut c)
        .expect_err("a bad count");
    assert!(bad.to_string().contains("count per period"), "{bad}");
    let arity = redis::cmd("CL.THROTTLE").arg("k").query::<Vec<i64>>(&mut c);
    assert!(arity.is_err());
    // The registry makes it a command like the others: COMMAND, the key's
    // TTL, commandstats, ACL rules by name.
    let info: Vec<redis::Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("cl.throttle")
        .query(&mut c)
        .expect("COMMAND INFO");
    assert!(matches!(&info[0], redis::Value::Array(fields) if !fields.is_empty()));
    let ttl: i64 = redis::cmd("PTTL")
        .arg("user:1")
        .query(&mut c)
        .expect("PTTL");
    assert!(
        (50_000..=60_000).contains(&ttl),
        "the key expires when the bucket is full: {ttl}"
    );
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .expect("INFO");
    assert!(stats.contains("cmdstat_cl.throttle:calls=6"), "{stats}");
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("limited")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("+cl.throttle")
        .query(&mut c)
        .expect("ACL SETUSER");
    let mut user = connect(node.port).expect("connect");
    let _: () = redis::cmd("AUTH")
        .arg("limited")
        .arg("pw")
        .query(&mut user)
        .expect("AUTH");
    let allowed: Vec<i64> = redis::cmd("CL.THROTTLE")
        .arg("user:3")
        .arg(1)
        .arg(2)
        .arg(60)
        .query(&mut user)
        .expect("allowed by ACL");
    assert_eq!(allowed[0], 0);
    let denied = redis::cmd("GET")
        .arg("user:3")
        .query::<Option<String>>(&mut user);
    assert_eq!(
        denied.expect_err("GET is not allowed").code(),
        Some("NOPERM")
    );
}

fn raft_field(port: u16, field: &str) -> Option<String> {
    let mut c = connect(port).ok()?;
    let text: String = redis::cmd("RAFT.INFO").query(&mut c).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

#[test]
fn throttle_state_is_replicated_and_survives_losing_the_leader() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("cluster.toml");
    std::fs::write(
        &config,
        "[cluster]\nelection-timeout-ms = 400\nheartbeat-interval-ms = 100\nrequest-timeout-ms = 3000\n",
    )
    .expect("write config");
    let mut nodes: Vec<Option<Node>> = Vec::new();
    let mut raft_addrs = Vec::new();
    for id in 1..=3u64 {
        let dir = tmp.path().join(format!("n{id}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let raft = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "-c".to_string(),
            config.display().to_string(),
            "--node-id".into(),
            id.to_string(),
            "--raft-addr".into(),
            raft.clone(),
        ];
        if id == 1 {
            args.push("--init-cluster".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = start(&dir, &args);
        if id == 1 {
            wait_for("node 1 to lead", || {
                raft_field(node.port, "raft_role").as_deref() == Some("leader")
            });
        }
        nodes.push(Some(node));
        raft_addrs.push(raft);
    }
    let port = |nodes: &[Option<Node>], i: usize| nodes[i].as_ref().expect("running").port;
    let mut admin = connect(port(&nodes, 0)).expect("connect");
    for id in 2..=3usize {
        let _: () = redis::cmd("RAFT.NODE")
            .arg("ADD")
            .arg(id)
            .arg(&raft_addrs[id - 1])
            .arg(format!("127.0.0.1:{}", port(&nodes, id - 1)))
            .query(&mut admin)
            .expect("RAFT.NODE ADD");
    }
    // Two actions through two different nodes (followers forward the
    // write to the leader): the bucket is shared, the third is refused
    // wherever it arrives.
    assert_eq!(throttle(port(&nodes, 1), "api")[0], 0);
    assert_eq!(throttle(port(&nodes, 2), "api")[0], 0);
    assert_eq!(throttle(port(&nodes, 0), "api")[0], 1);
    // Every replica applied the same entries: the stored arrival time is
    // identical on each (READONLY reads the local copy).
    let local = |p: u16| -> Option<String> {
        let mut c = connect(p).ok()?;
        let _: () = redis::cmd("READONLY").query(&mut c).ok()?;
        redis::cmd("GET").arg("api").query(&mut c).ok()?
    };
    let on_leader = local(port(&nodes, 0)).expect("the leader has the key");
    for i in 1..3 {
        wait_for("the follower to apply", || {
            local(port(&nodes, i)).as_ref() == Some(&on_leader)
        });
    }
    // Kill the leader: the new one still refuses the third action.
    drop(nodes[0].take());
    wait_for("a new leader", || {
        (1..3).any(|i| raft_field(port(&nodes, i), "raft_role").as_deref() == Some("leader"))
    });
    assert_eq!(throttle(port(&nodes, 1), "api")[0], 1);
}
