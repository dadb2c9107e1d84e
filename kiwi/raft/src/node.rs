//! A cluster node: the Raft instance, its RPC listener, and the client
//! path (propose writes, read behind a ReadIndex barrier, forward to the
//! leader, admin commands).
//!
//! Client command batches take one of three paths (see [`CmdClass`]):
//! a batch with any write goes through the log whole, grouped with other
//! clients' batches into one entry by the proposer (so a connection's
//! pipeline stays in order, reads in it see its writes, and per-entry costs
//! are shared); a batch of
//! reads waits for a ReadIndex round and then reads the local engine; node-
//! local commands (INFO, CONFIG, ...) run here. On a follower the batch is
//! forwarded to the leader over the Raft transport (or answered `-MOVED`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use kiwi_cmd::metrics::RaftFigures;
use kiwi_cmd::watch::{DIGEST_CMD, GUARD_CMD};
use kiwi_cmd::{CommandSpec, Executor, ExecutorJob, ReplicatedCmd, Reply};
use kiwi_resp::{Frame, Protocol};
use kiwi_runtime::net::{TcpListener, TcpStream};
use kiwi_runtime::sync::{mpsc, oneshot};
use kiwi_storage::EngineOptions;
use openraft::async_runtime::WatchReceiver;
use openraft::raft::AppendEntriesRequest;
use openraft::{ChangeMembers, ReadPolicy, ServerState, SnapshotPolicy};

use crate::codec::{read_frame, write_frame};
use crate::leadership::{PeerAcks, ReadQuorum};
use crate::log_store::LogStore;
use crate::peer_auth::{PeerSecret, PeerSecurity};
use crate::proposer::{group_proposals, Proposal, PROPOSAL_QUEUE_DEPTH};
use crate::state_machine::{on_executor, RaftStats, StateMachine};
use crate::transport::{Forward, NetworkFactory, Peer, RaftReply, RaftRpc, StreamReply};
use crate::types::{KiwiNode, NodeId, Raft, Request, Snapshot, SnapshotMeta, TypeConfig};
use kiwi_runtime::tls::PeerStream;

/// How a node runs in its cluster (from the `[cluster]` configuration).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub node_id: NodeId,
    /// What peers dial to reach this node's Raft RPCs (the membership's
    /// record of this node).
    pub raft_addr: String,
    /// Where this node listens for Raft RPCs (usually `raft_addr`).
    pub raft_listen_addr: String,
    /// The source IP of this node's connections to peers.
    pub bind_source: Option<std::net::IpAddr>,
    /// This node's RESP address as clients should reach it (`-MOVED`, RAFT.INFO).
    pub resp_addr: String,
    /// The node's data directory: `raft/`, `db/`, `snapshots/`.
    pub dir: PathBuf,
    pub engine_opts: EngineOptions,
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Longest a client request waits for the cluster before an error.
    pub request_timeout_ms: u64,
    /// Build a snapshot after this many applied entries.
    pub snapshot_logs: u64,
    /// Log entries kept behind a snapshot for slightly lagging followers.
    pub snapshot_keep_logs: u64,
    /// Followers answer `-MOVED 0 <leader>` instead of forwarding.
    pub moved_redirects: bool,
    /// Active-expiry proposals per second (the server's `hz`).
    pub hz: u64,
    /// Shared secret peers prove they know (empty: no authentication).
    pub secret: String,
    /// Mutual TLS on every cluster connection (`tls-cluster`).
    pub tls: Option<kiwi_runtime::tls::PeerTls>,
}

/// Which path a command takes (from its command-table flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdClass {
    /// Changes data: a log entry.
    Write,
    /// Reads keys: linearizable through ReadIndex, on the leader.
    Read,
    /// Describes or configures this node (INFO, CONFIG, COMMAND, TIME, ...):
    /// answered by the node the client is connected to.
    Local,
}

/// One command of a client batch.
#[derive(Debug, Clone)]
pub struct SubmitCmd {
    pub name: &'static str,
    pub class: CmdClass,
    pub args: Vec<Bytes>,
}

impl SubmitCmd {
    /// Classifies a command by the table; `None` for unknown commands (the
    /// connection answers those before they get here).
    pub fn from_args(args: Vec<Bytes>) -> Option<SubmitCmd> {
        let first = args.first()?;
        // Cluster-mode WATCH's internal commands (see `kiwi_cmd::watch`):
        // never in the command table, so clients cannot send them.
        if first.as_ref() == DIGEST_CMD.as_bytes() {
            return Some(SubmitCmd {
                name: DIGEST_CMD,
                class: CmdClass::Read,
                args,
            });
        }
        if first.as_ref() == GUARD_CMD.as_bytes() {
            return Some(SubmitCmd {
                name: GUARD_CMD,
                class: CmdClass::Write,
                args,
            });
        }
        let spec = kiwi_cmd::lookup(first)?;
        Some(SubmitCmd::from_spec(spec, args))
    }

    /// Classifies a command the caller already looked up.
    pub fn from_spec(spec: &'static CommandSpec, args: Vec<Bytes>) -> SubmitCmd {
        let class = if spec.flags.contains("write") {
            CmdClass::Write
        } else if spec.flags.contains("readonly") {
            CmdClass::Read
        } else {
            CmdClass::Local
        };
        SubmitCmd {
            name: spec.name,
            class,
            args,
        }
    }
}

