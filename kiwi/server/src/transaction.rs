//! MULTI / EXEC / DISCARD / WATCH / UNWATCH on the connection side.
//!
//! The connection queues a transaction's commands (answering `+QUEUED`)
//! and, at EXEC, hands the storage commands to the storage runtime as one
//! request (standalone: the executor checks the watched keys and runs them
//! back to back, see `kiwi_cmd::watch`) or to Raft as one proposal (cluster
//! mode: one log entry, applied in one executor step on every replica).
//! Connection commands queued in between (PING, ECHO, SELECT, CLIENT, ...)
//! run here once the transaction is known to go ahead, so an aborted EXEC
//! has no effect at all.

use bytes::Bytes;
use kiwi_cmd::watch::{guard_args, DIGEST_CMD, MAX_WATCHED_KEYS_PER_CLIENT};
use kiwi_cmd::{CommandSpec, QueuedCmd, Reply, Route};
use kiwi_raft::{ClusterNode, SubmitCmd};
use kiwi_resp::{Frame, Protocol};
use kiwi_runtime::sync::oneshot;

use crate::conn_cmds;
use crate::connection::{ConnDeps, ConnState};
use crate::pubsub;
use crate::storage_worker::{StorageOp, StorageRequest};

/// An open MULTI block.
pub struct Multi {
    queued: Vec<Queued>,
    queued_bytes: u64,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    aborted: bool,
    /// The database and protocol the next queued command will run with
    /// (a queued SELECT or HELLO changes them for the commands after it).
    db: usize,
    proto: Protocol,
}

struct Queued {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    db: usize,
    proto: Protocol,
}

impl Multi {
    /// Marks the transaction as failed (a command was refused while queuing).
    /// Whether EXEC would change data (CLIENT PAUSE WRITE holds it back).
    pub fn has_writes(&self) -> bool {
        self.queued
            .iter()
            .any(|q| crate::connection::pausable_by_write_pause(q.spec))
    }

    pub fn abort(&mut self) {
        self.aborted = true;
    }
}

/// Commands that act at once even inside MULTI (everything else is queued).
pub fn runs_immediately(name: &str) -> bool {
    matches!(
        name,
        "multi" | "exec" | "discard" | "watch" | "quit" | "reset"
    )
}

/// Queues a validated command inside MULTI; the reply is `+QUEUED` or the
/// error that aborts the transaction.
pub fn queue(
    state: &mut ConnState,
    deps: &ConnDeps,
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
) -> Frame {
    let cluster = deps.cluster.is_some();
    let limit_bytes = deps.shared.config().client_query_buffer_limit;
    let Some(multi) = state.multi.as_mut() else {
        debug_assert!(false, "queue() outside MULTI");
        return Frame::error("ERR EXEC without MULTI");
    };
    if spec.flags.contains("no_multi")
        || matches!(
            spec.name,
            "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe"
        )
    {
        // They change the connection's mode; see docs/compatibility.md.
        multi.abort();
        return Frame::error("ERR Command not allowed inside a transaction");
    }
    if cluster && matches!(spec.name, "select" | "hello") {
        // One log entry runs with one database and protocol (see docs/compatibility.md).
        multi.abort();
        return Frame::error(format!(
            "ERR {} inside MULTI is not supported in cluster mode",
            spec.name.to_ascii_uppercase()
        ));
    }
    let bytes: u64 = args.iter().map(|a| a.len() as u64 + 16).sum();
    if multi.queued_bytes + bytes > limit_bytes {
        // Queued commands live in memory until EXEC: bound them like the
        // query buffer they came from.
        multi.abort();
        multi.queued.clear();
        multi.queued_bytes = 0;
        return Frame::error("ERR transaction exceeds client-query-buffer-limit; discarded");
    }
    multi.queued_bytes += bytes;
    let (db, proto) = (multi.db, multi.proto);
    match spec.name {
        "select" => {
            if let Some(n) = parse_small(&args[1]).filter(|&n| n < kiwi_storage::DATABASES) {
                multi.db = n;
            }
        }
        "hello" if args.len() >= 2 => match parse_small(&args[1]) {
            Some(2) => multi.proto = Protocol::Resp2,
            Some(3) => multi.proto = Protocol::Resp3,
            _ => {}
        },
        _ => {}
    }
    multi.queued.push(Queued {
        spec,
        args,
        db,
        proto,
    });
    Frame::simple("QUEUED")
}

