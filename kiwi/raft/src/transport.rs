//! Raft RPCs over TCP, through the runtime layer (real sockets on tokio,
//! simulated ones under madsim).
//!
//! One request frame, one reply frame, on a connection kept per peer and
//! re-opened after any error; OpenRaft's backoff spaces out reconnects to a
//! dead peer. Snapshots stream as chunks on one connection. The same frames
//! carry client commands a follower forwards to the leader.
//!
//! Replication is pipelined: each OpenRaft replication stream gets its own
//! connection (opened with [`RaftRpc::AppendStream`]) on which the leader
//! sends AppendEntries without waiting for earlier replies (at most
//! [`APPEND_PIPELINE_DEPTH`] unanswered), and the follower feeds them to
//! `Raft::stream_append`, which answers in order. A follower's log store
//! group-commits the appends that arrive while it syncs.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use kiwi_resp::{Frame, Protocol};
use kiwi_runtime::buggify::buggify;
use kiwi_runtime::io::{ReadHalf, WriteHalf};
use kiwi_runtime::sync::{mpsc, Mutex};
use kiwi_runtime::task::JoinHandle;
use kiwi_runtime::time::Instant;
use kiwi_runtime::tls::PeerStream;
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};

use crate::leadership::{Leadership, PeerAcks};
use crate::peer_auth::PeerSecurity;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendError,
    StreamAppendResult, VoteRequest, VoteResponse,
};
use openraft::vote::RaftLeaderId;
use openraft::OptionalSend;
use serde::{Deserialize, Serialize};

use crate::codec::{read_frame, write_frame};
use crate::types::{KiwiNode, NodeId, Snapshot, SnapshotMeta, TypeConfig, Vote};

/// Bytes of a snapshot per chunk frame.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// AppendEntries requests a replication stream may have sent but not yet
/// seen answered.
pub const APPEND_PIPELINE_DEPTH: usize = 16;

