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
use crate::lists::End;
use crate::state::Shared;
use crate::{hashes, keyspace, lists, server, sets, sort, strings, zsets};

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
}

impl Ctx<'_> {
    /// Live metadata of `key`, counting a keyspace hit or miss.
    pub fn lookup(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        let meta = self.peek(key)?;
        let stat = if meta.is_some() {
            &self.shared.stats.keyspace_hits
        } else {
            &self.shared.stats.keyspace_misses
        };
        stat.fetch_add(1, Relaxed);
        Ok(meta)
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
        let mut b = self.engine.batch();
        self.engine.delete(&mut b, db, key)?;
        self.engine.commit(b)?;
        self.shared.stats.expired_keys.fetch_add(1, Relaxed);
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
        self.engine.commit(batch)?;
        self.shared.stats.dirty.fetch_add(changes, Relaxed);
        Ok(())
    }

    pub fn max_bulk_len(&self) -> u64 {
        self.shared.config().proto_max_bulk_len
    }
}

/// The executor's answer to one command.
pub enum Reply {
    Frame(Frame),
    /// A blocking command found nothing: the connection waits on the ticket.
    Blocked(BlockedTicket),
}

/// Owns the engine on the storage runtime.
pub struct Executor {
    engine: Engine,
    shared: Arc<Shared>,
    blocked: BlockRegistry,
    /// Replies to blocked clients served by the current group, sent by
    /// [`Executor::make_durable`] once their writes are durable.
    deliveries: Vec<Delivery>,
}

impl Executor {
    pub fn new(engine: Engine, shared: Arc<Shared>) -> Executor {
        Executor {
            engine,
            shared,
            blocked: BlockRegistry::default(),
            deliveries: Vec::new(),
        }
    }

    /// Executes one storage-routed command. `name` is the table's canonical
    /// (lower-case) name, already looked up by the connection; `args[0]` is
    /// the name as the client sent it.
    pub fn execute(
        &mut self,
        db: usize,
        proto: Protocol,
        name: &'static str,
        args: &[Bytes],
    ) -> Reply {
        let track_writes = !self.blocked.is_empty() || blocking::is_blocking(name);
        let mut ctx = Ctx {
            engine: &mut self.engine,
            shared: &self.shared,
            db,
            now_ms: kiwi_runtime::time::now_ms(),
            proto,
            track_writes,
            written: Vec::new(),
        };
        let result = if blocking::is_blocking(name) {
            blocking::execute(&mut ctx, &mut self.blocked, name, args)
        } else {
            dispatch(&mut ctx, name, args).map(Blocking::Reply)
        };
        let written = std::mem::take(&mut ctx.written);
        let reply = match result {
            Ok(Blocking::Reply(frame)) => Reply::Frame(frame),
            Ok(Blocking::Blocked(ticket)) => Reply::Blocked(ticket),
            Err(e) => Reply::Frame(e.into_frame()),
        };
        if let Reply::Frame(f) = &reply {
            if f.is_error() {
                self.shared.stats.total_error_replies.fetch_add(1, Relaxed);
            }
        }
        if !written.is_empty() && !self.blocked.is_empty() {
            self.serve_blocked(written);
        }
        self.publish_blocked_count();
        reply
    }