fn parse_small(arg: &[u8]) -> Option<usize> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// Runs MULTI, EXEC, DISCARD, WATCH or UNWATCH (outside a queue). `None`
/// if the storage runtime is gone (the server is shutting down).
pub async fn command(
    deps: &ConnDeps,
    state: &mut ConnState,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Option<Frame> {
    match spec.name {
        "multi" => {
            if state.multi.is_some() {
                return Some(Frame::error("ERR MULTI calls can not be nested"));
            }
            state.multi = Some(Multi {
                queued: Vec::new(),
                queued_bytes: 0,
                aborted: false,
                db: state.db,
                proto: state.proto,
            });
            Some(Frame::ok())
        }
        "discard" => {
            if state.multi.take().is_none() {
                return Some(Frame::error("ERR DISCARD without MULTI"));
            }
            unwatch(deps, state).await?;
            Some(Frame::ok())
        }
        "exec" => {
            let Some(multi) = state.multi.take() else {
                return Some(Frame::error("ERR EXEC without MULTI"));
            };
            if multi.aborted {
                unwatch(deps, state).await?;
                return Some(Frame::error(
                    "EXECABORT Transaction discarded because of previous errors.",
                ));
            }
            exec(deps, state, multi).await
        }
        "watch" => {
            if state.multi.is_some() {
                return Some(Frame::error("ERR WATCH inside MULTI is not allowed"));
            }
            if let Some(cluster) = &deps.cluster {
                return Some(watch_in_cluster(cluster, state, &args[1..]).await);
            }
            let op = StorageOp::Watch {
                client: state.client.id,
                keys: args[1..].to_vec(),
            };
            let reply = storage_call(deps, state, op).await?;
            state.watching = true;
            Some(reply)
        }
        "unwatch" => {
            unwatch(deps, state).await?;
            Some(Frame::ok())
        }
        _ => Some(kiwi_cmd::error::unknown_command(args).into_frame()),
    }
}

/// RESET's part: leave MULTI and forget watched keys.
pub async fn reset(deps: &ConnDeps, state: &mut ConnState) -> Option<()> {
    state.multi = None;
    unwatch(deps, state).await
}

/// Cluster mode: WATCH reads the keys' digests (linearizably); EXEC
/// sends them along as a guard (see `kiwi_cmd::watch`).
async fn watch_in_cluster(cluster: &ClusterNode, state: &mut ConnState, keys: &[Bytes]) -> Frame {
    if state.watched_digests.len() + keys.len() > MAX_WATCHED_KEYS_PER_CLIENT {
        return Frame::error(format!(
            "ERR a client may watch at most {MAX_WATCHED_KEYS_PER_CLIENT} keys"
        ));
    }
    let mut args = vec![Bytes::from_static(DIGEST_CMD.as_bytes())];
    args.extend(keys.iter().cloned());
    let Some(read) = SubmitCmd::from_args(args) else {
        return Frame::error("ERR internal: digest command");
    };
    let reply = cluster
        .submit(state.db, state.proto, false, vec![read])
        .await
        .pop();
    match reply {
        Some(Frame::Array(digests)) if digests.len() == keys.len() => {
            for (key, digest) in keys.iter().zip(digests) {
                let Frame::Bulk(digest) = digest else {
                    return Frame::error("ERR internal: malformed digest");
                };
                state.watched_digests.push((state.db, key.clone(), digest));
            }
            Frame::ok()
        }
        Some(Frame::Error(e)) => Frame::Error(e),
        _ => Frame::error("ERR internal: malformed digest reply"),
    }
}

/// Forgets this connection's watched keys (nothing to do if it has none).
pub async fn unwatch(deps: &ConnDeps, state: &mut ConnState) -> Option<()> {
    state.watched_digests.clear();
    if !state.watching {
        return Some(());
    }
    state.watching = false;
    let op = StorageOp::Unwatch {
        client: state.client.id,
    };
    storage_call(deps, state, op).await.map(|_| ())
}

async fn storage_call(deps: &ConnDeps, state: &ConnState, op: StorageOp) -> Option<Frame> {
    let (tx, rx) = oneshot::channel();
    let req = StorageRequest::new(state.db, state.proto, state.client.clone(), op, tx);
    deps.storage.send(req).await.ok()?;
    match rx.await.ok()?.pop() {
        Some(Reply::Frame(f)) => Some(f),
        _ => None,
    }
}

/// EXEC of a transaction that queued without errors.
async fn exec(deps: &ConnDeps, state: &mut ConnState, multi: Multi) -> Option<Frame> {
    // The storage commands run together; the others wait for the verdict.
    let mut local: Vec<Option<Queued>> = Vec::with_capacity(multi.queued.len());
    let mut stored: Vec<QueuedCmd> = Vec::new();
    for q in multi.queued {
        if q.spec.route == Route::Storage {
            stored.push(QueuedCmd {
                db: q.db,
                proto: q.proto,
                spec: q.spec,
                args: q.args,
            });
            local.push(None);
        } else {
            local.push(Some(q));
        }
    }
    let results = match &deps.cluster {
        Some(cluster) => {
            let watched = std::mem::take(&mut state.watched_digests);
            let mut cmds = Vec::with_capacity(stored.len() + 1);
            if !watched.is_empty() {
                let guard = SubmitCmd::from_args(guard_args(stored.len(), &watched));
                cmds.extend(guard);
            }
            cmds.extend(
                stored
                    .into_iter()
                    .map(|c| SubmitCmd::from_spec(c.spec, c.args)),
            );
            let mut frames = match cluster
                .submit_transaction(state.db, state.proto, state.stale_reads, cmds)
                .await
            {
                Ok(frames) => frames,
                Err(frame) => return Some(frame),
            };
            if !watched.is_empty() {
                // The guard's own reply: a null array if a watched key changed.
                match frames.first() {
                    Some(Frame::NullArray) => return Some(Frame::NullArray),
                    Some(_) => {
                        frames.remove(0);
                    }
                    None => return Some(Frame::error("ERR missing reply inside EXEC")),
                }
            }
            frames
        }
        None => {
            let op = StorageOp::Exec {
                client: state.client.id,
                cmds: stored,
            };
            state.watching = false; // the executor forgets them either way
            match storage_call(deps, state, op).await? {
                Frame::Array(frames) => frames,
                // Aborted by WATCH (a null array), or the group commit failed.
                other => return Some(other),
            }
        }
    };
    let mut results = results.into_iter();
    let mut replies = Vec::with_capacity(local.len());
    for slot in local {
        let reply = match slot {
            None => results
                .next()
                .unwrap_or_else(|| Frame::error("ERR missing reply inside EXEC")),
            // A queued UNWATCH: the transaction already forgot its keys.
            Some(q) if q.spec.route == Route::Transaction => Frame::ok(),
            Some(q) if q.spec.route == Route::PubSub => {
                pubsub::execute(state, deps, q.spec.name, &q.args)
                    .pop()
                    .unwrap_or_else(|| Frame::error("ERR missing reply inside EXEC"))
            }
            Some(q) => conn_cmds::execute(state, &deps.shared, q.spec.name, &q.args).0,
        };
        replies.push(reply);
    }
    Some(Frame::Array(replies))
}