/// Largest log entry the proposer builds (and largest single command in
/// cluster mode); see also `codec::MAX_FRAME_BYTES`.
pub const ENTRY_MAX_BYTES: usize = 64 << 20;
/// Entries visited per leader-proposed active-expiry step.
const EXPIRE_STEP_MAX_ENTRIES: u32 = 200;
/// Idle forwarding connections kept per leader.
const FORWARD_POOL_MAX: usize = 16;
/// PUBLISHed messages queued for relaying to one peer; past it, messages
/// to that peer are dropped (pub/sub is best effort, memory is not).
const RELAY_QUEUE_DEPTH: usize = 4096;
/// Messages relayed to a peer in one RPC, at most.
const RELAY_BATCH_MAX: usize = 256;
/// Longest RAFT.NODE ADD waits for a new node to catch up.
const JOIN_TIMEOUT_MS: u64 = 120_000;

pub struct ClusterNode {
    opts: ClusterOptions,
    /// TLS and the shared secret, applied to every cluster connection.
    security: PeerSecurity,
    raft: Raft,
    jobs: mpsc::Sender<ExecutorJob>,
    /// Write batches waiting to be grouped into a log entry.
    proposals: mpsc::Sender<Proposal>,
    /// Idle connections for forwarding to each leader.
    forward_pool: Mutex<HashMap<String, Vec<Peer>>>,
    /// Delivers a published message to this node's subscribers.
    deliver: OnceLock<DeliverFn>,
    /// Per peer (raft address): the queue of its relay task.
    relays: Mutex<HashMap<String, mpsc::Sender<(Bytes, Bytes)>>>,
    /// Snapshot and ReadIndex figures (shared with the state machine).
    stats: Arc<RaftStats>,
    /// Which peers accepted this node's requests, and when (recorded by
    /// the transport): the read barrier's own leadership check.
    acks: PeerAcks,
}

/// Delivers (channel, payload) to local subscribers; returns how many got it.
pub type DeliverFn = Box<dyn Fn(&Bytes, &Bytes) -> i64 + Send + Sync>;

fn clusterdown() -> Frame {
    Frame::error("CLUSTERDOWN No raft leader")
}

fn timed_out() -> Frame {
    Frame::error(
        "TIMEOUT the cluster did not answer in time; a write may or may not have been applied",
    )
}

