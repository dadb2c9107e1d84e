//! A cluster of real `kiwi-server` processes on loopback, each with its own
//! data directory and log file, that can be killed, restarted, paused,
//! resumed and partitioned (every Raft link crosses the [`Net`] proxies).
//! Dropping the cluster kills every process it started.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kiwi_jepsen::client::{call_until_ok, RespConn};
use kiwi_resp::Frame;

use crate::proxy::{source_ip, Net};

/// Longest one admin command (a join waits for the node to catch up) may
/// take before it is sent again.
pub const ADMIN_TRY: Duration = Duration::from_secs(10);

pub struct Node {
    pub id: u8,
    pub port: u16,
    /// The node's proxy: what peers dial (its `raft-addr`).
    pub raft_port: u16,
    /// Where the node itself listens for Raft (`raft-listen-addr`).
    pub raft_listen_port: u16,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn resp_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn raft_addr(&self) -> String {
        format!("127.0.0.1:{}", self.raft_port)
    }

    /// `RAFT.NODE ADD` for this node: how it joins, and rejoins after a
    /// removal.
    pub fn add_command(&self) -> [String; 5] {
        [
            "RAFT.NODE".to_string(),
            "ADD".to_string(),
            self.id.to_string(),
            self.raft_addr(),
            self.resp_addr(),
        ]
    }

    fn raft_listen_addr(&self) -> String {
        format!("127.0.0.1:{}", self.raft_listen_port)
    }
}

pub struct Cluster {
    server: PathBuf,
    work: PathBuf,
    pub nodes: Vec<Node>,
    pub net: Net,
}

/// A port nothing listens on right now.
async fn free_port() -> io::Result<u16> {
    let l = kiwi_runtime::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(l.local_addr()?.port())
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Cluster {
    /// Starts `n` nodes under `work`, each behind its Raft proxy; node 1
    /// founds the cluster and the others join through `RAFT.NODE ADD`.
    pub async fn start(server: &Path, work: &Path, n: u8) -> io::Result<Cluster> {
        let mut cluster = Cluster {
            server: server.to_path_buf(),
            work: work.to_path_buf(),
            nodes: Vec::new(),
            net: Net::new(),
        };
        for id in 1..=n {
            let proxy = kiwi_runtime::net::TcpListener::bind("127.0.0.1:0").await?;
            let node = Node {
                id,
                port: free_port().await?,
                raft_port: proxy.local_addr()?.port(),
                raft_listen_port: free_port().await?,
                child: None,
                paused: false,
            };
            cluster.net.spawn_proxy(id, proxy, node.raft_listen_addr());
            cluster.nodes.push(node);
        }
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        for node in &cluster.nodes {
            wait_ready(&node.resp_addr()).await?;
        }
        for i in 1..cluster.nodes.len() {
            let node = &cluster.nodes[i];
            let args = node.add_command();
            let via = [cluster.nodes[0].resp_addr()];
            if !call_until_ok(&via, &args, ADMIN_TRY, Duration::from_secs(60)).await {
                return Err(io::Error::other(format!("node {} could not join", node.id)));
            }
        }
        Ok(cluster)
    }

    fn spawn(&mut self, i: usize) -> io::Result<()> {
        let node = &self.nodes[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.work.join(format!("n{}.log", node.id)))?;
        let mut cmd = Command::new(&self.server);
        cmd.arg("--port")
            .arg(node.port.to_string())
            .arg("--dir")
            .arg(self.work.join(format!("n{}", node.id)))
            .arg("--node-id")
            .arg(node.id.to_string())
            .arg("--raft-addr")
            .arg(node.raft_addr())
            .arg("--raft-listen-addr")
            .arg(node.raft_listen_addr())
            .arg("--bind-source-addr")
            .arg(source_ip(node.id).to_string())
            .arg("--loglevel")
            .arg("warning")
            .stdout(Stdio::null())
            .stderr(log);
        if node.id == 1 {
            cmd.arg("--init-cluster");
        }
        let child = cmd.spawn()?;
        self.nodes[i].child = Some(child);
        self.nodes[i].paused = false;
        Ok(())
    }

    /// Whether node `i` runs and is not paused.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some() && !self.nodes[i].paused
    }

    /// kill -9: the process loses everything not on disk.
    pub fn kill(&mut self, i: usize) -> io::Result<()> {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill()?;
            child.wait()?;
        }
        self.nodes[i].paused = false;
        Ok(())
    }

    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        if self.nodes[i].child.is_none() {
            self.spawn(i)?;
        }
        Ok(())
    }

    /// SIGSTOP: the process keeps its state and sockets but does nothing.
    pub fn pause(&mut self, i: usize) -> io::Result<()> {
        if let Some(child) = &self.nodes[i].child {
            signal(child, libc::SIGSTOP)?;
            self.nodes[i].paused = true;
        }
        Ok(())
    }

    pub fn resume(&mut self, i: usize) -> io::Result<()> {
        if let Some(child) = &self.nodes[i].child {
            signal(child, libc::SIGCONT)?;
            self.nodes[i].paused = false;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            let _ = self.resume(i);
            let _ = self.kill(i);
        }
    }
}

/// Waits until `addr` answers PING (30 s at most).
async fn wait_ready(addr: &str) -> io::Result<()> {
    for _ in 0..300 {
        if let Ok(mut c) = RespConn::connect(addr).await {
            if let Ok(Frame::Simple(_)) = c.call(&["PING"]).await {
                return Ok(());
            }
        }
        kiwi_runtime::time::sleep(Duration::from_millis(100)).await;
    }
    Err(io::Error::other(format!("{addr} never answered PING")))
}
