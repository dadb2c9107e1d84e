//! The executor: runs commands on the storage runtime, one at a time.
//!
//! Commands arrive already looked up and arity-checked by the connection.
//! Each command reads what it needs and commits its writes as one atomic
//! batch; since a single worker owns the engine, a command never interleaves
//! with another (Redis's single-threaded semantics).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::{Engine, KeyKind, Meta, SyncMode};

use crate::blocking::{self, BlockRegistry, BlockedTicket, Blocking, Delivery};
use crate::error::{wrongtype, CmdResult};
use crate::notify::{self, KeyEvent};
use crate::rng::CmdRng;
use crate::state::Shared;
use crate::table::{lookup, CommandSpec};
use crate::watch::{
    key_digest, parse_guard, Guard, Replaced, WatchRegistry, DIGEST_CMD,
    MAX_WATCHED_KEYS_PER_CLIENT,
};

/// What a command sees: the engine, the shared state, and the caller's
/// database, protocol and time snapshot (Redis's `commandTimeSnapshot`).
pub struct Ctx<'a> {
    pub engine: &'a mut Engine,
    pub shared: &'a Shared,
    pub db: usize,
    pub now_ms: u64,
    pub proto: Protocol,
    /// Collect the keys each commit writes into `written` (only while
    /// clients are blocked on keys; see [`crate::blocking`]).
    pub track_writes: bool,
    /// (logical db, key) of every key created or rewritten by this command.
    pub written: Vec<(usize, Bytes)>,
    /// Collect every key each commit changes in any way into `touched`
    /// (only while some client WATCHes keys; see [`crate::watch`]).
    pub track_touches: bool,
    pub touched: Vec<(usize, Bytes)>,
    /// The command's randomness (seeded by the Raft entry in cluster mode).
    pub rng: CmdRng,
    /// Cluster mode: the engine changes only through applied log entries,
    /// so reads never delete expired keys on the spot (every replica would
    /// decide by its own clock); they just read as absent.
    pub replicated: bool,
    /// `notify-keyspace-events` when the command started, and the events
    /// the command produced so far (see [`crate::notify`]).
    pub notify_flags: u32,
    pub events: Vec<KeyEvent>,
}