impl ClusterNode {
    /// Opens the log, starts Raft and the RPC listener. `jobs` reaches the
    /// storage runtime's worker (the executor built with `Executor::replicated`).
    pub async fn start(
        opts: ClusterOptions,
        jobs: mpsc::Sender<ExecutorJob>,
    ) -> io::Result<Arc<ClusterNode>> {
        let log_store =
            LogStore::open(&opts.dir.join("raft"), opts.engine_opts.write_buffer_bytes)?;
        let stats = Arc::new(RaftStats::default());
        let sm = StateMachine::new(
            jobs.clone(),
            stats.clone(),
            opts.dir.clone(),
            opts.engine_opts.clone(),
        );
        let security = PeerSecurity {
            secret: PeerSecret::new(&opts.secret),
            tls: opts.tls.clone(),
            bind_source: opts.bind_source,
        };
        let config = openraft::Config {
            cluster_name: "kiwi".into(),
            election_timeout_min: opts.election_timeout_ms,
            election_timeout_max: opts.election_timeout_ms * 2,
            heartbeat_interval: opts.heartbeat_interval_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_logs),
            max_in_snapshot_log_to_keep: opts.snapshot_keep_logs,
            ..Default::default()
        }
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let acks = PeerAcks::default();
        let raft = Raft::new(
            opts.node_id,
            Arc::new(config),
            NetworkFactory {
                security: security.clone(),
                acks: acks.clone(),
            },
            log_store,
            sm,
        )
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        let listener = TcpListener::bind(&opts.raft_listen_addr).await?;
        let (proposals, proposal_rx) = mpsc::channel(PROPOSAL_QUEUE_DEPTH);
        kiwi_runtime::task::spawn(group_proposals(raft.clone(), proposal_rx));
        let node = Arc::new(ClusterNode {
            opts,
            security,
            raft,
            jobs,
            proposals,
            forward_pool: Mutex::new(HashMap::new()),
            deliver: OnceLock::new(),
            relays: Mutex::new(HashMap::new()),
            stats,
            acks,
        });
        tracing::info!(id = node.opts.node_id, raft = %node.opts.raft_addr, "raft node started");
        kiwi_runtime::task::spawn(serve_rpc(listener, node.clone()));
        kiwi_runtime::task::spawn(propose_expiry(node.clone()));
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.opts.node_id
    }

    /// Installs local delivery of published messages (once, by the server).
    pub fn set_publish_delivery(&self, deliver: DeliverFn) {
        let _ = self.deliver.set(deliver);
    }

    /// PUBLISH in cluster mode: delivers to this node's subscribers and
    /// relays the message to every other member, which delivers it to its
    /// own (Redis Cluster's semantics: best effort, in order per peer, the
    /// reply counts this node's receivers).
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> i64 {
        let local = self.deliver_locally(channel, payload);
        let peers: Vec<String> = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            m.membership_config
                .membership()
                .nodes()
                .filter(|(id, _)| **id != self.opts.node_id)
                .map(|(_, n)| n.raft_addr.clone())
                .collect()
        };
        let Ok(mut relays) = self.relays.lock() else {
            return local;
        };
        for addr in peers {
            let tx = relays.entry(addr.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(RELAY_QUEUE_DEPTH);
                let timeout = Duration::from_millis(self.opts.request_timeout_ms);
                kiwi_runtime::task::spawn(relay_messages(
                    addr.clone(),
                    self.security.clone(),
                    rx,
                    timeout,
                ));
                tx
            });
            if tx.try_send((channel.clone(), payload.clone())).is_err() {
                tracing::warn!(peer = %addr, "pubsub relay queue full; message dropped for that node");
            }
        }
        local
    }

    fn deliver_locally(&self, channel: &Bytes, payload: &Bytes) -> i64 {
        self.deliver
            .get()
            .map_or(0, |deliver| deliver(channel, payload))
    }

    fn self_node(&self) -> KiwiNode {
        KiwiNode {
            raft_addr: self.opts.raft_addr.clone(),
            resp_addr: self.opts.resp_addr.clone(),
        }
    }

    /// `--init-cluster`: makes this node a one-voter cluster (a no-op on a
    /// node that is already initialized). Others join with RAFT.NODE ADD.
    pub async fn init_cluster(&self) -> io::Result<()> {
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            tracing::info!("cluster already initialized; --init-cluster ignored");
            return Ok(());
        }
        let members = BTreeMap::from([(self.opts.node_id, self.self_node())]);
        self.raft
            .initialize(members)
            .await
            .map_err(|e| io::Error::other(e.to_string()))
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }

    /// The leader as (id, node), if one is known. Called per client batch:
    /// reads the two fields under the metrics borrow instead of cloning them all.
    fn leader(&self) -> Option<(NodeId, KiwiNode)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    /// Runs a client batch with cluster semantics; one reply per command,
    /// in order, within the request timeout. `stale_reads` (READONLY) serves
    /// a batch without writes from this node's state, skipping the barrier.
    pub async fn submit(
        &self,
        db: usize,
        proto: Protocol,
        stale_reads: bool,
        cmds: Vec<SubmitCmd>,
    ) -> Vec<Frame> {
        let n = cmds.len();
        if stale_reads && cmds.iter().all(|c| c.class != CmdClass::Write) {
            return self.execute_locally(db, proto, cmds).await;
        }
        let timeout = self.request_timeout();
        match kiwi_runtime::time::timeout(timeout, self.route(db, proto, cmds, true)).await {
            Ok(frames) => frames,
            Err(_) => vec![timed_out(); n],
        }
    }

    /// How long a client request (or its forwarded batch) may take. A
    /// buggified simulation shortens it now and then, so writes time out
    /// while their entries may still commit.
    fn request_timeout(&self) -> Duration {
        let configured = Duration::from_millis(self.opts.request_timeout_ms);
        kiwi_runtime::buggify::shorten(configured, 0.01)
    }

    /// Runs a MULTI/EXEC block: every command in one client batch, so one
    /// proposal and one log entry if any command writes (applied in one
    /// executor step on every replica), or one local step behind one read
    /// barrier if none does; either way no client sees part of it. `Err`
    /// is the one reply for the whole EXEC when the cluster could not run it
    /// (no leader, timeout, redirect, too large for one entry).
    pub async fn submit_transaction(
        &self,
        db: usize,
        proto: Protocol,
        stale_reads: bool,
        cmds: Vec<SubmitCmd>,
    ) -> Result<Vec<Frame>, Frame> {
        let bytes: usize = cmds
            .iter()
            .map(|c| c.args.iter().map(|a| a.len() + 8).sum::<usize>())
            .sum();
        if bytes > ENTRY_MAX_BYTES {
            return Err(Frame::error(format!(
                "ERR transaction too large for a raft log entry ({bytes} bytes, cluster mode allows {ENTRY_MAX_BYTES})"
            )));
        }
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let frames = self.submit(db, proto, stale_reads, cmds).await;
        // A batch the cluster could not run answers the same error for every
        // command; EXEC answers it once.
        let whole_batch_failure = |f: &Frame| match f {
            Frame::Error(e) => [
                &b"TIMEOUT"[..],
                b"CLUSTERDOWN",
                b"TRYAGAIN",
                b"MOVED",
                b"ERR raft",
                b"ERR server is shutting down",
            ]
            .iter()
            .any(|p| e.starts_with(p)),
            _ => false,
        };
        match frames.first() {
            Some(first) if whole_batch_failure(first) && frames.iter().all(|f| f == first) => {
                Err(first.clone())
            }
            _ => Ok(frames),
        }
    }

    async fn route(
        &self,
        db: usize,
        proto: Protocol,
        cmds: Vec<SubmitCmd>,
        may_forward: bool,
    ) -> Vec<Frame> {
        let n = cmds.len();
        if cmds.iter().all(|c| c.class == CmdClass::Local) {
            return self.execute_locally(db, proto, cmds).await;
        }
        match self.leader() {
            Some((id, _)) if id == self.opts.node_id => self.lead(db, proto, cmds).await,
            Some((_, node)) if may_forward => {
                if self.opts.moved_redirects {
                    let moved = Frame::error(format!("MOVED 0 {}", node.resp_addr));
                    return vec![moved; n];
                }
                let fwd = Forward {
                    db: db as u8,
                    proto,
                    cmds: cmds.into_iter().map(|c| c.args).collect(),
                };
                self.forward(&node.raft_addr, fwd, n).await
            }
            _ => vec![clusterdown(); n],
        }
    }

    /// On the leader: propose or read behind a barrier.
    async fn lead(&self, db: usize, proto: Protocol, cmds: Vec<SubmitCmd>) -> Vec<Frame> {
        let n = cmds.len();
        if cmds.iter().any(|c| c.class == CmdClass::Write) {
            return self.propose(db, proto, cmds).await;
        }
        // The `canary-stale-read` build plants a known bug for the simulator
        // to catch: reads skip the ReadIndex barrier.
        let barrier = !cfg!(feature = "canary-stale-read");
        if barrier {
            let arrived = kiwi_runtime::time::instant();
            let confirmed = self.read_barrier(arrived).await;
            self.stats
                .read_index
                .record_us(arrived.elapsed().as_micros() as u64);
            if !confirmed {
                return vec![clusterdown(); n];
            }
        }
        self.execute_locally(db, proto, cmds).await
    }

    /// ReadIndex for a read that arrived at `arrived`: OpenRaft's barrier
    /// (it fixes the log index the read must see and waits until it is
    /// applied), then Kiwi's own check that a quorum accepted this node as
    /// leader after the read arrived, which OpenRaft's can get wrong (see
    /// [`crate::leadership`]). False: serve nothing.
    async fn read_barrier(&self, arrived: kiwi_runtime::time::Instant) -> bool {
        let read_log_id = match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(id) => id,
            Err(e) => {
                tracing::debug!(error = %e, "read barrier failed");
                return false;
            }
        };
        let leadership = *read_log_id.log_id().committed_leader_id();
        let voter_sets = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            m.membership_config.membership().get_joint_config().clone()
        };
        let read = ReadQuorum {
            me: self.opts.node_id,
            leadership,
            since: arrived,
            voter_sets: &voter_sets,
        };
        // The `canary-openraft-read-barrier` build trusts OpenRaft alone,
        // to show the simulator catches what this check is for.
        if cfg!(feature = "canary-openraft-read-barrier") || self.acks.confirmed(&read) {
            return true;
        }
        // OpenRaft credited an older reply (common with pipelining, not
        // only after a pause): ask every follower again.
        self.stats.read_reconfirms.fetch_add(1, Relaxed);
        if self.raft.trigger().heartbeat().await.is_err() {
            return false;
        }
        let wait = Duration::from_millis(self.opts.election_timeout_ms);
        if self.acks.confirm(&read, wait).await {
            return true;
        }
        tracing::warn!(
            read_log_id = %read_log_id,
            "no quorum accepted this leader after the read arrived; read refused"
        );
        false
    }

    /// Proposes a write batch through the proposer (which may put other
    /// clients' commands in the same entry), in order, in chunks of at most
    /// [`ENTRY_MAX_BYTES`]. A single command above that is refused.
    async fn propose(&self, db: usize, proto: Protocol, cmds: Vec<SubmitCmd>) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(cmds.len());
        let mut chunk: Vec<ReplicatedCmd> = Vec::new();
        let mut chunk_bytes = 0;
        for c in cmds {
            let cmd = ReplicatedCmd {
                db: db as u8,
                proto,
                args: compact(&c.args),
            };
            let bytes = cmd.payload_bytes();
            if bytes > ENTRY_MAX_BYTES {
                frames.extend(self.propose_chunk(std::mem::take(&mut chunk)).await);
                chunk_bytes = 0;
                frames.push(Frame::error(format!(
                    "ERR command too large for a raft log entry ({bytes} bytes, cluster mode allows {ENTRY_MAX_BYTES})"
                )));
                continue;
            }
            if chunk_bytes + bytes > ENTRY_MAX_BYTES {
                frames.extend(self.propose_chunk(std::mem::take(&mut chunk)).await);
                chunk_bytes = 0;
            }
            chunk_bytes += bytes;
            chunk.push(cmd);
        }
        frames.extend(self.propose_chunk(chunk).await);
        frames
    }

    async fn propose_chunk(&self, cmds: Vec<ReplicatedCmd>) -> Vec<Frame> {
        if cmds.is_empty() {
            return Vec::new();
        }
        let n = cmds.len();
        // The `canary-early-ack` build plants a known bug for the simulator
        // to catch: plain SETs are acknowledged as soon as they are queued.
        let early_ack = cfg!(feature = "canary-early-ack")
            && cmds
                .iter()
                .all(|c| c.args.len() == 3 && c.args[0].eq_ignore_ascii_case(b"set"));
        let (reply, rx) = oneshot::channel();
        if self.proposals.send(Proposal { cmds, reply }).await.is_err() {
            return vec![Frame::error("ERR server is shutting down"); n];
        }
        if early_ack {
            kiwi_runtime::task::spawn(rx);
            return vec![Frame::ok(); n];
        }
        let mut frames = rx.await.unwrap_or_else(|_| vec![clusterdown(); n]);
        debug_assert_eq!(frames.len(), n, "one reply per command");
        frames.resize(n, clusterdown());
        frames
    }

    /// Runs commands on the local engine (reads after a barrier, or node-local commands).
    async fn execute_locally(
        &self,
        db: usize,
        proto: Protocol,
        cmds: Vec<SubmitCmd>,
    ) -> Vec<Frame> {
        let n = cmds.len();
        let run = move |ex: &mut Executor| -> Vec<Frame> {
            cmds.iter()
                .map(|c| match ex.execute(None, db, proto, c.name, &c.args) {
                    Reply::Frame(f) => f,
                    Reply::Blocked(_) => {
                        Frame::error("ERR blocking commands are writes in cluster mode")
                    }
                })
                .collect()
        };
        match on_executor(&self.jobs, run).await {
            Ok(frames) => frames,
            Err(_) => vec![Frame::error("ERR server is shutting down"); n],
        }
    }

    async fn forward(&self, leader_addr: &str, fwd: Forward, n: usize) -> Vec<Frame> {
        let pooled = self
            .forward_pool
            .lock()
            .ok()
            .and_then(|mut pool| pool.get_mut(leader_addr).and_then(|v| v.pop()));
        let mut peer =
            pooled.unwrap_or_else(|| Peer::new(leader_addr.to_string(), self.security.clone()));
        let timeout = self.request_timeout();
        match peer.call(&RaftRpc::Forward(fwd), timeout).await {
            Ok(RaftReply::Forward(frames)) if frames.len() == n => {
                if let Ok(mut pool) = self.forward_pool.lock() {
                    let idle = pool.entry(leader_addr.to_string()).or_default();
                    if idle.len() < FORWARD_POOL_MAX {
                        idle.push(peer);
                    }
                }
                frames
            }
            Ok(_) => vec![Frame::error("ERR unexpected reply from the raft leader"); n],
            Err(e) => {
                tracing::debug!(error = %e, leader = leader_addr, "forwarding failed");
                vec![Frame::error("TRYAGAIN the raft leader could not be reached"); n]
            }
        }
    }

    /// A batch forwarded to us: run it as leader, never forward again.
    async fn serve_forward(&self, fwd: Forward) -> Vec<Frame> {
        if let [args] = &fwd.cmds[..] {
            if args.len() == 3 && args[0].eq_ignore_ascii_case(b"WAIT") {
                let int = |a: &Bytes| kiwi_resp::request::parse_i64(a).unwrap_or(0).max(0) as u64;
                let counted = self
                    .wait_replicas_from(int(&args[1]), int(&args[2]), false)
                    .await;
                return vec![counted.map_or_else(|e| e, Frame::Integer)];
            }
        }
        if fwd.cmds.first().is_some_and(|a| is_raft_admin(a)) {
            let mut frames = Vec::new();
            for args in fwd.cmds {
                frames.push(self.admin(&args).await);
            }
            return frames;
        }
        let n = fwd.cmds.len();
        let cmds: Option<Vec<SubmitCmd>> = fwd.cmds.into_iter().map(SubmitCmd::from_args).collect();
        let Some(cmds) = cmds else {
            return vec![Frame::error("ERR unknown command in forwarded batch"); n];
        };
        let timeout = self.request_timeout();
        let run = self.route(fwd.db as usize, fwd.proto, cmds, false);
        match kiwi_runtime::time::timeout(timeout, run).await {
            Ok(frames) => frames,
            Err(_) => vec![timed_out(); n],
        }
    }

    /// RAFT.INFO / RAFT.LEADER / RAFT.NODE ADD|REMOVE / RAFT.SNAPSHOT.
    pub async fn admin(&self, args: &[Bytes]) -> Frame {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let sub = args
            .get(1)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default();
        match (name.as_str(), sub.as_str()) {
            ("raft.info", _) => Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(self.figures().info()),
            },
            ("raft.leader", _) => match self.leader() {
                Some((_, node)) => Frame::bulk(node.resp_addr),
                None => clusterdown(),
            },
            ("raft.node", "add") if args.len() == 5 => {
                self.leader_only(args, self.add_node(args)).await
            }
            ("raft.node", "remove") if args.len() == 3 => {
                self.leader_only(args, self.remove_node(args)).await
            }
            ("raft.snapshot", _) => self.snapshot_now().await,
            _ => Frame::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }

    /// Runs a membership change here if leader, else forwards it.
    async fn leader_only(
        &self,
        args: &[Bytes],
        here: impl std::future::Future<Output = Frame>,
    ) -> Frame {
        match self.leader() {
            Some((id, _)) if id == self.opts.node_id => here.await,
            Some((_, node)) => {
                let fwd = Forward {
                    db: 0,
                    proto: Protocol::Resp2,
                    cmds: vec![args.to_vec()],
                };
                let mut frames = self.forward(&node.raft_addr, fwd, 1).await;
                frames.pop().unwrap_or_else(clusterdown)
            }
            None => clusterdown(),
        }
    }

    async fn add_node(&self, args: &[Bytes]) -> Frame {
        let Some(id) = parse_node_id(&args[2]) else {
            return Frame::error("ERR node id must be a positive integer");
        };
        let node = KiwiNode {
            raft_addr: String::from_utf8_lossy(&args[3]).into_owned(),
            resp_addr: String::from_utf8_lossy(&args[4]).into_owned(),
        };
        // Learner first; it is promoted to voter once it has caught up
        // (add_learner with blocking=true returns then).
        let join = async {
            self.raft.add_learner(id, node, true).await?;
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
        };
        match kiwi_runtime::time::timeout(Duration::from_millis(JOIN_TIMEOUT_MS), join).await {
            Ok(Ok(_)) => Frame::ok(),
            Ok(Err(e)) => membership_error(&e),
            Err(_) => Frame::error("TIMEOUT the new node did not catch up in time"),
        }
    }

    async fn remove_node(&self, args: &[Bytes]) -> Frame {
        let Some(id) = parse_node_id(&args[2]) else {
            return Frame::error("ERR node id must be a positive integer");
        };
        let change = ChangeMembers::RemoveVoters(BTreeSet::from([id]));
        match self.raft.change_membership(change, false).await {
            Ok(_) => Frame::ok(),
            Err(e) => membership_error(&e),
        }
    }

    /// WAIT: how many other members hold the leader's whole log as of now
    /// (which includes every write acknowledged to the caller), once at
    /// least `wanted` do or when `timeout_ms` passes (0 = no limit). A
    /// follower asks the leader (within the request timeout, which then
    /// also bounds the wait) or, in MOVED mode, redirects.
    pub async fn wait_replicas(&self, wanted: u64, timeout_ms: u64) -> Result<i64, Frame> {
        self.wait_replicas_from(wanted, timeout_ms, true).await
    }

    async fn wait_replicas_from(
        &self,
        wanted: u64,
        timeout_ms: u64,
        may_forward: bool,
    ) -> Result<i64, Frame> {
        let mut metrics = self.raft.metrics();
        let leading = {
            let m = metrics.borrow_watched();
            (m.state == ServerState::Leader).then(|| (m.id, m.last_log_index.unwrap_or(0)))
        };
        let Some((me, target)) = leading else {
            return self.forward_wait(wanted, timeout_ms, may_forward).await;
        };
        let count = |m: &openraft::RaftMetrics<crate::types::TypeConfig>| -> i64 {
            m.replication.as_ref().map_or(0, |r| {
                r.iter()
                    .filter(|(id, matched)| {
                        **id != me && matched.as_ref().is_some_and(|l| l.index() >= target)
                    })
                    .count() as i64
            })
        };
        let wait = async {
            loop {
                let n = count(&metrics.borrow_watched());
                if n as u64 >= wanted || metrics.changed().await.is_err() {
                    return n;
                }
            }
        };
        if timeout_ms == 0 {
            return Ok(wait.await);
        }
        match kiwi_runtime::time::timeout(Duration::from_millis(timeout_ms), wait).await {
            Ok(n) => Ok(n),
            Err(_) => Ok(count(&self.raft.metrics().borrow_watched())),
        }
    }

    /// WAIT on a follower: the leader counts. Its wait is capped below the
    /// forwarding timeout so the answer arrives.
    async fn forward_wait(
        &self,
        wanted: u64,
        timeout_ms: u64,
        may_forward: bool,
    ) -> Result<i64, Frame> {
        let node = match self.leader() {
            Some((id, _)) if id == self.opts.node_id => return Err(clusterdown()),
            Some((_, node)) if may_forward => node,
            _ => return Err(clusterdown()),
        };
        if self.opts.moved_redirects {
            return Err(Frame::error(format!("MOVED 0 {}", node.resp_addr)));
        }
        let cap_ms = (self.opts.request_timeout_ms * 3 / 4).max(1);
        let timeout_ms = if timeout_ms == 0 {
            cap_ms
        } else {
            timeout_ms.min(cap_ms)
        };
        let wait = vec![
            Bytes::from_static(b"WAIT"),
            Bytes::from(wanted.to_string()),
            Bytes::from(timeout_ms.to_string()),
        ];
        let fwd = Forward {
            db: 0,
            proto: Protocol::Resp2,
            cmds: vec![wait],
        };
        match self.forward(&node.raft_addr, fwd, 1).await.pop() {
            Some(Frame::Integer(n)) => Ok(n),
            Some(other) => Err(other),
            None => Err(Frame::error("ERR unexpected reply from the raft leader")),
        }
    }

    /// Builds a snapshot now and purges the log up to it.
    async fn snapshot_now(&self) -> Frame {
        let before = self.raft.metrics().borrow_watched().snapshot;
        if let Err(e) = self.raft.trigger().snapshot().await {
            return Frame::error(format!("ERR {e}"));
        }
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                let snap = metrics.borrow_watched().snapshot;
                if snap.is_some() && snap != before {
                    return snap;
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
            }
        };
        let timeout = Duration::from_millis(self.opts.request_timeout_ms.max(10_000));
        match kiwi_runtime::time::timeout(timeout, wait).await {
            Ok(Some(log_id)) => self.purge_to(log_id.index(), timeout).await,
            Ok(None) => Frame::error("ERR raft stopped"),
            Err(_) => Frame::error("TIMEOUT snapshot did not finish in time"),
        }
    }

    /// Purges the log up to `index` and waits until it is gone (OpenRaft
    /// purges in the background once no replication still needs the entries).
    async fn purge_to(&self, index: u64, timeout: Duration) -> Frame {
        if let Err(e) = self.raft.trigger().purge_log(index).await {
            return Frame::error(format!("ERR {e}"));
        }
        let mut metrics = self.raft.metrics();
        let wait = async {
            loop {
                if metrics
                    .borrow_watched()
                    .purged
                    .is_some_and(|p| p.index() >= index)
                {
                    return true;
                }
                if metrics.changed().await.is_err() {
                    return false;
                }
            }
        };
        match kiwi_runtime::time::timeout(timeout, wait).await {
            Ok(true) => Frame::ok(),
            Ok(false) => Frame::error("ERR raft stopped"),
            Err(_) => Frame::error("TIMEOUT log purge did not finish in time"),
        }
    }

    /// Raft's figures now (INFO raft, RAFT.INFO, the `kiwi_raft_*` metrics).
    pub fn figures(&self) -> RaftFigures {
        let m = self.raft.metrics().borrow_watched().clone();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let index = |l: &Option<crate::types::LogId>| l.as_ref().map(|l| l.index());
        let membership = m.membership_config.membership();
        let last_log = m.last_log_index.unwrap_or(0);
        let follower_lag = m
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != m.id)
            .map(|(id, matched)| (*id, last_log.saturating_sub(index(matched).unwrap_or(0))))
            .collect();
        RaftFigures {
            node_id: m.id,
            role,
            term: m.current_term,
            leader: self.leader().map(|(id, n)| (id, n.resp_addr)),
            last_log_index: m.last_log_index,
            commit_index: index(&m.cluster_committed),
            applied_index: index(&m.last_applied),
            snapshot_index: index(&m.snapshot),
            purged_index: index(&m.purged),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            nodes: membership
                .nodes()
                .map(|(id, n)| (*id, n.raft_addr.clone(), n.resp_addr.clone()))
                .collect(),
            follower_lag,
            snapshots_built: self.stats.snapshots_built.load(Relaxed),
            snapshots_installed: self.stats.snapshots_installed.load(Relaxed),
            snapshot_build: self.stats.snapshot_build.snapshot(),
            snapshot_install: self.stats.snapshot_install.snapshot(),
            read_index: self.stats.read_index.snapshot(),
            read_reconfirms: self.stats.read_reconfirms.load(Relaxed),
        }
    }
}