/// A follower's answer to one request of an append stream.
pub type StreamReply = Result<StreamAppendResult<TypeConfig>, String>;

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
    /// Turns this connection into an append stream: every later frame from
    /// the leader is one `AppendEntriesRequest`, every frame back one
    /// [`StreamReply`], in request order.
    AppendStream,
    /// PUBLISHed messages (channel, payload) relayed from the node a client
    /// published on, for this node's subscribers (best effort, in order).
    Publish(Vec<(Bytes, Bytes)>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    Append(Result<AppendEntriesResponse<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    /// `Ok(None)`: chunk stored, send the next one.
    Snapshot(Result<Option<SnapshotResponse<TypeConfig>>, String>),
    Forward(Vec<Frame>),
    Published,
}

/// A request/reply connection to one peer's Raft address.
pub struct Peer {
    addr: String,
    security: PeerSecurity,
    /// Behind a mutex only to make `Peer` `Sync` (OpenRaft requires it;
    /// madsim's stream is not): `&mut self` methods use `get_mut`, no locking.
    conn: Mutex<Option<PeerStream>>,
}

impl Peer {
    pub fn new(addr: String, security: PeerSecurity) -> Peer {
        Peer {
            addr,
            security,
            conn: Mutex::new(None),
        }
    }

    /// Sends `req` and waits for its reply, within `timeout`. Any failure
    /// drops the connection; the next call dials again.
    pub async fn call(&mut self, req: &RaftRpc, timeout: Duration) -> io::Result<RaftReply> {
        let conn = self.conn.get_mut();
        if buggify(0.01) {
            *conn = None;
            return Err(io::Error::other("buggify: raft rpc failed"));
        }
        let attempt = async {
            if conn.is_none() {
                *conn = Some(self.security.dial(&self.addr).await?);
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
pub struct NetworkFactory {
    pub security: PeerSecurity,
    /// Where every stream records the requests its peer accepted.
    pub acks: PeerAcks,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &KiwiNode) -> Network {
        Network {
            target,
            peer: Peer::new(node.raft_addr.clone(), self.security.clone()),
            append_conn: Mutex::new(None),
            acks: self.acks.clone(),
        }
    }
}

pub struct Network {
    target: NodeId,
    peer: Peer,
    /// The append-stream connection between replication sessions (behind
    /// a mutex only for `Sync`, like [`Peer::conn`]).
    append_conn: Mutex<Option<PeerStream>>,
    acks: PeerAcks,
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

/// The task writing an append stream's requests; aborted if the response
/// side is dropped first (OpenRaft ended the replication session).
struct Writer(Option<JoinHandle<Option<WriteHalf<PeerStream>>>>);

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// What the response side learns of each request written: the leadership
/// it carried and when it was written, to record if the peer accepts it.
struct Sent {
    leadership: Leadership,
    sent_at: Instant,
}

/// The response side of an append stream.
struct AppendResponses<'s> {
    target: NodeId,
    reader: Option<ReadHalf<PeerStream>>,
    /// One message per request written, in order; closed when the writer
    /// is done.
    sent: mpsc::Receiver<Sent>,
    acks: PeerAcks,
    reply_timeout: Duration,
    writer: Writer,
    /// Where a connection goes back once its session ended with every
    /// request answered, for the next session to reuse.
    idle: &'s mut Option<PeerStream>,
}

/// Writes each request of `input` as a frame, taking a pipeline slot first.
/// Returns the write half once `input` ends; `None` after a failed write
/// (the response side then times out on the unanswered request).
async fn write_requests<S>(
    mut input: S,
    mut writer: WriteHalf<PeerStream>,
    slots: mpsc::Sender<Sent>,
) -> Option<WriteHalf<PeerStream>>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    while let Some(req) = input.next().await {
        let permit = slots.reserve().await.ok()?;
        kiwi_runtime::buggify::delay(0.02, 50).await;
        if buggify(0.002) {
            tracing::debug!("buggify: append stream broken");
            return None;
        }
        // Stamped before the write: the peer sees the request no earlier.
        permit.send(Sent {
            leadership: req.vote.leader_id().to_committed(),
            sent_at: kiwi_runtime::time::instant(),
        });
        if let Err(e) = write_frame(&mut writer, &req).await {
            tracing::debug!(error = %e, "append stream write failed");
            return None;
        }
    }
    Some(writer)
}

impl AppendResponses<'_> {
    /// The next reply, in request order; `None` once every request sent is
    /// answered and the input has ended.
    async fn next(
        &mut self,
    ) -> Option<Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>> {
        let reader = self.reader.as_mut()?;
        let Some(sent) = self.sent.recv().await else {
            self.park().await;
            return None;
        };
        let read = read_frame::<StreamReply>(reader);
        let reply = match kiwi_runtime::time::timeout(self.reply_timeout, read).await {
            Ok(Ok(Some(reply))) => reply,
            Ok(Ok(None)) => Err("peer closed the append stream".to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("append stream reply timed out".to_string()),
        };
        match &reply {
            // Both mean the peer took this node as its leader when the
            // request arrived; only a higher vote refuses it.
            Ok(Ok(_)) | Ok(Err(StreamAppendError::Conflict(_))) => {
                self.acks.record(self.target, sent.leadership, sent.sent_at)
            }
            Ok(Err(StreamAppendError::HigherVote(_))) => {}
            // A transport failure ends the session and the connection with it.
            Err(_) => self.reader = None,
        }
        Some(reply.map_err(|msg| remote(self.target, msg)))
    }

    /// Every request is answered and the writer is done: the connection is
    /// clean, keep it for the next session. The writer task is returning
    /// (dropping its slot sender was its last act), so this waits no longer.
    async fn park(&mut self) {
        let (Some(reader), Some(handle)) = (self.reader.take(), self.writer.0.take()) else {
            return;
        };
        if let Ok(Some(writer)) = handle.await {
            *self.idle = Some(reader.unsplit(writer));
        }
    }
}

impl Network {
    /// The parked append-stream connection, or a new one announced with
    /// [`RaftRpc::AppendStream`].
    async fn append_stream_conn(&mut self, timeout: Duration) -> io::Result<PeerStream> {
        if let Some(conn) = self.append_conn.get_mut().take() {
            return Ok(conn);
        }
        let open = async {
            let mut stream = self.peer.security.dial(&self.peer.addr).await?;
            write_frame(&mut stream, &RaftRpc::AppendStream).await?;
            Ok::<_, io::Error>(stream)
        };
        kiwi_runtime::time::timeout(timeout, open)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "append stream setup timed out"))?
    }
}

impl RaftNetworkV2<TypeConfig> for Network {
    type SnapshotData = std::fs::File;

    /// Pipelined replication on a dedicated connection (see the module docs).
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            let stream = self
                .append_stream_conn(option.soft_ttl())
                .await
                .map_err(|e| RPCError::Unreachable(unreachable(e)))?;
            let (reader, writer) = kiwi_runtime::io::split(stream);
            // The writer takes a slot per request before sending it and the
            // response side takes it back before reading the reply, so at most
            // `APPEND_PIPELINE_DEPTH` (+1 being read) requests are unanswered.
            let (slots, sent) = mpsc::channel(APPEND_PIPELINE_DEPTH);
            let writer = kiwi_runtime::task::spawn(write_requests(input, writer, slots));
            let responses = AppendResponses {
                target: self.target,
                reader: Some(reader),
                sent,
                acks: self.acks.clone(),
                reply_timeout: option.hard_ttl(),
                writer: Writer(Some(writer)),
                idle: self.append_conn.get_mut(),
            };
            let stream = futures_util::stream::unfold(responses, |mut r| async move {
                let item = r.next().await?;
                Some((item, r))
            });
            Ok(Box::pin(stream) as BoxStream<'s, _>)
        })
    }

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
