//! One client connection: read, decode, route, reply, in request order.
//!
//! Requests decoded from one read are grouped: consecutive storage commands
//! travel to the storage runtime as one batch (one channel message, one
//! group-commit fsync), connection commands are answered here. Before any
//! locally answered command the pending batch is flushed, so replies always
//! leave in request order. Protocol errors get Redis's `-ERR Protocol
//! error: ...` and close this connection only.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kiwi_cmd::blocking::BlockedTicket;
use kiwi_cmd::{lookup, ClientHandle, CommandSpec, Reply, Route, Shared};
use kiwi_resp::{Frame, Protocol, RequestBatch, RequestDecoder, RequestLimits};
use kiwi_runtime::io::{split, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use kiwi_runtime::net::TcpStream;
use kiwi_runtime::sync::{mpsc, oneshot, watch};

use kiwi_raft::node::is_raft_admin;
use kiwi_raft::{ClusterNode, SubmitCmd};

use crate::conn_cmds::{self, After};
use crate::monitor;
use crate::pubsub::{self, Subscriptions};
use crate::storage_worker::{StorageCmd, StorageOp, StorageRequest};
use crate::transaction::{self, Multi};

/// What every connection needs from the server.
#[derive(Clone)]
pub struct ConnDeps {
    pub shared: Arc<Shared>,
    pub storage: mpsc::Sender<StorageRequest>,
    pub shutdown: watch::Receiver<bool>,
    /// Cluster mode: storage commands go through Raft instead.
    pub cluster: Option<Arc<ClusterNode>>,
}

/// Per-connection protocol state.
pub struct ConnState {
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub client: Arc<ClientHandle>,
    /// Cluster mode, after READONLY: reads are served from this node's
    /// state without a ReadIndex round (fast, possibly stale).
    pub stale_reads: bool,
    /// Inside MULTI: the queued transaction.
    pub multi: Option<Multi>,
    /// The executor holds WATCHed keys for this client (standalone).
    pub watching: bool,
    /// Cluster mode: (db, key, digest) of each WATCHed key.
    pub watched_digests: Vec<(usize, Bytes, Bytes)>,
    /// Pub/sub channels and patterns (after the first SUBSCRIBE).
    pub pubsub: Option<Subscriptions>,
    /// CLIENT REPLY: which replies this client gets.
    pub reply_mode: ReplyMode,
    /// The command being handled gets no reply (CLIENT REPLY OFF/SKIP);
    /// its reply, once written to the output from `reply_mark` on, is cut.
    pub silenced: bool,
    pub reply_mark: usize,
}

/// CLIENT REPLY ON | OFF | SKIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// No reply for the next command, then On.
    SkipNext,
}

/// Most commands sent to storage in one message; bounds per-message work.
const BATCH_MAX_CMDS: usize = 1024;
/// Read buffer growth step.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Redis 7.0's reply to a non-loopback client in protected mode, verbatim.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Serves one client over a plain TCP connection.
pub async fn serve(stream: TcpStream, peer: SocketAddr, deps: ConnDeps) {
    let local = prepare(&stream);
    serve_stream(stream, peer, local, deps).await;
}