/// The arguments copied into one allocation of their own. Decoded
/// arguments are slices of the connection's read buffer; a log entry lives
/// on (in the log cache, in flight to followers), and would otherwise pin a
/// whole read buffer per command and defeat the buffer's reuse.
fn compact(args: &[Bytes]) -> Vec<Bytes> {
    let mut buf = bytes::BytesMut::with_capacity(args.iter().map(|a| a.len()).sum());
    for a in args {
        buf.extend_from_slice(a);
    }
    let mut all = buf.freeze();
    args.iter().map(|a| all.split_to(a.len())).collect()
}

fn parse_node_id(arg: &[u8]) -> Option<NodeId> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// Whether `args` is one of the RAFT.* admin commands.
pub fn is_raft_admin(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|a| a.len() > 5 && a[..5].eq_ignore_ascii_case(b"raft."))
}

/// A failed RAFT.NODE ADD/REMOVE as the client sees it: another change still
/// in flight (the founding membership right after `--init-cluster` too) or a
/// leader change is worth retrying.
fn membership_error(
    e: &openraft::error::RaftError<TypeConfig, openraft::error::ClientWriteError<TypeConfig>>,
) -> Frame {
    use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(p),
        )) => Frame::error(format!("TRYAGAIN a membership change is in progress: {p}")),
        RaftError::APIError(w) => write_error(w),
        other => Frame::error(format!("ERR {other}")),
    }
}