impl Ctx<'_> {
    /// Runs a built-in command inside this one (same atomic step, same db,
    /// same time): how a module builds on the built-in commands, as a Redis
    /// module does with `RedisModule_Call`. Only built-ins can be called
    /// (they never call back), so calls cannot recurse; commands answered by
    /// the connection or that block cannot be called either.
    pub fn call(&mut self, args: &[Bytes]) -> CmdResult {
        let spec = args.first().and_then(|n| lookup(n));
        let Some(spec) = spec.filter(|s| crate::table::is_builtin(s.name)) else {
            return Err(crate::error::unknown_command(args));
        };
        if !spec.arity_ok(args.len()) {
            return Err(crate::error::wrong_arity(spec.name));
        }
        match crate::registry::handler(spec.name) {
            Some(handler) => handler(self, args),
            None => Err(crate::error::err(format!(
                "ERR '{}' cannot be called from another command",
                spec.name
            ))),
        }
    }

    /// Live metadata of `key` for a read, counting a keyspace hit or miss
    /// (a miss is also the `keymiss` event).
    pub fn lookup(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        let meta = self.peek(key)?;
        if meta.is_some() {
            self.shared.stats.keyspace_hits.fetch_add(1, Relaxed);
        } else {
            self.shared.stats.keyspace_misses.fetch_add(1, Relaxed);
            self.notify(notify::KEY_MISS, "keymiss", key);
        }
        Ok(meta)
    }

    /// Records keyspace event `event` (of `class`, a [`crate::notify`]
    /// flag) on `key` of the current database, if that class is switched
    /// on. Commands call it where Redis calls `notifyKeyspaceEvent`, in the
    /// same order; the executor publishes once the command is done.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.notify_in(self.db, class, event, key);
    }

    /// Whether keyspace notifications are on at all: commands that would
    /// otherwise skip a read (SETEX, MSET) look at the old key only then.
    pub fn notifying(&self) -> bool {
        self.notify_flags & (notify::KEYSPACE | notify::KEYEVENT) != 0
    }

    /// [`Ctx::notify`] for a key of another database (MOVE).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if notify::wanted(self.notify_flags, class) {
            self.events.push(KeyEvent {
                event,
                db,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// The `new` event of a key this command adds to the database
    /// (`existed`: whether it was there before); Redis sends it first.
    pub fn notify_new(&mut self, existed: bool, key: &[u8]) {
        if !existed {
            self.notify(notify::NEW, "new", key);
        }
    }

    /// The `del` event when a command's removals emptied a collection
    /// (Redis deletes empty aggregates), sent after the command's own event.
    pub fn notify_emptied(&mut self, remaining: u64, key: &[u8]) {
        if remaining == 0 {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// Live metadata without touching hit/miss statistics (writes, EXISTS, TYPE).
    /// An expired key found here is deleted on the spot, as Redis's lazy
    /// expiry does, so DBSIZE and friends agree with Redis.
    pub fn peek(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        self.peek_in(self.db, key)
    }

    /// [`Ctx::peek`] in another database (MOVE, COPY DB).
    pub fn peek_in(&mut self, db: usize, key: &[u8]) -> CmdResult<Option<Meta>> {
        let Some(meta) = self.engine.get_meta(db, key)? else {
            return Ok(None);
        };
        if meta.is_live(self.now_ms) {
            return Ok(Some(meta));
        }
        if self.replicated {
            return Ok(None);
        }
        let mut b = self.engine.batch();
        self.engine.delete(&mut b, db, key)?;
        self.engine.commit(b)?;
        self.shared.stats.expired_keys.fetch_add(1, Relaxed);
        self.notify_in(db, notify::EXPIRED, "expired", key);
        if self.track_touches {
            self.touched.push((db, Bytes::copy_from_slice(key)));
        }
        Ok(None)
    }

    /// The value of a string key; WRONGTYPE if the key holds another type.
    pub fn get_string(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        match self.lookup(key)? {
            Some(m) if m.kind != KeyKind::String => Err(wrongtype()),
            other => Ok(other),
        }
    }

    /// Like [`Ctx::get_string`] without hit/miss accounting.
    pub fn peek_string(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        match self.peek(key)? {
            Some(m) if m.kind != KeyKind::String => Err(wrongtype()),
            other => Ok(other),
        }
    }

    /// Commits a batch and counts it as a change (INFO's `rdb_changes_since_last_save`).
    pub fn commit(&mut self, batch: kiwi_storage::Batch, changes: u64) -> CmdResult<()> {
        if self.track_writes {
            for (slot, key) in batch.written_keys() {
                self.written
                    .push((self.engine.logical_db(slot), Bytes::copy_from_slice(key)));
            }
        }
        if self.track_touches {
            for (slot, key) in batch.modified_keys() {
                self.touched
                    .push((self.engine.logical_db(slot), Bytes::copy_from_slice(key)));
            }
        }
        self.engine.commit(batch)?;
        self.shared.stats.dirty.fetch_add(changes, Relaxed);
        Ok(())
    }

    pub fn max_bulk_len(&self) -> u64 {
        self.shared.config().proto_max_bulk_len
    }
}

/// Commands as a Raft entry carries them (from one or several clients):
/// everything a replica needs to execute them exactly as the leader would.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicatedBatch {
    /// The leader's clock when it proposed the batch (TTLs, expiry checks).
    pub now_ms: u64,
    /// Command `i` draws its randomness from a [`CmdRng`] seeded `seed + i`.
    pub seed: u64,
    pub cmds: Vec<ReplicatedCmd>,
}

/// One command of a [`ReplicatedBatch`], with its client's database and protocol.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicatedCmd {
    pub db: u8,
    pub proto: Protocol,
    /// The command as the client sent it (`args[0]` is the name).
    pub args: Vec<Bytes>,
}

impl ReplicatedCmd {
    /// Bytes of arguments (what dominates its size in the log).
    pub fn payload_bytes(&self) -> usize {
        self.args.iter().map(|a| a.len() + 8).sum()
    }
}

/// Work sent to the storage runtime to run against the executor (Raft's
/// apply, snapshot and applied-state calls in cluster mode).
pub type ExecutorJob = Box<dyn FnOnce(&mut Executor) + Send>;

/// The executor's answer to one command.
pub enum Reply {
    Frame(Frame),
    /// A blocking command found nothing: the connection waits on the ticket.
    Blocked(BlockedTicket),
}

/// One command of a MULTI/EXEC block, with the database and protocol the
/// connection had at its place in the block (SELECT and HELLO may be queued
/// before it).
pub struct QueuedCmd {
    pub db: usize,
    pub proto: Protocol,
    pub spec: &'static CommandSpec,
    pub args: Vec<Bytes>,
}

/// Owns the engine on the storage runtime.
pub struct Executor {
    engine: Engine,
    shared: Arc<Shared>,
    blocked: BlockRegistry,
    /// Replies to blocked clients served by the current group, sent by
    /// [`Executor::make_durable`] once their writes are durable.
    deliveries: Vec<Delivery>,
    /// Keys clients WATCH (standalone mode).
    watches: WatchRegistry,
    /// Cluster mode (see [`Ctx::replicated`]).
    replicated: bool,
    /// Cluster mode's clock: the latest time of any applied entry (see
    /// [`Executor::clock_ms`]). Never goes back.
    log_clock_ms: u64,
}

impl Executor {
    pub fn new(engine: Engine, shared: Arc<Shared>) -> Executor {
        // INFO and the metrics show the engine from the start, not after
        // the first once-a-second copy.
        crate::metrics::publish_engine_figures(&engine, &shared);
        Executor {
            engine,
            shared,
            blocked: BlockRegistry::default(),
            deliveries: Vec::new(),
            watches: WatchRegistry::default(),
            replicated: false,
            log_clock_ms: 0,
        }
    }

    /// An executor for cluster mode: writes arrive as Raft entries through
    /// [`Executor::apply_batch`]; [`Executor::execute`] serves reads only.
    pub fn replicated(engine: Engine, shared: Arc<Shared>) -> Executor {
        Executor {
            replicated: true,
            ..Executor::new(engine, shared)
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The time commands run at. Standalone: the local wall clock. Cluster
    /// mode: the log's clock, the latest `now_ms` of any applied entry.
    /// Expiry is then a function of the log position, like every other
    /// change: a key a read saw expired stays expired on every replica and
    /// under every later leader, whatever their wall clocks say (a new
    /// leader whose clock runs behind the old one's cannot bring it back).
    /// The leader keeps the log's clock fresh (`propose_expiry` in
    /// kiwi-raft), so it trails the leader's wall clock by about one expiry
    /// period when idle and by a commit when busy.
    pub fn clock_ms(&self) -> u64 {
        // The `canary-wall-clock-reads` build plants the bug this prevents
        // (for the simulator, whose nodes' clocks disagree, to catch).
        if self.replicated && !cfg!(feature = "canary-wall-clock-reads") {
            self.log_clock_ms
        } else {
            kiwi_runtime::time::now_ms()
        }
    }

    /// Restores the log's clock at startup or after a snapshot install (it
    /// is persisted with the applied stamp).
    pub fn set_log_clock_ms(&mut self, ms: u64) {
        debug_assert!(self.replicated, "the log clock is cluster mode's");
        self.log_clock_ms = ms;
    }

    /// Moves the log's clock to an applied entry's time. The state machine
    /// hands entries their time as max(entry, clock) already; the max here
    /// keeps the invariant local too.
    fn advance_log_clock(&mut self, entry_ms: u64) {
        debug_assert!(
            entry_ms >= self.log_clock_ms,
            "entry time {entry_ms} behind the log clock {}",
            self.log_clock_ms
        );
        self.log_clock_ms = self.log_clock_ms.max(entry_ms);
    }

    /// Executes one storage-routed command for `client` (None: no client
    /// connection, e.g. the fuzz harness). `name` is the table's canonical
    /// (lower-case) name, already looked up by the connection; `args[0]` is
    /// the name as the client sent it.
    pub fn execute(
        &mut self,
        client: Option<u64>,
        db: usize,
        proto: Protocol,
        name: &'static str,
        args: &[Bytes],
    ) -> Reply {
        self.run(client, db, proto, name, args, false)
    }

    /// WATCH `keys` of `db` for `client`.
    pub fn watch(&mut self, client: u64, db: usize, keys: &[Bytes]) -> Frame {
        let now_ms = kiwi_runtime::time::now_ms();
        for key in keys {
            let expired = match self.engine.get_meta(db, key) {
                Ok(meta) => meta.is_some_and(|m| !m.is_live(now_ms)),
                Err(e) => return crate::error::CmdError::from(e).into_frame(),
            };
            if !self.watches.watch(client, db, key.clone(), expired) {
                return Frame::error(format!(
                    "ERR a client may watch at most {MAX_WATCHED_KEYS_PER_CLIENT} keys"
                ));
            }
        }
        Frame::ok()
    }

    /// Forgets what `client` watches.
    pub fn unwatch(&mut self, client: u64) {
        self.watches.unwatch(client);
    }

    /// EXEC: runs a transaction's commands back to back, unless a key
    /// `client` watches changed (then `NullArray`, Redis's aborted EXEC).
    /// Nothing else runs on the engine meanwhile, so no client sees part of
    /// it; its writes reach the WAL together at the next group commit.
    /// Blocking commands never wait here, as in Redis.
    pub fn exec(&mut self, client: u64, cmds: &[QueuedCmd]) -> Frame {
        let now_ms = kiwi_runtime::time::now_ms();
        let engine = &self.engine;
        let may_run = self.watches.may_exec(client, |db, key| {
            // A read error counts as a change: better a retry than a lost update.
            engine
                .get_meta(db, key)
                .map(|m| m.is_some_and(|m| !m.is_live(now_ms)))
                .unwrap_or(true)
        });
        self.watches.unwatch(client);
        if !may_run {
            return Frame::NullArray;
        }
        let frames = cmds
            .iter()
            .map(
                |c| match self.run(Some(client), c.db, c.proto, c.spec.name, &c.args, true) {
                    Reply::Frame(f) => f,
                    Reply::Blocked(_) => {
                        debug_assert!(false, "commands inside EXEC never block");
                        Frame::error("ERR blocking command inside a transaction")
                    }
                },
            )
            .collect();
        Frame::Array(frames)
    }

    /// Runs one command; `in_multi` makes blocking commands answer at once.
    fn run(
        &mut self,
        client: Option<u64>,
        db: usize,
        proto: Protocol,
        name: &'static str,
        args: &[Bytes],
        in_multi: bool,
    ) -> Reply {
        if self.replicated && lookup(name.as_bytes()).is_some_and(|s| s.flags.contains("write")) {
            // Cluster mode changes data only by applying log entries; a write
            // here would diverge this replica from the others.
            return Reply::Frame(Frame::error("ERR writes must go through the raft log"));
        }
        let blocking = blocking::is_blocking(name);
        let track_writes = !self.blocked.is_empty() || blocking;
        let watching = !self.watches.is_empty();
        let tracking = self.shared.tracking.is_active();
        self.engine.set_track_modified(watching || tracking);
        let replaced = if watching {
            self.watched_before_replace(db, name, args)
        } else {
            Vec::new()
        };
        let now_ms = self.clock_ms();
        let mut ctx = Ctx {
            engine: &mut self.engine,
            shared: &self.shared,
            db,
            now_ms,
            proto,
            track_writes,
            written: Vec::new(),
            track_touches: watching || tracking,
            touched: Vec::new(),
            rng: CmdRng::from_runtime(),
            replicated: self.replicated,
            notify_flags: self.shared.notify_flags(),
            events: Vec::new(),
        };
        let result = if blocking && in_multi {
            blocking::execute_once(&mut ctx, name, args).map(Blocking::Reply)
        } else if blocking {
            blocking::execute(&mut ctx, &mut self.blocked, name, args)
        } else {
            dispatch(&mut ctx, name, args).map(Blocking::Reply)
        };
        let written = std::mem::take(&mut ctx.written);
        let touched = std::mem::take(&mut ctx.touched);
        notify::publish(&self.shared, ctx.notify_flags, &ctx.events);
        let reply = match result {
            Ok(Blocking::Reply(frame)) => Reply::Frame(frame),
            Ok(Blocking::Blocked(ticket)) => Reply::Blocked(ticket),
            Err(e) => Reply::Frame(e.into_frame()),
        };
        let failed = matches!(&reply, Reply::Frame(f) if f.is_error());
        if failed {
            self.shared.stats.total_error_replies.fetch_add(1, Relaxed);
        }
        if tracking {
            self.track(client, name, args, &touched, failed);
        }
        if watching {
            self.touch_watched(touched);
            if !failed {
                for (db, key, how) in replaced {
                    self.watches.replaced(db, &key, how);
                }
            }
        }
        if !written.is_empty() && !self.blocked.is_empty() {
            self.serve_blocked(written);
        }
        self.publish_blocked_count();
        reply
    }

    /// CLIENT TRACKING after a command of `client`: invalidates the keys it
    /// changed (everything, for FLUSHDB/FLUSHALL/SWAPDB) and remembers the
    /// keys a read-only command read.
    fn track(
        &self,
        client: Option<u64>,
        name: &str,
        args: &[Bytes],
        changed: &[(usize, Bytes)],
        failed: bool,
    ) {
        let tracking = &self.shared.tracking;
        let limit = self.shared.config().pubsub_output_limit_bytes();
        self.invalidate_changed(changed, client, limit);
        if !failed && matches!(name, "flushdb" | "flushall" | "swapdb") {
            tracking.invalidate_all(limit);
        }
        let Some(client) = client else {
            return;
        };
        let read: Vec<Bytes> = match lookup(name.as_bytes()) {
            Some(spec) if spec.is_readonly() && !failed => {
                spec.key_args(args).into_iter().cloned().collect()
            }
            _ => Vec::new(),
        };
        tracking.after_command(client, &read, limit);
    }

    /// CLIENT TRACKING: tells tracking clients about keys a command of
    /// `by` changed. A command lists a key once per record it wrote: each
    /// key is told once.
    fn invalidate_changed(&self, changed: &[(usize, Bytes)], by: Option<u64>, limit: u64) {
        let mut told = std::collections::HashSet::new();
        for (_, key) in changed {
            if told.insert(key) {
                self.shared.tracking.invalidate(key, by, limit);
            }
        }
    }

    /// Tells WATCH about keys that commits just changed.
    fn touch_watched(&mut self, touched: Vec<(usize, Bytes)>) {
        for (db, key) in touched {
            // Most changed keys are watched by nobody: skip their lookup.
            if !self.watches.is_watched(db, &key) {
                continue;
            }
            // A read error counts as present: the watcher's EXEC fails, safely.
            let absent = matches!(self.engine.get_meta(db, &key), Ok(None));
            self.watches.touch(db, &key, absent);
        }
    }

    /// For FLUSHDB, FLUSHALL and SWAPDB: how each watched key of the
    /// databases they replace stands before they run.
    fn watched_before_replace(
        &self,
        db: usize,
        name: &str,
        args: &[Bytes],
    ) -> Vec<(usize, Bytes, Replaced)> {
        let dbs: Vec<(usize, Option<usize>)> = match name {
            "flushdb" => vec![(db, None)],
            "flushall" => (0..kiwi_storage::DATABASES).map(|d| (d, None)).collect(),
            "swapdb" => {
                let parse = |a: &Bytes| {
                    std::str::from_utf8(a)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|&d| d < kiwi_storage::DATABASES)
                };
                match (args.get(1).and_then(parse), args.get(2).and_then(parse)) {
                    (Some(a), Some(b)) => vec![(a, Some(b)), (b, Some(a))],
                    _ => return Vec::new(),
                }
            }
            _ => return Vec::new(),
        };
        let now_ms = kiwi_runtime::time::now_ms();
        let state = |d: usize, key: &[u8]| -> Option<bool> {
            // `Some(expired?)` if present; a read error counts as present.
            match self.engine.get_meta(d, key) {
                Ok(meta) => meta.map(|m| !m.is_live(now_ms)),
                Err(_) => Some(false),
            }
        };
        let mut out = Vec::new();
        for (d, with) in dbs {
            for key in self.watches.keys_in(d) {
                let how = Replaced {
                    existed: state(d, &key).is_some(),
                    replacement: with.and_then(|w| state(w, &key)),
                };
                out.push((d, key, how));
            }
        }
        out
    }

    /// Serves clients blocked on keys that were just written.
    fn serve_blocked(&mut self, ready: Vec<(usize, Bytes)>) {
        let watching = !self.watches.is_empty();
        let tracking = self.shared.tracking.is_active();
        let mut touched = Vec::new();
        let (engine, shared) = (&mut self.engine, &self.shared);
        blocking::serve_ready(
            &mut self.blocked,
            ready,
            &mut self.deliveries,
            |db, proto, f| {
                let mut ctx = Ctx {
                    engine: &mut *engine,
                    shared,
                    db,
                    now_ms: kiwi_runtime::time::now_ms(),
                    proto,
                    track_writes: true,
                    written: Vec::new(),
                    track_touches: watching || tracking,
                    touched: Vec::new(),
                    rng: CmdRng::from_runtime(),
                    replicated: false,
                    notify_flags: shared.notify_flags(),
                    events: Vec::new(),
                };
                f(&mut ctx);
                touched.append(&mut ctx.touched);
                notify::publish(shared, ctx.notify_flags, &ctx.events);
            },
        );
        if tracking {
            // Served pops change keys; the served clients read nothing new.
            let limit = self.shared.config().pubsub_output_limit_bytes();
            self.invalidate_changed(&touched, None, limit);
        }
        if watching {
            self.touch_watched(touched);
        }
    }

    fn publish_blocked_count(&self) {
        self.shared
            .stats
            .blocked_clients
            .store(self.blocked.len() as u64, Relaxed);
    }

    /// Forgets blocked clients that timed out or disconnected.
    pub fn purge_blocked(&mut self) {
        self.blocked.purge_cancelled();
        self.publish_blocked_count();
    }

    /// Applies commands `skip..` of a replicated batch (one Raft entry)
    /// with the time and randomness the leader decided. `stamp(i)` is the
    /// applied stamp meaning "commands `0..=i` of this entry are applied";
    /// each command's writes commit together with its stamp, and the last
    /// command's stamp (written even if it changed nothing) marks the entry
    /// complete. A crash mid-entry therefore resumes at the next command
    /// (`skip`), never applying one twice. Replies for skipped commands are
    /// `Null` (nobody waits for them after a restart). Blocking commands run
    /// as inside Redis's MULTI: they never wait.
    pub fn apply_batch(
        &mut self,
        batch: &ReplicatedBatch,
        skip: usize,
        stamp: impl Fn(usize) -> Vec<u8>,
    ) -> Vec<Frame> {
        debug_assert!(self.replicated, "apply_batch is for cluster mode");
        debug_assert!(!batch.cmds.is_empty(), "a replicated batch has commands");
        // A partial stamp is only ever written before the last command, so
        // a resumed entry always has its last command (and stamp) ahead.
        debug_assert!(skip < batch.cmds.len(), "skip {skip} past the entry");
        self.advance_log_clock(batch.now_ms);
        let last = batch.cmds.len().saturating_sub(1);
        let mut frames = vec![Frame::Null; skip.min(batch.cmds.len())];
        let mut i = skip;
        while i < batch.cmds.len() {
            let cmd = &batch.cmds[i];
            if let Some(guard) = parse_guard(&cmd.args) {
                // A WATCH guard (see `crate::watch`). If it fails, one stamp
                // covers it and every command it guards, so a crash never
                // resumes inside a skipped transaction; a resume inside a
                // guarded range therefore means the guard held.
                let end = (i + guard.covers).min(last);
                if self.guard_holds(&guard, batch.now_ms) {
                    self.engine.begin_stamped(stamp(i));
                    frames.push(self.end_stamped(Frame::ok(), i == last));
                    i += 1;
                } else {
                    self.engine.begin_stamped(stamp(end));
                    frames.push(self.end_stamped(Frame::NullArray, true));
                    frames.resize(end + 1, Frame::Null);
                    i = end + 1;
                }
                continue;
            }
            self.engine.begin_stamped(stamp(i));
            let frame = self.apply_one(batch, i, cmd);
            frames.push(self.end_stamped(frame, i == last));
            i += 1;
        }
        frames
    }

    fn apply_one(&mut self, batch: &ReplicatedBatch, i: usize, cmd: &ReplicatedCmd) -> Frame {
        let args = &cmd.args[..];
        let Some(spec) = args.first().and_then(|name| lookup(name)) else {
            return crate::error::unknown_command(args).into_frame();
        };
        if !spec.arity_ok(args.len()) {
            return crate::error::wrong_arity(spec.name).into_frame();
        }
        let mut ctx = Ctx {
            engine: &mut self.engine,
            shared: &self.shared,
            db: (cmd.db as usize) % kiwi_storage::DATABASES,
            now_ms: batch.now_ms,
            proto: cmd.proto,
            track_writes: false,
            written: Vec::new(),
            track_touches: false,
            touched: Vec::new(),
            // SplitMix64 is made for consecutive seeds.
            rng: CmdRng::from_seed(batch.seed.wrapping_add(i as u64)),
            replicated: true,
            notify_flags: self.shared.notify_flags(),
            events: Vec::new(),
        };
        let result = if blocking::is_blocking(spec.name) {
            blocking::execute_once(&mut ctx, spec.name, args)
        } else {
            dispatch(&mut ctx, spec.name, args)
        };
        // Every replica tells its own subscribers what the entry did.
        notify::publish(&self.shared, ctx.notify_flags, &ctx.events);
        result.unwrap_or_else(|e| e.into_frame())
    }

    /// Whether every key a WATCH guard names still has the digest it had
    /// when watched (decided from replicated state only: the entry's clock).
    fn guard_holds(&self, guard: &Guard, now_ms: u64) -> bool {
        // The `canary-watch-ignored` build plants a known bug for the
        // simulator to catch: transactions run whatever changed since WATCH.
        if cfg!(feature = "canary-watch-ignored") {
            return true;
        }
        guard.expect.iter().all(|(db, key, digest)| {
            matches!(key_digest(&self.engine, *db, key, now_ms), Ok(d) if d == *digest)
        })
    }

    /// Whether the cluster leader should propose an active-expiry step at
    /// `now_ms` (its wall clock, or the log's if that is ahead): when a key is due,
    /// so that expiry deletions are log entries; and, while any key has a
    /// TTL, when the log's clock trails `now_ms` by `period_ms`, so TTL and
    /// PTTL stay close to the wall clock on an idle cluster. One seek of the
    /// expiry index answers both.
    pub fn expiry_step_due(&self, now_ms: u64, period_ms: u64) -> bool {
        match self.engine.next_expiry_ms() {
            Ok(Some(next_ms)) => {
                next_ms <= now_ms || self.log_clock_ms.saturating_add(period_ms) <= now_ms
            }
            Ok(None) | Err(_) => false,
        }
    }

    /// Applies one leader-decided active-expiry step (a Raft entry).
    pub fn apply_expire(&mut self, stamp: Vec<u8>, now_ms: u64, max_entries: usize) -> Frame {
        self.advance_log_clock(now_ms);
        self.engine.begin_stamped(stamp);
        let removed = self.active_expire_at(now_ms, max_entries);
        self.end_stamped(Frame::Integer(removed as i64), true)
    }

    /// Records `stamp` alone (Raft entries with no command: blank, membership).
    pub fn apply_stamp(&mut self, stamp: Vec<u8>) -> Frame {
        self.engine.begin_stamped(stamp);
        self.end_stamped(Frame::ok(), true)
    }

    /// Ends a stamped step; `force` writes the stamp even if nothing committed.
    fn end_stamped(&mut self, frame: Frame, force: bool) -> Frame {
        match self.engine.end_stamped(force) {
            Ok(commits) => {
                // One commit per command is what makes apply exactly-once.
                debug_assert!(commits <= 1, "a command committed {commits} times");
                if frame.is_error() {
                    self.shared.stats.total_error_replies.fetch_add(1, Relaxed);
                }
                frame
            }
            Err(e) => crate::error::CmdError::from(e).into_frame(),
        }
    }

    /// The applied stamp stored with the data (cluster mode).
    pub fn applied_stamp(&self) -> Result<Option<Vec<u8>>, kiwi_storage::StorageError> {
        self.engine.applied_stamp()
    }

    /// A consistent copy of the database at `path` (a snapshot's source).
    pub fn checkpoint(&mut self, path: &std::path::Path) -> Result<(), kiwi_storage::StorageError> {
        self.engine.checkpoint(path)
    }

    /// Swaps in another engine (an installed snapshot). `open` runs after
    /// the current engine is flushed and before it is dropped; the old one
    /// is closed when this returns.
    pub fn replace_engine(
        &mut self,
        open: impl FnOnce() -> Result<Engine, kiwi_storage::StorageError>,
    ) -> Result<(), kiwi_storage::StorageError> {
        self.engine.flush()?;
        let old = std::mem::replace(&mut self.engine, open()?);
        drop(old);
        Ok(())
    }

    /// Makes the writes acknowledged so far durable per the sync mode
    /// (group commit); call before sending their replies.
    pub fn make_durable(&mut self) -> Frame {
        let status = match self.engine.make_durable() {
            Ok(()) => Frame::ok(),
            Err(e) => crate::error::CmdError::from(e).into_frame(),
        };
        self.publish_key_counts();
        for (tx, frame) in self.deliveries.drain(..) {
            let reply = if status.is_error() {
                status.clone()
            } else {
                frame
            };
            // A client that disconnected meanwhile simply drops it.
            let _ = tx.send(reply);
        }
        status
    }

    /// Copies the key counts INFO keyspace shows into [`Shared`]; called
    /// before anyone is told of a change (replies, Raft job results), so
    /// INFO, which the connection answers, sees every acknowledged write.
    pub fn publish_key_counts(&self) {
        crate::metrics::publish_key_counts(&self.engine, &self.shared);
    }

    /// The once-a-second fsync of `appendfsync everysec` (and the copy of
    /// RocksDB's figures for INFO and metrics).
    pub fn tick_second(&mut self) {
        crate::metrics::publish_engine_figures(&self.engine, &self.shared);
        if self.engine.sync_mode() == SyncMode::EverySec {
            if let Err(e) = self.engine.sync_wal() {
                tracing::error!(error = %e, "periodic WAL sync failed");
            }
        }
    }

    /// One active-expiry step (bounded work); returns keys removed.
    pub fn active_expire(&mut self, max_entries: usize) -> usize {
        self.active_expire_at(kiwi_runtime::time::now_ms(), max_entries)
    }

    fn active_expire_at(&mut self, now_ms: u64, max_entries: usize) -> usize {
        match self.engine.expire_cycle(now_ms, max_entries) {
            Ok(removed) => {
                self.shared
                    .stats
                    .expired_keys
                    .fetch_add(removed.len() as u64, Relaxed);
                let count = removed.len();
                let flags = self.shared.notify_flags();
                let mut events = Vec::new();
                let tracking = self.shared.tracking.is_active();
                let limit = self.shared.config().pubsub_output_limit_bytes();
                for (db, key) in removed {
                    self.watches.touch(db, &key, true);
                    if tracking {
                        self.shared.tracking.invalidate(&key, None, limit);
                    }
                    if notify::wanted(flags, notify::EXPIRED) {
                        events.push(KeyEvent {
                            event: "expired",
                            db,
                            key,
                        });
                    }
                }
                notify::publish(&self.shared, flags, &events);
                count
            }
            Err(e) => {
                tracing::error!(error = %e, "active expiry failed");
                0
            }
        }
    }

    /// Flushes everything to disk (graceful shutdown).
    pub fn shutdown(&mut self) {
        if let Err(e) = self.engine.flush() {
            tracing::error!(error = %e, "flush on shutdown failed");
        }
    }
}

fn dispatch(ctx: &mut Ctx<'_>, name: &str, args: &[Bytes]) -> CmdResult {
    if name == DIGEST_CMD {
        // Cluster mode's WATCH (internal, never in the registry).
        let mut digests = Vec::with_capacity(args.len() - 1);
        for key in &args[1..] {
            digests.push(Frame::Bulk(key_digest(
                ctx.engine, ctx.db, key, ctx.now_ms,
            )?));
        }
        return Ok(Frame::Array(digests));
    }
    match crate::registry::handler(name) {
        Some(handler) => handler(ctx, args),
        None => Err(crate::error::unknown_command(args)),
    }
}