/// Sets up an accepted socket (no Nagle delay); returns its local address.
fn prepare(stream: &TcpStream) -> String {
    let _ = stream.set_nodelay(true);
    stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// Longest a TLS client may take to complete its handshake.
const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Serves one client over TLS: the handshake (bounded in time), then the
/// same RESP connection as on the plain port.
pub async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    tls: kiwi_runtime::tls::TlsAcceptor,
    deps: ConnDeps,
) {
    let local = prepare(&stream);
    let handshake = tls.accept(stream);
    match kiwi_runtime::time::timeout(Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS), handshake)
        .await
    {
        Ok(Ok(tls_stream)) => serve_stream(tls_stream, peer, local, deps).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_stream<S>(stream: S, peer: SocketAddr, local: String, deps: ConnDeps)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let shared = deps.shared.clone();
    shared
        .stats
        .total_connections_received
        .fetch_add(1, Relaxed);
    let cfg = shared.config();
    let (mut rd, mut wr) = split(stream);

    if shared.connected_clients() as u64 >= cfg.maxclients {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = wr
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        let _ = wr.flush().await;
        return;
    }
    let default_nopass = shared.acl.user("default").is_some_and(|u| u.nopass);
    if cfg.protected_mode && default_nopass && !peer.ip().to_canonical().is_loopback() {
        let _ = wr.write_all(PROTECTED_MODE_DENIED).await;
        let _ = wr.flush().await;
        return;
    }
    let client = shared.register_client(peer.to_string(), local);
    let mut state = ConnState {
        db: 0,
        proto: Protocol::Resp2,
        authenticated: conn_cmds::default_login(&shared),
        client: client.clone(),
        stale_reads: false,
        multi: None,
        watching: false,
        watched_digests: Vec::new(),
        pubsub: None,
        reply_mode: ReplyMode::On,
        silenced: false,
        reply_mark: 0,
    };
    pubsub::open_inbox(&mut state, &shared);
    let mut shutdown = deps.shutdown.clone();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::new();
    let mut decoder = RequestDecoder::new();
    let mut requests = RequestBatch::default();

    'conn: loop {
        let cfg = shared.config();
        // `timeout 0` (the default) never closes an idle client: then no
        // timer is armed at all (a dropped madsim timer stays queued until
        // its deadline, so one per request would pile up in simulations).
        let idle_timeout = (cfg.timeout > 0).then(|| Duration::from_secs(cfg.timeout));
        inbuf.reserve(READ_CHUNK_BYTES);
        let n = tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            r = read_some(&mut rd, &mut inbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            msg = pubsub::next_message(&mut state.pubsub) => {
                // Published messages: written out in bounded bursts.
                let mut next = msg;
                let mut burst = 0;
                while let Some(m) = next {
                    if let Some(frame) = pubsub::message_frame(&state, m) {
                        frame.encode(state.proto, &mut out);
                    }
                    burst += 1;
                    next = if burst < pubsub::DRAIN_MAX_MESSAGES {
                        pubsub::try_next_message(&mut state.pubsub)
                    } else {
                        None
                    };
                }
                // A subscriber that stopped reading blocks here; PUBLISH
                // kills it at its output limit, which must end the wait.
                let written = tokio::select! {
                    biased; // replayable order: see kiwi_runtime's crate docs
                    ok = write_out(&shared, &mut wr, &mut out) => ok,
                    _ = client.kill_signal.notified() => false,
                };
                if !written {
                    break;
                }
                continue;
            }
            _ = client.kill_signal.notified() => break,
            _ = shutdown.changed() => break,
            // Subscribers wait for messages, not for their own requests.
            _ = kiwi_runtime::time::sleep(idle_timeout.unwrap_or_default()),
                if idle_timeout.is_some() && !pubsub::listening(&state) => break,
        };
        if client.killed.load(Relaxed) {
            break;
        }
        shared
            .stats
            .total_net_input_bytes
            .fetch_add(n as u64, Relaxed);
        client
            .last_interaction_ms
            .store(kiwi_runtime::time::now_ms(), Relaxed);
        // What was queued for the client before these commands goes first.
        pubsub::drain_into(&mut state, &mut out);

        let mut batch: Vec<StorageCmd> = Vec::new();
        let mut close_after = false;
        'requests: loop {
            let limits = RequestLimits {
                max_bulk_bytes: cfg.proto_max_bulk_len as usize,
                authenticated: state.authenticated,
                ..RequestLimits::default()
            };
            decoder.decode_batch(&mut inbuf, &limits, changes_limits, &mut requests);
            if requests.is_empty() && requests.error().is_none() {
                break;
            }
            for i in 0..requests.len() {
                let args = requests.args(i);
                // CLIENT REPLY: cut the previous command's reply if it was
                // silenced, and start this one from a known output position.
                let replies_matter =
                    state.silenced || state.reply_mode != ReplyMode::On || is_client_reply(&args);
                if replies_matter {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                        break 'conn;
                    }
                    end_silenced(&mut state, &mut out);
                    state.reply_mark = out.len();
                    state.silenced = match state.reply_mode {
                        ReplyMode::On => false,
                        ReplyMode::Off => true,
                        ReplyMode::SkipNext => {
                            state.reply_mode = ReplyMode::On;
                            true
                        }
                    };
                }
                if is_cluster_command(&args) {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                        break 'conn;
                    }
                    let frame = match state.multi.as_mut() {
                        Some(multi) => {
                            multi.abort();
                            Frame::error("ERR Command not allowed inside a transaction")
                        }
                        None => cluster_command(&deps, &mut state, &args).await,
                    };
                    frame.encode(state.proto, &mut out);
                    continue;
                }
                let spec = match validate(&state, &shared, &args) {
                    Ok(spec) => {
                        if shared.pubsub.has_monitors() {
                            monitor::feed(&shared, &state, spec, &args);
                        }
                        spec
                    }
                    Err(frame) => {
                        if let Some(multi) = state.multi.as_mut() {
                            multi.abort();
                        }
                        if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                            break 'conn;
                        }
                        frame.encode(state.proto, &mut out);
                        continue;
                    }
                };
                if state.proto == Protocol::Resp2
                    && pubsub::subscribed(&state)
                    && !pubsub::allowed_when_subscribed(spec.name)
                {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                        break 'conn;
                    }
                    pubsub::not_allowed(spec.name).encode(state.proto, &mut out);
                    continue;
                }
                let writes = pausable_by_write_pause(spec)
                    || (spec.name == "exec"
                        && state.multi.as_ref().is_some_and(|m| m.has_writes()));
                if shared
                    .pause
                    .blocks(kiwi_runtime::time::now_ms(), writes)
                    .is_some()
                {
                    // CLIENT PAUSE: what came before runs and is answered; this
                    // command waits for the pause to end.
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await
                        || !write_out(&shared, &mut wr, &mut out).await
                        || !wait_unpaused(&shared, &client, &mut shutdown, writes).await
                    {
                        break 'conn;
                    }
                    state.reply_mark = 0; // the output was written and emptied
                }
                if state.multi.is_some() && !transaction::runs_immediately(spec.name) {
                    transaction::queue(&mut state, &deps, spec, args).encode(state.proto, &mut out);
                    continue;
                }
                if spec.route == Route::PubSub
                    || (spec.name == "ping"
                        && state.proto == Protocol::Resp2
                        && pubsub::subscribed(&state))
                {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                        break 'conn;
                    }
                    let started = kiwi_runtime::time::instant();
                    let replies = if spec.name == "ping" {
                        vec![pubsub::subscribed_ping(&args)]
                    } else {
                        pubsub::execute(&mut state, &deps, spec.name, &args)
                    };
                    if let Some(first) = replies.first() {
                        record_call(&state, &shared, spec, &args, started, first);
                    }
                    for frame in replies {
                        frame.encode(state.proto, &mut out);
                    }
                    continue;
                }
                if spec.route == Route::Transaction || spec.name == "reset" {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                        break 'conn;
                    }
                    let started = kiwi_runtime::time::instant();
                    let frame = if spec.name == "reset" {
                        pubsub::unsubscribe_all(&mut state, &shared);
                        match transaction::reset(&deps, &mut state).await {
                            Some(()) => conn_cmds::execute(&mut state, &shared, spec.name, &args).0,
                            None => break 'conn,
                        }
                    } else {
                        match transaction::command(&deps, &mut state, spec, &args).await {
                            Some(frame) => frame,
                            None => break 'conn,
                        }
                    };
                    record_call(&state, &shared, spec, &args, started, &frame);
                    frame.encode(state.proto, &mut out);
                    continue;
                }
                if spec.name == "wait" {
                    if !flush_batch(&deps, &mut state, &mut batch, &mut out).await
                        || !write_out(&shared, &mut wr, &mut out).await
                    {
                        break 'conn;
                    }
                    state.reply_mark = 0; // the output was written and emptied
                    let started = kiwi_runtime::time::instant();
                    let Some(frame) =
                        crate::wait::execute(&deps, &args, &client, &mut shutdown).await
                    else {
                        break 'conn;
                    };
                    record_call(&state, &shared, spec, &args, started, &frame);
                    frame.encode(state.proto, &mut out);
                    continue;
                }
                let started = kiwi_runtime::time::instant();
                match route(&mut state, &shared, spec, &args) {
                    Routed::Storage(spec) => {
                        // In cluster mode blocking commands never wait (they are
                        // log entries; see docs/compatibility.md).
                        let blocking =
                            deps.cluster.is_none() && kiwi_cmd::blocking::is_blocking(spec.name);
                        batch.push(StorageCmd { spec, args });
                        if !blocking && batch.len() < BATCH_MAX_CMDS {
                            continue;
                        }
                        // A blocking command ends its batch: what follows it must
                        // wait until it is answered.
                        match flush(&deps, &mut state, &mut batch, &mut out).await {
                            Flushed::Done => {}
                            Flushed::Gone => break 'conn,
                            Flushed::Blocked(ticket) => {
                                // Replies before the blocking command go out now.
                                if !write_out(&shared, &mut wr, &mut out).await {
                                    break 'conn;
                                }
                                state.reply_mark = 0; // the output was emptied
                                let limit = cfg.client_query_buffer_limit;
                                let waited = wait_blocked(
                                    ticket,
                                    &mut rd,
                                    &mut inbuf,
                                    &client,
                                    &mut shutdown,
                                    limit,
                                )
                                .await;
                                match waited {
                                    Some(frame) => frame.encode(state.proto, &mut out),
                                    None => break 'conn,
                                }
                            }
                        }
                    }
                    Routed::Local(frame, after) => {
                        record_call(&state, &shared, spec, &args, started, &frame);
                        if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                            break 'conn;
                        }
                        match after {
                            After::Continue => frame.encode(state.proto, &mut out),
                            After::Close => {
                                frame.encode(state.proto, &mut out);
                                close_after = true;
                                break 'requests;
                            }
                            After::Shutdown => {
                                tracing::warn!(%peer, "SHUTDOWN requested by a client");
                                shared.shutdown_requested.notify_one();
                                close_after = true;
                                break 'requests;
                            }
                        }
                    }
                }
            }
            if let Some(e) = requests.error() {
                if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
                    break 'conn;
                }
                tracing::debug!(%peer, error = %e, "protocol error; closing connection");
                Frame::error(e.reply_text()).encode(state.proto, &mut out);
                close_after = true;
                break;
            }
        }
        // The batch's chunk shares the read buffer's memory: let go of it
        // before the next read, or `reserve` must allocate a new buffer.
        requests.clear();
        if !flush_batch(&deps, &mut state, &mut batch, &mut out).await {
            break;
        }
        end_silenced(&mut state, &mut out);
        if !write_out(&shared, &mut wr, &mut out).await {
            break;
        }
        if close_after {
            break;
        }
        if inbuf.len() as u64 > cfg.client_query_buffer_limit {
            tracing::warn!(%peer, "closing client that exceeded client-query-buffer-limit");
            break;
        }
    }
    // Watched keys die with the connection (best effort: at shutdown the
    // storage runtime may already be gone, and then so is the registry).
    let _ = transaction::unwatch(&deps, &mut state).await;
    pubsub::close(&mut state, &shared);
    shared.unregister_client(client.id);
}