pub(crate) fn write_error(
    e: &openraft::error::ClientWriteError<crate::types::TypeConfig>,
) -> Frame {
    use openraft::error::ClientWriteError as E;
    match e {
        E::ForwardToLeader(_) => Frame::error("TRYAGAIN raft leadership changed; retry"),
        E::LogEntryDiscarded(_) => Frame::error(
            "TRYAGAIN raft leadership changed; the write may or may not have been applied",
        ),
        other => Frame::error(format!("ERR raft: {other}")),
    }
}

/// Relays published messages to one peer over one connection, in order,
/// in batches; a failed batch is dropped (pub/sub is best effort).
async fn relay_messages(
    addr: String,
    security: PeerSecurity,
    mut rx: mpsc::Receiver<(Bytes, Bytes)>,
    timeout: Duration,
) {
    let mut peer = Peer::new(addr, security);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < RELAY_BATCH_MAX {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if let Err(e) = peer.call(&RaftRpc::Publish(batch), timeout).await {
            tracing::debug!(error = %e, "pubsub relay failed; messages dropped");
        }
    }
}

/// Accepts Raft RPC connections.
async fn serve_rpc(listener: TcpListener, node: Arc<ClusterNode>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                kiwi_runtime::task::spawn(serve_peer(stream, node.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "raft accept failed");
                kiwi_runtime::time::sleep_ms(10).await;
            }
        }
    }
}

