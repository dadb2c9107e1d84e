//! The Raft type configuration and what a log entry carries.
//!
//! A log entry is a batch of client commands (from every connection that
//! wrote while the previous proposal was being prepared) plus the time and
//! random seed the leader chose for it ([`Request::Commands`]), or a
//! leader-decided active-expiry step ([`Request::Expire`]). Applying it is deterministic, so
//! every replica computes the same data and the same reply.

use std::fmt;

use kiwi_cmd::ReplicatedCmd;
use kiwi_resp::Frame;
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// Where a node can be reached: its Raft transport and its RESP listener
/// (what `-MOVED` and `RAFT.INFO` report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KiwiNode {
    pub raft_addr: String,
    pub resp_addr: String,
}

impl fmt::Display for KiwiNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (resp {})", self.raft_addr, self.resp_addr)
    }
}

/// The application data of a log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Commands of one or several clients, applied in order (see
    /// `kiwi_cmd::ReplicatedBatch`).
    Commands {
        now_ms: u64,
        seed: u64,
        cmds: Vec<ReplicatedCmd>,
    },
    /// One active-expiry step as of the leader's clock.
    Expire { now_ms: u64, max_entries: u32 },
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Commands { cmds, .. } => write!(f, "{} commands", cmds.len()),
            Request::Expire { now_ms, .. } => write!(f, "expire at {now_ms}"),
        }
    }
}

/// What applying an entry answered: the replies for the client that
/// proposed it, one per command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response(pub Vec<Frame>);

openraft::declare_raft_types!(
    /// Kiwi's Raft types. The runtime is the runtime layer's adapter, so the
    /// node runs on tokio in production and on madsim in simulation.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = KiwiNode,
        AsyncRuntime = kiwi_runtime::raft_rt::KiwiRaftRuntime,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, std::fs::File>;
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;

/// What the engine stores as its applied stamp: the last entry applied in
/// full, the membership as of it, and how far the next entry got if a
/// crash interrupted it (see `kiwi_cmd::Executor::apply_batch`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// `(entry, commands applied)` of an entry applied in part.
    pub partial: Option<(LogId, u32)>,
    /// The log's clock: the latest entry time applied (entries apply at
    /// max(their `now_ms`, this), so time never goes back across leaders).
    /// Added after the first release of the stamp; older stamps decode
    /// through [`AppliedStateV1`] with the clock at 0.
    pub log_clock_ms: u64,
}

/// The stamp before it carried the log's clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedStateV1 {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub partial: Option<(LogId, u32)>,
}

impl From<AppliedStateV1> for AppliedState {
    fn from(v1: AppliedStateV1) -> AppliedState {
        AppliedState {
            last_applied: v1.last_applied,
            membership: v1.membership,
            partial: v1.partial,
            log_clock_ms: 0,
        }
    }
}