/// Reads what the socket has into `inbuf`. In a buggified simulation some
/// reads take only a few bytes, so requests arrive split at every point.
async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    inbuf: &mut BytesMut,
) -> std::io::Result<usize> {
    let max_bytes = kiwi_runtime::buggify::shrink(READ_CHUNK_BYTES, 0.1);
    if max_bytes < READ_CHUNK_BYTES {
        rd.take(max_bytes as u64).read_buf(inbuf).await
    } else {
        rd.read_buf(inbuf).await
    }
}

/// Whether a command can change how the requests after it are decoded:
/// AUTH and HELLO log in (lifting the unauthenticated size limits), RESET
/// logs out. The decoder ends its batch after one, so the next request is
/// decoded with the new limits, as in Redis.
fn changes_limits(name: &[u8]) -> bool {
    ["auth", "hello", "reset"]
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

enum Routed {
    /// Run on the storage runtime as this command (looked up once, here).
    Storage(&'static CommandSpec),
    Local(Frame, After),
}

/// Looks a request up and checks it may run: the error reply if not
/// (unknown command, wrong arity, not authenticated). Inside MULTI such an
/// error aborts the transaction, as in Redis.
fn validate(
    state: &ConnState,
    shared: &Shared,
    args: &[Bytes],
) -> Result<&'static CommandSpec, Frame> {
    let reject = |spec: Option<&CommandSpec>, frame: Frame| {
        shared.calls.reject(spec, &frame);
        Err(frame)
    };
    let Some(spec) = lookup(&args[0]) else {
        return reject(None, kiwi_cmd::error::unknown_command(args).into_frame());
    };
    if !spec.arity_ok(args.len()) {
        return reject(
            Some(spec),
            kiwi_cmd::error::wrong_arity(spec.name).into_frame(),
        );
    }
    if !state.authenticated && !spec.flags.contains("no_auth") {
        return reject(Some(spec), Frame::error("NOAUTH Authentication required."));
    }
    if !shared.acl.is_open() {
        if let Some(denied) = acl_denies(state, shared, spec, args) {
            return reject(Some(spec), denied);
        }
    }
    shared.stats.total_commands_processed.fetch_add(1, Relaxed);
    if let Ok(mut last) = state.client.last_cmd.lock() {
        last.clear();
        last.push_str(spec.name);
    }
    Ok(spec)
}

/// The NOPERM error if the connection's user may not run this call
/// (command, keys, channels). Connections not logged in run only
/// `no_auth` commands, which every user may run.
fn acl_denies(
    state: &ConnState,
    shared: &Shared,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Option<Frame> {
    if !state.authenticated {
        return None;
    }
    let Some(user) = shared.acl.user(&state.client.user()) else {
        // Deleted meanwhile: ACL DELUSER is closing this connection.
        return Some(Frame::error("NOAUTH Authentication required."));
    };
    if let Some(denied) = user.check(spec, args) {
        return Some(denied);
    }
    let channels_ok = match spec.name {
        "publish" => user.may_use_channels(&args[1..2], false),
        "subscribe" => user.may_use_channels(&args[1..], false),
        "psubscribe" => user.may_use_channels(&args[1..], true),
        _ => true,
    };
    (!channels_ok).then(kiwi_cmd::acl::channels_denied)
}

/// Decides where a validated request runs, answering connection commands here.
fn route(
    state: &mut ConnState,
    shared: &Shared,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Routed {
    match spec.route {
        Route::Storage => Routed::Storage(spec),
        Route::Connection | Route::Transaction | Route::PubSub => {
            let (frame, after) = conn_cmds::execute(state, shared, spec.name, args);
            Routed::Local(frame, after)
        }
    }
}

/// Whether `args` is CLIENT REPLY (which decides about its own reply).
fn is_client_reply(args: &[Bytes]) -> bool {
    args.len() >= 2
        && args[0].eq_ignore_ascii_case(b"client")
        && args[1].eq_ignore_ascii_case(b"reply")
}

/// Drops the reply of a command CLIENT REPLY silenced (it is complete in
/// `out`: silenced commands are flushed one at a time).
fn end_silenced(state: &mut ConnState, out: &mut BytesMut) {
    if state.silenced {
        debug_assert!(
            state.reply_mark <= out.len(),
            "the mark is inside the output"
        );
        out.truncate(state.reply_mark.min(out.len()));
        state.silenced = false;
    }
}

/// Whether a WRITE-mode CLIENT PAUSE holds `spec` back: it may change data
/// or be propagated (Redis's write and may-replicate commands).
pub fn pausable_by_write_pause(spec: &CommandSpec) -> bool {
    spec.is_write() || matches!(spec.name, "publish" | "pfcount")
}

/// Waits until CLIENT PAUSE lets a command through; false if the
/// connection must close meanwhile (killed, shutdown). Each round lasts
/// until the pause's end or an UNPAUSE; the rounds are bounded by time, as
/// a pause may be extended while it lasts.
async fn wait_unpaused(
    shared: &Shared,
    client: &ClientHandle,
    shutdown: &mut watch::Receiver<bool>,
    writes: bool,
) -> bool {
    loop {
        // Registered before the check, so an UNPAUSE in between still wakes us.
        let unpaused = shared.pause.changed.notified();
        let Some(wait_ms) = shared.pause.blocks(kiwi_runtime::time::now_ms(), writes) else {
            return true;
        };
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            _ = client.kill_signal.notified() => return false,
            _ = shutdown.changed() => return false,
            _ = unpaused => {}
            _ = kiwi_runtime::time::sleep(Duration::from_millis(wait_ms)) => {}
        }
    }
}

/// Records a command answered on the network runtime (INFO commandstats,
/// errorstats, SLOWLOG).
fn record_call(
    state: &ConnState,
    shared: &Shared,
    spec: &CommandSpec,
    args: &[Bytes],
    started: kiwi_runtime::time::Instant,
    reply: &Frame,
) {
    let usec = started.elapsed().as_micros() as u64;
    shared
        .calls
        .record(&shared.config(), spec, usec, reply, args, &state.client);
}

/// Writes and clears `out`; false if the client is gone.
async fn write_out(
    shared: &Shared,
    wr: &mut (impl AsyncWrite + Unpin),
    out: &mut BytesMut,
) -> bool {
    if out.is_empty() {
        return true;
    }
    shared
        .stats
        .total_net_output_bytes
        .fetch_add(out.len() as u64, Relaxed);
    // madsim streams only send on flush(): always flush.
    if wr.write_all(out).await.is_err() || wr.flush().await.is_err() {
        return false;
    }
    out.clear();
    true
}

/// Waits for a blocked command's reply, its timeout, or the end of the
/// connection (disconnect, CLIENT KILL, shutdown: `None`). Keeps reading
/// the socket meanwhile, buffering pipelined requests, so a client that
/// disconnects stops waiting at once and is never handed an element.
async fn wait_blocked(
    mut ticket: BlockedTicket,
    rd: &mut (impl AsyncRead + Unpin),
    inbuf: &mut BytesMut,
    client: &ClientHandle,
    shutdown: &mut watch::Receiver<bool>,
    query_limit_bytes: u64,
) -> Option<Frame> {
    let timeout_ms = ticket.timeout_ms;
    let timer = async move {
        if timeout_ms == 0 {
            std::future::pending::<()>().await
        } else {
            kiwi_runtime::time::sleep_ms(timeout_ms).await
        }
    };
    tokio::pin!(timer);
    // Whether the client is still there to receive an answer.
    let alive = loop {
        inbuf.reserve(READ_CHUNK_BYTES);
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            reply = &mut ticket.rx => return reply.ok(),
            _ = &mut timer => break true,
            r = rd.read_buf(inbuf) => match r {
                Ok(n) if n > 0 && (inbuf.len() as u64) <= query_limit_bytes => continue,
                _ => break false,
            },
            _ = client.kill_signal.notified() => break false,
            _ = shutdown.changed() => break false,
        }
    };
    if ticket.cancel().await {
        return alive.then(|| ticket.timeout_reply.clone());
    }
    // The executor served us first: the reply is on its way.
    let reply = (&mut ticket.rx).await.ok();
    if alive {
        reply
    } else {
        None
    }
}

/// Outcome of sending a batch to storage.
enum Flushed {
    /// Every reply was appended to `out`.
    Done,
    /// Replies before the last command were appended; it blocked.
    Blocked(BlockedTicket),
    /// The storage runtime is gone (server shutting down).
    Gone,
}

/// Sends the pending batch to storage and appends its replies to `out`.
/// Returns false if the storage runtime is gone. Batches holding a blocking
/// command go through [`flush`].
async fn flush_batch(
    deps: &ConnDeps,
    state: &mut ConnState,
    batch: &mut Vec<StorageCmd>,
    out: &mut BytesMut,
) -> bool {
    match flush(deps, state, batch, out).await {
        Flushed::Done => true,
        Flushed::Gone => false,
        Flushed::Blocked(ticket) => {
            debug_assert!(false, "blocking commands are flushed on their own");
            // Unreachable by construction; answer like a zero-wait timeout.
            if ticket.cancel().await {
                ticket.timeout_reply.encode(state.proto, out);
            }
            true
        }
    }
}

async fn flush(
    deps: &ConnDeps,
    state: &mut ConnState,
    batch: &mut Vec<StorageCmd>,
    out: &mut BytesMut,
) -> Flushed {
    if batch.is_empty() {
        return Flushed::Done;
    }
    let cmds = std::mem::take(batch);
    let count = cmds.len();
    if let Some(cluster) = &deps.cluster {
        let specs: Vec<&'static CommandSpec> = cmds.iter().map(|c| c.spec).collect();
        let submit: Vec<SubmitCmd> = cmds
            .into_iter()
            .map(|c| SubmitCmd::from_spec(c.spec, c.args))
            .collect();
        let started = kiwi_runtime::time::instant();
        let frames = cluster
            .submit(state.db, state.proto, state.stale_reads, submit)
            .await;
        // Cluster mode times the whole round (replication included), shared
        // by the batch; the slow log shows command names only.
        let usec = started.elapsed().as_micros() as u64 / count.max(1) as u64;
        let cfg = deps.shared.config();
        for (spec, frame) in specs.iter().zip(&frames) {
            let name = [bytes::Bytes::from_static(spec.name.as_bytes())];
            deps.shared
                .calls
                .record(&cfg, spec, usec, frame, &name, &state.client);
        }
        for frame in frames {
            frame.encode(state.proto, out);
        }
        return Flushed::Done;
    }
    let (tx, rx) = oneshot::channel();
    let req = StorageRequest::new(
        state.db,
        state.proto,
        state.client.clone(),
        StorageOp::Commands(cmds),
        tx,
    );
    if deps.storage.send(req).await.is_err() {
        return Flushed::Gone;
    }
    let Ok(replies) = rx.await else {
        return Flushed::Gone;
    };
    debug_assert_eq!(replies.len(), count, "storage must answer every command");
    let mut blocked = None;
    for r in replies {
        match r {
            Reply::Frame(f) => f.encode(state.proto, out),
            Reply::Blocked(t) => {
                debug_assert!(blocked.is_none(), "a blocking command ends its batch");
                blocked = Some(t);
            }
        }
    }
    // Invalidations these commands caused follow their replies, as Redis
    // 7 sends a client's own invalidations after the command's reply.
    pubsub::drain_into(state, out);
    match blocked {
        Some(t) => Flushed::Blocked(t),
        None => Flushed::Done,
    }
}

/// RAFT.* admin commands and READONLY / READWRITE.
fn is_cluster_command(args: &[Bytes]) -> bool {
    is_raft_admin(args)
        || args[0].eq_ignore_ascii_case(b"readonly")
        || args[0].eq_ignore_ascii_case(b"readwrite")
}

/// Cluster-mode commands; standalone answers like Redis without cluster support.
async fn cluster_command(deps: &ConnDeps, state: &mut ConnState, args: &[Bytes]) -> Frame {
    if !state.authenticated {
        return Frame::error("NOAUTH Authentication required.");
    }
    let shared = &deps.shared;
    if is_raft_admin(args)
        && !shared.acl.is_open()
        && !shared
            .acl
            .user(&state.client.user())
            .is_some_and(|u| u.may_run_everything())
    {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Frame::error(format!(
            "NOPERM this user has no permissions to run the '{name}' command"
        ));
    }
    let Some(cluster) = &deps.cluster else {
        return Frame::error("ERR This instance has cluster support disabled");
    };
    if is_raft_admin(args) {
        return cluster.admin(args).await;
    }
    if args.len() != 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return kiwi_cmd::error::wrong_arity(&name).into_frame();
    }
    state.stale_reads = args[0].eq_ignore_ascii_case(b"readonly");
    Frame::ok()
}