/// A snapshot being received on one connection.
struct Incoming {
    path: PathBuf,
    file: std::fs::File,
    written: u64,
}

/// Longest a new peer connection may take to secure itself (TLS and the
/// secret's handshake).
const PEER_AUTH_TIMEOUT_MS: u64 = 5_000;

async fn serve_peer(tcp: TcpStream, node: Arc<ClusterNode>) {
    let auth = node.security.accept(tcp);
    let mut stream = match kiwi_runtime::time::timeout(
        Duration::from_millis(PEER_AUTH_TIMEOUT_MS),
        auth,
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "raft connection refused");
            return;
        }
        Err(_) => {
            tracing::warn!("raft connection refused: no authentication in time");
            return;
        }
    };
    let mut incoming: Option<Incoming> = None;
    loop {
        let req = match read_frame::<RaftRpc>(&mut stream).await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "raft peer connection closed");
                break;
            }
        };
        let reply = match req {
            RaftRpc::Append(rpc) => RaftReply::Append(
                node.raft
                    .append_entries(rpc)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            RaftRpc::Vote(rpc) => {
                RaftReply::Vote(node.raft.vote(rpc).await.map_err(|e| e.to_string()))
            }
            RaftRpc::Snapshot {
                vote,
                meta,
                offset,
                data,
                done,
            } => RaftReply::Snapshot(
                receive_chunk(&node, &mut incoming, vote, meta, offset, &data, done).await,
            ),
            RaftRpc::Forward(fwd) => RaftReply::Forward(node.serve_forward(fwd).await),
            RaftRpc::Publish(messages) => {
                for (channel, payload) in &messages {
                    node.deliver_locally(channel, payload);
                }
                RaftReply::Published
            }
            RaftRpc::AppendStream => {
                serve_append_stream(stream, &node).await;
                break;
            }
        };
        if let Err(e) = write_frame(&mut stream, &reply).await {
            tracing::debug!(error = %e, "raft reply failed");
            break;
        }
    }
    if let Some(inc) = incoming {
        let _ = std::fs::remove_file(inc.path);
    }
}

