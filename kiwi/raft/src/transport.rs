//! Raft RPCs over TCP, through the runtime layer (real sockets on tokio,
//! simulated ones under madsim).
//!
//! One request frame, one reply frame, on a connection kept per peer and
//! re-opened after any error; OpenRaft's backoff spaces out reconnects to a
//! dead peer. Snapshots stream as chunks on one connection. The same frames
//! carry client commands a follower forwards to the leader.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_runtime::net::TcpStream;
use kiwi_runtime::sync::Mutex;
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use serde::{Deserialize, Serialize};

use crate::codec::{read_frame, write_frame};
use crate::types::{KiwiNode, NodeId, Snapshot, SnapshotMeta, TypeConfig, Vote};

/// Bytes of a snapshot per chunk frame.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Longest a connection attempt to a peer may take.
const CONNECT_TIMEOUT_MS: u64 = 1_000;

/// Client commands forwarded by a follower to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forward {
    pub db: u8,
    pub proto: Protocol,
    pub cmds: Vec<Vec<Bytes>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    /// A piece of a snapshot; the last one (`done`) installs it.
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        offset: u64,
        data: Bytes,
        done: bool,
    },
    Forward(Forward),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    /// `Ok(None)`: chunk stored, send the next one.
    Snapshot(Result<Option<SnapshotResponse<TypeConfig>>, String>),
    Forward(Vec<Frame>),
}

/// A request/reply connection to one peer's Raft address.
pub struct Peer {
    addr: String,
    /// Behind a mutex only to make `Peer` `Sync` (OpenRaft requires it;
    /// madsim's stream is not): `&mut self` methods use `get_mut`, no locking.
    conn: Mutex<Option<TcpStream>>,
}

impl Peer {
    pub fn new(addr: String) -> Peer {
        Peer {
            addr,
            conn: Mutex::new(None),
        }
    }

    /// Sends `req` and waits for its reply, within `timeout`. Any failure
    /// drops the connection; the next call dials again.
    pub async fn call(&mut self, req: &RaftRpc, timeout: Duration) -> io::Result<RaftReply> {
        let conn = self.conn.get_mut();
        let attempt = async {
            if conn.is_none() {
                let connect = TcpStream::connect(&self.addr);
                let stream =
                    kiwi_runtime::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect)
                        .await
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
                        })??;
                let _ = stream.set_nodelay(true);
                *conn = Some(stream);
            }
            let Some(stream) = conn.as_mut() else {
                return Err(io::Error::other("no connection"));
            };
            write_frame(stream, req).await?;
            read_frame::<RaftReply>(stream).await?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection")
            })
        };
        let result = match kiwi_runtime::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "raft rpc timed out",
            )),
        };
        if result.is_err() {
            *self.conn.get_mut() = None;
        }
        result
    }
}

/// Creates a [`Network`] per target node (OpenRaft keeps one per replication stream).
#[derive(Clone, Default)]
pub struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &KiwiNode) -> Network {
        Network {
            target,
            peer: Peer::new(node.raft_addr.clone()),
        }
    }
}

pub struct Network {
    target: NodeId,
    peer: Peer,
}

fn unreachable(e: io::Error) -> Unreachable<TypeConfig> {
    Unreachable::new(&e)
}

impl Network {
    async fn rpc(
        &mut self,
        req: &RaftRpc,
        option: &RPCOption,
    ) -> Result<RaftReply, RPCError<TypeConfig>> {
        self.peer
            .call(req, option.hard_ttl())
            .await
            .map_err(|e| RPCError::Unreachable(unreachable(e)))
    }
}

fn unexpected(target: NodeId, what: &str) -> RPCError<TypeConfig> {
    let e = io::Error::new(
        io::ErrorKind::InvalidData,
        format!("node {target}: unexpected reply to {what}"),
    );
    RPCError::Network(NetworkError::new(&e))
}

fn remote(target: NodeId, msg: String) -> RPCError<TypeConfig> {
    let e = io::Error::other(format!("node {target}: {msg}"));
    RPCError::Unreachable(Unreachable::new(&e))
}

impl RaftNetworkV2<TypeConfig> for Network {
    type SnapshotData = std::fs::File;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.rpc(&RaftRpc::Append(rpc), &option).await? {
            RaftReply::Append(Ok(r)) => Ok(r),
            RaftReply::Append(Err(msg)) => Err(remote(self.target, msg)),
            _ => Err(unexpected(self.target, "append")),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.rpc(&RaftRpc::Vote(rpc), &option).await? {
            RaftReply::Vote(Ok(r)) => Ok(r),
            RaftReply::Vote(Err(msg)) => Err(remote(self.target, msg)),
            _ => Err(unexpected(self.target, "vote")),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        mut snapshot: Snapshot,
        cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let send = async {
            use std::io::Seek;
            snapshot
                .snapshot
                .rewind()
                .map_err(|e| StreamingError::Unreachable(unreachable(e)))?;
            let mut offset = 0u64;
            loop {
                let mut buf = vec![0u8; SNAPSHOT_CHUNK_BYTES];
                let n = read_full(&mut snapshot.snapshot, &mut buf)
                    .map_err(|e| StreamingError::Unreachable(unreachable(e)))?;
                buf.truncate(n);
                let done = n < SNAPSHOT_CHUNK_BYTES;
                let req = RaftRpc::Snapshot {
                    vote,
                    meta: snapshot.meta.clone(),
                    offset,
                    data: Bytes::from(buf),
                    done,
                };
                let reply = self
                    .peer
                    .call(&req, option.hard_ttl())
                    .await
                    .map_err(|e| StreamingError::Unreachable(unreachable(e)))?;
                offset += n as u64;
                match reply {
                    RaftReply::Snapshot(Ok(Some(resp))) if done => return Ok(resp),
                    RaftReply::Snapshot(Ok(None)) if !done => continue,
                    RaftReply::Snapshot(Err(msg)) => {
                        let e = io::Error::other(msg);
                        return Err(StreamingError::Unreachable(unreachable(e)));
                    }
                    _ => {
                        let e =
                            io::Error::new(io::ErrorKind::InvalidData, "unexpected snapshot reply");
                        return Err(StreamingError::Unreachable(unreachable(e)));
                    }
                }
            }
        };
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            closed = cancel => Err(StreamingError::Closed(closed)),
            r = send => r,
        }
    }
}

/// Reads until `buf` is full or the file ends; returns bytes read.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
