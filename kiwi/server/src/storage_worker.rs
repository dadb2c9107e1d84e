//! The storage runtime's worker: receives batches of commands from
//! connections over a bounded channel, executes them in order, makes them
//! durable per `appendfsync` (group commit: one WAL write, and under
//! `always` one fsync, for every batch queued at that moment), and sends the
//! replies back. It also runs the periodic jobs that touch the engine:
//! active expiry and the once-a-second WAL sync.
//!
//! In cluster mode a second bounded channel brings [`ExecutorJob`]s from
//! the Raft adapters (apply, snapshot, linearizable reads); active expiry is
//! then the leader's business (it proposes expiry entries), not a local tick.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kiwi_cmd::{ClientHandle, CommandSpec, Executor, ExecutorJob, QueuedCmd, Reply};
use kiwi_resp::Protocol;
use kiwi_runtime::sync::{mpsc, oneshot};
use kiwi_runtime::time::{interval, Instant, MissedTickBehavior};

/// One command for the executor: its canonical name from the command table
/// (looked up once, by the connection) and its arguments.
pub struct StorageCmd {
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

/// Work from one connection, answered in one message.
pub struct StorageRequest {
    pub db: usize,
    pub proto: Protocol,
    /// Who sent it (the slow log names the client).
    pub client: Arc<ClientHandle>,
    pub op: StorageOp,
    pub reply: oneshot::Sender<Vec<Reply>>,
    /// When the connection asked to queue it (the queue wait metric).
    pub queued_at: Instant,
}

impl StorageRequest {
    pub fn new(
        db: usize,
        proto: Protocol,
        client: Arc<ClientHandle>,
        op: StorageOp,
        reply: oneshot::Sender<Vec<Reply>>,
    ) -> StorageRequest {
        StorageRequest {
            db,
            proto,
            client,
            op,
            reply,
            queued_at: kiwi_runtime::time::instant(),
        }
    }
}

pub enum StorageOp {
    /// Pipelined commands: one reply each.
    Commands(Vec<StorageCmd>),
    /// WATCH these keys of the request's db for `client`: one reply.
    Watch { client: u64, keys: Vec<Bytes> },
    /// Forget what `client` watches: one reply (+OK).
    Unwatch { client: u64 },
    /// EXEC: one reply, the array of results or a null array.
    Exec { client: u64, cmds: Vec<QueuedCmd> },
}

impl StorageOp {
    /// Replies the executor sends back for this op.
    pub fn reply_count(&self) -> usize {
        match self {
            StorageOp::Commands(cmds) => cmds.len(),
            _ => 1,
        }
    }
}

/// Most queued requests executed before one group commit; bounds the
/// latency a batch adds to the first request in it.
const DRAIN_MAX_REQUESTS: usize = 256;

/// Most expiry-index entries one active-expiry step may visit, so expiry
/// never stalls client commands for long.
const EXPIRE_STEP_MAX_ENTRIES: usize = 200;

pub async fn run(
    mut executor: Executor,
    mut rx: mpsc::Receiver<StorageRequest>,
    mut jobs: Option<mpsc::Receiver<ExecutorJob>>,
    hz: u64,
) {
    // Cluster mode: Raft jobs arrive, the leader proposes expiry, the log is the WAL.
    let cluster = jobs.is_some();
    let mut expire_tick = interval(Duration::from_millis(1000 / hz.clamp(1, 500)));
    expire_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sync_tick = interval(Duration::from_secs(1));
    sync_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            job = next_job(&mut jobs) => match job {
                // No WAL flush per job: the fsynced Raft log is what makes
                // applied entries durable (a crash re-applies them after the
                // engine's stamp); the engine's WAL reaches the OS on the tick.
                Some(job) => job(&mut executor),
                None => jobs = None,
            },
            req = rx.recv() => {
                let Some(first) = req else { break };
                // Drain what else is already queued (bounded), execute it all,
                // then make it durable once: one WAL write (and under
                // `always` one fsync) acknowledges many clients' commands.
                let mut reqs = vec![first];
                while reqs.len() < DRAIN_MAX_REQUESTS {
                    match rx.try_recv() {
                        Ok(r) => reqs.push(r),
                        Err(_) => break,
                    }
                }
                let queue = &executor.shared().storage_queue;
                // Requests that were waiting when the worker came for them.
                queue.depth.store((reqs.len() + rx.len()) as u64, Relaxed);
                for req in &reqs {
                    queue.wait.record_us(req.queued_at.elapsed().as_micros() as u64);
                }
                let replies: Vec<Vec<Reply>> = reqs
                    .iter()
                    .map(|req| run_op(&mut executor, req))
                    .collect();
                let durable = executor.make_durable();
                for (req, mut replies) in reqs.into_iter().zip(replies) {
                    if durable.is_error() {
                        // Nothing in this group may be acknowledged as written.
                        for r in replies.iter_mut() {
                            if let Reply::Frame(f) = r {
                                *f = durable.clone();
                            }
                        }
                    }
                    // The connection may have gone away; its replies are simply dropped.
                    let _ = req.reply.send(replies);
                }
            }
            _ = expire_tick.tick(), if !cluster => {
                // Keep going while a step finds a full load of expired keys, at most
                // 10 steps per tick so clients are never starved.
                let mut steps = 0;
                while executor.active_expire(EXPIRE_STEP_MAX_ENTRIES) >= EXPIRE_STEP_MAX_ENTRIES && steps < 10 {
                    steps += 1;
                }
                // Expiry deletes reach the WAL like acknowledged writes do.
                let _ = executor.make_durable();
                executor.purge_blocked();
            }
            _ = sync_tick.tick() => {
                if cluster {
                    let _ = executor.make_durable();
                }
                executor.tick_second();
            }
        }
    }
    executor.shutdown();
    tracing::info!("storage runtime stopped");
}

fn run_op(executor: &mut Executor, req: &StorageRequest) -> Vec<Reply> {
    match &req.op {
        StorageOp::Commands(cmds) => {
            let shared = executor.shared().clone();
            let cfg = shared.config();
            cmds.iter()
                .map(|c| {
                    let started = kiwi_runtime::time::instant();
                    let reply = executor.execute(
                        Some(req.client.id),
                        req.db,
                        req.proto,
                        c.spec.name,
                        &c.args,
                    );
                    if let Reply::Frame(frame) = &reply {
                        let usec = started.elapsed().as_micros() as u64;
                        shared
                            .calls
                            .record(&cfg, c.spec, usec, frame, &c.args, &req.client);
                    }
                    reply
                })
                .collect()
        }
        StorageOp::Watch { client, keys } => {
            vec![Reply::Frame(executor.watch(*client, req.db, keys))]
        }
        StorageOp::Unwatch { client } => {
            executor.unwatch(*client);
            vec![Reply::Frame(kiwi_resp::Frame::ok())]
        }
        StorageOp::Exec { client, cmds } => vec![Reply::Frame(executor.exec(*client, cmds))],
    }
}

/// The next Raft job; pending forever in standalone mode.
async fn next_job(jobs: &mut Option<mpsc::Receiver<ExecutorJob>>) -> Option<ExecutorJob> {
    match jobs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