/// Serves a connection turned append stream: requests go to
/// `Raft::stream_append` as they arrive (OpenRaft bounds its own pipeline),
/// replies go back in order. Ends when the leader closes the connection or
/// the stream stops at a conflict or a higher vote.
async fn serve_append_stream(stream: PeerStream, node: &ClusterNode) {
    let (reader, mut writer) = kiwi_runtime::io::split(stream);
    let requests = futures_util::stream::unfold(reader, |mut reader| async move {
        match read_frame::<AppendEntriesRequest<TypeConfig>>(&mut reader).await {
            Ok(Some(req)) => Some((req, reader)),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "append stream closed");
                None
            }
        }
    });
    let replies = node.raft.stream_append(requests);
    let mut replies = std::pin::pin!(replies);
    while let Some(result) = replies.next().await {
        let reply: StreamReply = result.map_err(|e| e.to_string());
        if let Err(e) = write_frame(&mut writer, &reply).await {
            tracing::debug!(error = %e, "append stream reply failed");
            return;
        }
    }
}

async fn receive_chunk(
    node: &ClusterNode,
    incoming: &mut Option<Incoming>,
    vote: crate::types::Vote,
    meta: SnapshotMeta,
    offset: u64,
    data: &[u8],
    done: bool,
) -> Result<Option<openraft::raft::SnapshotResponse<crate::types::TypeConfig>>, String> {
    use std::io::Write;
    if offset == 0 {
        let dir = node.opts.dir.join("snapshots");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("receiving-{}.tar", kiwi_runtime::rand::u64()));
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        if let Some(old) = incoming.replace(Incoming {
            path,
            file,
            written: 0,
        }) {
            let _ = std::fs::remove_file(old.path);
        }
    }
    let Some(inc) = incoming.as_mut() else {
        return Err("snapshot chunk without a start".into());
    };
    if inc.written != offset {
        return Err(format!(
            "snapshot chunk at {offset}, expected {}",
            inc.written
        ));
    }
    inc.file.write_all(data).map_err(|e| e.to_string())?;
    inc.written += data.len() as u64;
    if !done {
        return Ok(None);
    }
    let Some(inc) = incoming.take() else {
        return Err("snapshot vanished".into());
    };
    inc.file.sync_all().map_err(|e| e.to_string())?;
    let file = std::fs::File::open(&inc.path).map_err(|e| e.to_string())?;
    let result = node
        .raft
        .install_full_snapshot(
            vote,
            Snapshot {
                meta,
                snapshot: file,
            },
        )
        .await
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&inc.path);
    result.map(Some)
}

