//! `kiwi-raft`: cluster mode. Every write is a Raft log entry applied by
//! every replica; reads are linearizable through OpenRaft's ReadIndex.
//!
//! OpenRaft's types stay inside this crate, behind thin adapters in the
//! style of openraft's `raft-kv-rocksdb` example:
//!
//! * [`log_store`]: the Raft log in its own RocksDB instance (synced vote
//!   and appends).
//! * [`state_machine`]: the storage engine as the state machine, applied on
//!   the storage runtime; snapshots are RocksDB checkpoints.
//! * [`transport`]: Raft RPCs over TCP through the runtime layer,
//!   length-prefixed postcard frames, connection re-use.
//! * [`leadership`]: which peers accepted this node's requests, and when;
//!   the read barrier's own check that a quorum still follows this leader.
//! * [`proposer`]: groups client writes into log entries.
//! * [`node`]: starting a node, proposing client commands, read barriers,
//!   forwarding to the leader, membership and admin commands.
//!
//! The runtime is `kiwi_runtime::raft_rt`, so the same node runs on tokio
//! and under madsim.

pub mod codec;
pub mod fuzzing;
pub mod leadership;
pub mod log_store;
pub mod node;
pub mod peer_auth;
mod proposer;
pub mod state_machine;
pub mod transport;
pub mod types;

pub use node::{ClusterNode, ClusterOptions, SubmitCmd};
pub use types::{KiwiNode, NodeId};