    /// Serves clients blocked on keys that were just written.
    fn serve_blocked(&mut self, ready: Vec<(usize, Bytes)>) {
        let (engine, shared) = (&mut self.engine, &self.shared);
        blocking::serve_ready(
            &mut self.blocked,
            ready,
            &mut self.deliveries,
            |db, proto, f| {
                let mut ctx = Ctx {
                    engine,
                    shared,
                    db,
                    now_ms: kiwi_runtime::time::now_ms(),
                    proto,
                    track_writes: true,
                    written: Vec::new(),
                };
                f(&mut ctx);
            },
        );
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

    /// Makes the writes acknowledged so far durable per the sync mode
    /// (group commit); call before sending their replies.
    pub fn make_durable(&mut self) -> Frame {
        let status = match self.engine.make_durable() {
            Ok(()) => Frame::ok(),
            Err(e) => crate::error::CmdError::from(e).into_frame(),
        };
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

    /// The once-a-second fsync of `appendfsync everysec`.
    pub fn tick_second(&mut self) {
        if self.engine.sync_mode() == SyncMode::EverySec {
            if let Err(e) = self.engine.sync_wal() {
                tracing::error!(error = %e, "periodic WAL sync failed");
            }
        }
    }

    /// One active-expiry step (bounded work); returns keys removed.
    pub fn active_expire(&mut self, max_entries: usize) -> usize {
        match self
            .engine
            .expire_cycle(kiwi_runtime::time::now_ms(), max_entries)
        {
            Ok(removed) => {
                self.shared
                    .stats
                    .expired_keys
                    .fetch_add(removed.len() as u64, Relaxed);
                removed.len()
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
    match name {
        // strings
        "get" => strings::get(ctx, args),
        "set" => strings::set(ctx, args),
        "setnx" => strings::setnx(ctx, args),
        "setex" => strings::setex(ctx, args, 1000, "setex"),
        "psetex" => strings::setex(ctx, args, 1, "psetex"),
        "getset" => strings::getset(ctx, args),
        "getdel" => strings::getdel(ctx, args),
        "getex" => strings::getex(ctx, args),
        "mget" => strings::mget(ctx, args),
        "mset" => strings::mset(ctx, args),
        "msetnx" => strings::msetnx(ctx, args),
        "append" => strings::append(ctx, args),
        "strlen" => strings::strlen(ctx, args),
        "incr" => strings::incr_by(ctx, &args[1], 1),
        "decr" => strings::incr_by(ctx, &args[1], -1),
        "incrby" => strings::incrby(ctx, args, false),
        "decrby" => strings::incrby(ctx, args, true),
        "incrbyfloat" => strings::incrbyfloat(ctx, args),
        "getrange" | "substr" => strings::getrange(ctx, args),
        "setrange" => strings::setrange(ctx, args),
        "lcs" => strings::lcs(ctx, args),
        // hashes
        "hset" | "hmset" => hashes::hset(ctx, args, name),
        "hsetnx" => hashes::hsetnx(ctx, args),
        "hget" => hashes::hget(ctx, args),
        "hmget" => hashes::hmget(ctx, args),
        "hgetall" => hashes::hgetall(ctx, args),
        "hkeys" => hashes::hkeys(ctx, args),
        "hvals" => hashes::hvals(ctx, args),
        "hlen" => hashes::hlen(ctx, args),
        "hstrlen" => hashes::hstrlen(ctx, args),
        "hexists" => hashes::hexists(ctx, args),
        "hdel" => hashes::hdel(ctx, args),
        "hincrby" => hashes::hincrby(ctx, args),
        "hincrbyfloat" => hashes::hincrbyfloat(ctx, args),
        "hrandfield" => hashes::hrandfield(ctx, args),
        "hscan" => hashes::hscan(ctx, args),
        // lists
        "lpush" => lists::push(ctx, args, End::Left, false),
        "rpush" => lists::push(ctx, args, End::Right, false),
        "lpushx" => lists::push(ctx, args, End::Left, true),
        "rpushx" => lists::push(ctx, args, End::Right, true),
        "lpop" => lists::pop(ctx, args, End::Left),
        "rpop" => lists::pop(ctx, args, End::Right),
        "llen" => lists::llen(ctx, args),
        "lindex" => lists::lindex(ctx, args),
        "lrange" => lists::lrange(ctx, args),
        "lset" => lists::lset(ctx, args),
        "ltrim" => lists::ltrim(ctx, args),
        "lrem" => lists::lrem(ctx, args),
        "linsert" => lists::linsert(ctx, args),
        "lpos" => lists::lpos(ctx, args),
        "lmove" => lists::lmove(ctx, args),
        "rpoplpush" => lists::rpoplpush(ctx, args),
        "lmpop" => lists::lmpop(ctx, args),
        // sets
        "sadd" => sets::sadd(ctx, args),
        "srem" => sets::srem(ctx, args),
        "smembers" => sets::smembers(ctx, args),
        "sismember" => sets::sismember(ctx, args),
        "smismember" => sets::smismember(ctx, args),
        "scard" => sets::scard(ctx, args),
        "spop" => sets::spop(ctx, args),
        "srandmember" => sets::srandmember(ctx, args),
        "smove" => sets::smove(ctx, args),
        "sinter" => sets::sinter(ctx, args),
        "sintercard" => sets::sintercard(ctx, args),
        "sinterstore" => sets::sinterstore(ctx, args),
        "sunion" => sets::sunion(ctx, args),
        "sunionstore" => sets::sunionstore(ctx, args),
        "sdiff" => sets::sdiff(ctx, args),
        "sdiffstore" => sets::sdiffstore(ctx, args),
        "sscan" => sets::sscan(ctx, args),
        // sorted sets
        "zadd" => zsets::zadd(ctx, args),
        "zincrby" => zsets::zincrby(ctx, args),
        "zrem" => zsets::zrem(ctx, args),
        "zcard" => zsets::zcard(ctx, args),
        "zscore" => zsets::zscore(ctx, args),
        "zmscore" => zsets::zmscore(ctx, args),
        "zcount" => zsets::zcount(ctx, args),
        "zlexcount" => zsets::zlexcount(ctx, args),
        "zrank" => zsets::zrank(ctx, args, false),
        "zrevrank" => zsets::zrank(ctx, args, true),
        "zrange" => zsets::zrange(ctx, args),
        "zrangestore" => zsets::zrangestore(ctx, args),
        "zrevrange" => zsets::zrevrange(ctx, args),
        "zrangebyscore" => zsets::zrangebyscore(ctx, args, false),
        "zrevrangebyscore" => zsets::zrangebyscore(ctx, args, true),
        "zrangebylex" => zsets::zrangebylex(ctx, args, false),
        "zrevrangebylex" => zsets::zrangebylex(ctx, args, true),
        "zremrangebyrank" => zsets::zremrange(ctx, args, "rank"),
        "zremrangebyscore" => zsets::zremrange(ctx, args, "score"),
        "zremrangebylex" => zsets::zremrange(ctx, args, "lex"),
        "zpopmin" => zsets::zpop(ctx, args, false),
        "zpopmax" => zsets::zpop(ctx, args, true),
        "zmpop" => zsets::zmpop(ctx, args),
        "zrandmember" => zsets::zrandmember(ctx, args),
        "zunion" => zsets::zunion(ctx, args),
        "zinter" => zsets::zinter(ctx, args),
        "zdiff" => zsets::zdiff(ctx, args),
        "zunionstore" => zsets::zunionstore(ctx, args),
        "zinterstore" => zsets::zinterstore(ctx, args),
        "zdiffstore" => zsets::zdiffstore(ctx, args),
        "zintercard" => zsets::zintercard(ctx, args),
        "zscan" => zsets::zscan(ctx, args),
        "sort" => sort::sort(ctx, args, false),
        "sort_ro" => sort::sort(ctx, args, true),
        // keyspace
        "del" | "unlink" => keyspace::del(ctx, args),
        "exists" => keyspace::exists(ctx, args),
        "touch" => keyspace::exists(ctx, args),
        "type" => keyspace::type_(ctx, args),
        "keys" => keyspace::keys(ctx, args),
        "scan" => keyspace::scan(ctx, args),
        "randomkey" => keyspace::randomkey(ctx),
        "rename" => keyspace::rename(ctx, args, false),
        "renamenx" => keyspace::rename(ctx, args, true),
        "move" => keyspace::move_(ctx, args),
        "copy" => keyspace::copy(ctx, args),
        "expire" => keyspace::expire(ctx, args, 1000, false, "expire"),
        "pexpire" => keyspace::expire(ctx, args, 1, false, "pexpire"),
        "expireat" => keyspace::expire(ctx, args, 1000, true, "expireat"),
        "pexpireat" => keyspace::expire(ctx, args, 1, true, "pexpireat"),
        "ttl" => keyspace::ttl(ctx, args, 1000, false),
        "pttl" => keyspace::ttl(ctx, args, 1, false),
        "expiretime" => keyspace::ttl(ctx, args, 1000, true),
        "pexpiretime" => keyspace::ttl(ctx, args, 1, true),
        "persist" => keyspace::persist(ctx, args),
        "object" => keyspace::object(ctx, args),
        // server
        "dbsize" => server::dbsize(ctx),
        "flushdb" => server::flushdb(ctx, args),
        "flushall" => server::flushall(ctx, args),
        "swapdb" => server::swapdb(ctx, args),
        "info" => server::info(ctx, args),
        "config" => server::config(ctx, args),
        "command" => server::command(ctx, args),
        "time" => server::time(),
        "lastsave" => server::lastsave(ctx),
        "function" => server::function(ctx, args),
        _ => Err(crate::error::unknown_command(args)),
    }
}