/// On the leader, proposes an active-expiry step whenever a key is due
/// (checked `hz` times a second), so expiry deletions are log entries that
/// every replica applies identically. The step also carries the leader's
/// clock into the log: while any key has a TTL, a step goes out whenever the
/// log's clock (what reads expire keys by, `Executor::clock_ms`) trails the
/// leader's wall clock by a period, so TTL and PTTL stay within about one
/// period of Redis's answer on an idle cluster.
async fn propose_expiry(node: Arc<ClusterNode>) {
    let period_ms = 1000 / node.opts.hz.clamp(1, 500);
    loop {
        kiwi_runtime::time::sleep_ms(period_ms).await;
        if node.leader().is_none_or(|(id, _)| id != node.opts.node_id) {
            continue;
        }
        let wall_ms = kiwi_runtime::time::now_ms();
        let Ok(step_at_ms) = on_executor(&node.jobs, move |ex| {
            // A leader whose clock is behind the log's expires by the log's.
            let now_ms = wall_ms.max(ex.clock_ms());
            ex.expiry_step_due(now_ms, period_ms).then_some(now_ms)
        })
        .await
        else {
            return; // storage stopped: the server is shutting down
        };
        if let Some(now_ms) = step_at_ms {
            let req = Request::Expire {
                now_ms,
                max_entries: EXPIRE_STEP_MAX_ENTRIES,
            };
            if let Err(e) = node.raft.client_write(req).await {
                tracing::debug!(error = %e, "expiry proposal failed");
            }
        }
    }
}
