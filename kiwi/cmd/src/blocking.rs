//! Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP.
//!
//! The executor first tries a blocking command like its non-blocking form.
//! With nothing to pop, the client is parked in a FIFO queue per key it
//! waits on. After any command that creates or rewrites a key with parked
//! clients, the executor retries the first of them right away (Redis's
//! serve-on-ready), so the first client blocked on a key is served first,
//! before any other command runs.
//!
//! The connection owns the timeout and watches its socket. It and the
//! executor settle who wins through one atomic state per parked client:
//! the executor moves `WAITING -> SERVING` while it retries, then to
//! `SERVED` (reply sent) or back to `WAITING` (still nothing); the
//! connection gives up only by `WAITING -> CANCELLED`. So nothing is ever
//! popped for a client that already gave up, and a client that lost the
//! race always gets its reply.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};
use std::sync::Arc;

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_runtime::sync::oneshot;

use crate::args::strtod;
use crate::error::{err, CmdResult};
use crate::exec::Ctx;
use crate::lists::{self, End};
use crate::longdouble::LongDouble;
use crate::zsets;

const WAITING: u8 = 0;
const SERVING: u8 = 1;
const SERVED: u8 = 2;
const CANCELLED: u8 = 3;

/// Most 1 ms waits for the executor to finish one retry of this client
/// (a single storage operation) before giving up on the race.
const CANCEL_MAX_WAITS: u32 = 10_000;

/// Whether `name` (canonical) is a blocking command.
pub fn is_blocking(name: &str) -> bool {
    matches!(
        name,
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop"
    )
}

/// What a connection holds while its client is blocked.
pub struct BlockedTicket {
    state: Arc<AtomicU8>,
    /// The reply, once the executor serves the client.
    pub rx: oneshot::Receiver<Frame>,
    /// Relative timeout; 0 waits forever.
    pub timeout_ms: u64,
    /// What to answer when the timeout fires.
    pub timeout_reply: Frame,
}

impl BlockedTicket {
    /// Gives up waiting (timeout, disconnect, kill). Returns false if the
    /// executor served this client first: its reply is in `rx`.
    pub async fn cancel(&self) -> bool {
        for _ in 0..CANCEL_MAX_WAITS {
            match self
                .state
                .compare_exchange(WAITING, CANCELLED, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(SERVING) => kiwi_runtime::time::sleep_ms(1).await,
                Err(_) => return false,
            }
        }
        tracing::error!("blocked client: executor retry did not finish; waiting for its reply");
        false
    }
}

/// A parked client.
struct Waiter {
    db: usize,
    proto: Protocol,
    name: &'static str,
    args: Vec<Bytes>,
    keys: Vec<Bytes>,
    state: Arc<AtomicU8>,
    tx: oneshot::Sender<Frame>,
}

/// The parked clients, in blocking order per key. Each connection parks at
/// most one command, so the registry is bounded by `maxclients`.
#[derive(Default)]
pub struct BlockRegistry {
    next_id: u64,
    waiters: HashMap<u64, Waiter>,
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
}

impl BlockRegistry {
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Number of parked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    fn park(
        &mut self,
        db: usize,
        proto: Protocol,
        name: &'static str,
        args: &[Bytes],
        keys: Vec<Bytes>,
    ) -> (Arc<AtomicU8>, oneshot::Receiver<Frame>) {
        let (tx, rx) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(WAITING));
        self.next_id += 1;
        let id = self.next_id;
        for k in &keys {
            self.by_key
                .entry((db, k.clone()))
                .or_default()
                .push_back(id);
        }
        self.waiters.insert(
            id,
            Waiter {
                db,
                proto,
                name,
                args: args.to_vec(),
                keys,
                state: state.clone(),
                tx,
            },
        );
        (state, rx)
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            let slot = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(w)
    }

    /// Drops clients that gave up (timeout, disconnect); called periodically.
    pub fn purge_cancelled(&mut self) {
        let gone: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, w)| w.state.load(Acquire) == CANCELLED || w.tx.is_closed())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            self.remove(id);
        }
    }
}

/// Parses a blocking timeout (seconds, fractional) as Redis's
/// `getTimeoutFromObjectOrReply`; returns milliseconds, 0 = forever.
pub fn parse_timeout_ms(arg: &[u8], now_ms: u64) -> CmdResult<u64> {
    let ld =
        LongDouble::parse(arg).ok_or_else(|| err("ERR timeout is not a float or out of range"))?;
    // C's (long long) cast of an out-of-range double yields LLONG_MIN on
    // x86-64, which Redis then reports as negative.
    let ms = match (ld, strtod(arg)) {
        (Ok(_), Some((v, _))) if (v * 1000.0).abs() < 9.2e18 => (v * 1000.0) as i64,
        _ => i64::MIN,
    };
    if ms < 0 {
        return Err(err("ERR timeout is negative"));
    }
    if ms > 0 && ms > i64::MAX - now_ms as i64 {
        return Err(err("ERR timeout is out of range"));
    }
    Ok(ms as u64)
}

/// The keys a blocking command waits on.
fn keys_of(name: &str, args: &[Bytes]) -> Vec<Bytes> {
    match name {
        "blmove" | "brpoplpush" => vec![args[1].clone()],
        "blmpop" | "bzmpop" => {
            let n = kiwi_resp::request::parse_i64(&args[2]).unwrap_or(0).max(0) as usize;
            args.iter().skip(3).take(n).cloned().collect()
        }
        _ => args[1..args.len() - 1].to_vec(),
    }
}

/// The reply when the timeout fires: a null array for every blocking
/// command, BLMOVE and BRPOPLPUSH included (`*-1` in RESP2, as Redis sends).
fn timeout_reply() -> Frame {
    Frame::NullArray
}

/// Index of the timeout argument.
fn timeout_at(name: &str, args: &[Bytes]) -> usize {
    match name {
        "blmpop" | "bzmpop" => 1,
        _ => args.len() - 1,
    }
}

/// Tries the command without blocking: `Some(reply)` if it produced one
/// (data or an error), `None` if it would block.
fn attempt(ctx: &mut Ctx<'_>, name: &str, args: &[Bytes]) -> CmdResult<Option<Frame>> {
    match name {
        "blpop" | "brpop" => {
            let end = if name == "blpop" {
                End::Left
            } else {
                End::Right
            };
            let keys = &args[1..args.len() - 1];
            Ok(lists::mpop_first(ctx, keys, end, 1)?.map(|f| match f {
                // [key, [element]] -> [key, element]
                Frame::Array(mut kv) if kv.len() == 2 => match kv.pop() {
                    Some(Frame::Array(mut items)) if items.len() == 1 => {
                        kv.extend(items.pop());
                        Frame::Array(kv)
                    }
                    other => Frame::Array(kv.into_iter().chain(other).collect()),
                },
                other => other,
            }))
        }
        "blmove" | "brpoplpush" => {
            let (from, to) = if name == "blmove" {
                (End::parse(&args[3])?, End::parse(&args[4])?)
            } else {
                (End::Right, End::Left)
            };
            Ok(lists::move_element(ctx, &args[1], &args[2], from, to)?.map(Frame::Bulk))
        }
        "blmpop" => {
            let a = crate::coll::parse_mpop(args, 2, End::parse)?;
            lists::mpop_first(ctx, a.keys, a.from, a.count)
        }
        "bzpopmin" | "bzpopmax" => {
            let keys = &args[1..args.len() - 1];
            Ok(
                zsets::zmpop_first(ctx, keys, name == "bzpopmax", 1)?.map(|f| match f {
                    // [key, [[member, score]]] -> [key, member, score]
                    Frame::Array(mut kv) if kv.len() == 2 => match kv.pop() {
                        Some(Frame::Array(mut pairs)) if pairs.len() == 1 => match pairs.pop() {
                            Some(Frame::Array(ms)) => {
                                Frame::Array(kv.into_iter().chain(ms).collect())
                            }
                            other => Frame::Array(kv.into_iter().chain(other).collect()),
                        },
                        other => Frame::Array(kv.into_iter().chain(other).collect()),
                    },
                    other => other,
                }),
            )
        }
        "bzmpop" => {
            let a = crate::coll::parse_mpop(args, 2, zsets::parse_min_max)?;
            zsets::zmpop_first(ctx, a.keys, a.from, a.count)
        }
        _ => Ok(Some(crate::error::unknown_command(args).into_frame())),
    }
}

/// The outcome of a blocking command: an immediate reply, or a ticket to wait on.
pub enum Blocking {
    Reply(Frame),
    Blocked(BlockedTicket),
}

/// A blocking command run once without waiting (cluster mode applies
/// them like Redis runs them inside MULTI): the element, or the timeout reply.
pub fn execute_once(ctx: &mut Ctx<'_>, name: &str, args: &[Bytes]) -> CmdResult<Frame> {
    parse_timeout_ms(&args[timeout_at(name, args)], ctx.now_ms)?;
    Ok(attempt(ctx, name, args)?.unwrap_or_else(|| match name {
        // Inside MULTI Redis answers these two with a null bulk string
        // (their non-blocking form's reply), the others with a null array.
        "blmove" | "brpoplpush" => Frame::Null,
        _ => timeout_reply(),
    }))
}

/// Runs a blocking command: validates, attempts, parks if nothing to pop.
pub fn execute(
    ctx: &mut Ctx<'_>,
    registry: &mut BlockRegistry,
    name: &'static str,
    args: &[Bytes],
) -> CmdResult<Blocking> {
    let timeout_ms = parse_timeout_ms(&args[timeout_at(name, args)], ctx.now_ms)?;
    if let Some(frame) = attempt(ctx, name, args)? {
        return Ok(Blocking::Reply(frame));
    }
    let keys = keys_of(name, args);
    debug_assert!(!keys.is_empty(), "a blocking command waits on a key");
    let (state, rx) = registry.park(ctx.db, ctx.proto, name, args, keys);
    Ok(Blocking::Blocked(BlockedTicket {
        state,
        rx,
        timeout_ms,
        timeout_reply: timeout_reply(),
    }))
}

/// Most retries of parked clients one write may trigger (each served
/// client may ready more keys, e.g. BLMOVE chains); bounds the work.
const SERVE_MAX_ATTEMPTS: usize = 100_000;

/// A reply for a served client, sent once its writes are durable.
pub type Delivery = (oneshot::Sender<Frame>, Frame);

/// Serves parked clients waiting on the keys in `ready` (keys just written),
/// first blocked first. Writes made while serving ready more keys in turn.
/// Replies go to `deliver`: the caller sends them after the group commit.
pub fn serve_ready(
    registry: &mut BlockRegistry,
    mut ready: Vec<(usize, Bytes)>,
    deliver: &mut Vec<Delivery>,
    mut with_ctx: impl FnMut(usize, Protocol, &mut dyn FnMut(&mut Ctx<'_>)),
) {
    let mut attempts = 0;
    while let Some(slot) = ready.pop() {
        loop {
            if attempts >= SERVE_MAX_ATTEMPTS {
                tracing::warn!(
                    "serving blocked clients hit its bound; the rest wait for the next write"
                );
                return;
            }
            let Some(&id) = registry.by_key.get(&slot).and_then(|q| q.front()) else {
                break;
            };
            attempts += 1;
            let Some(w) = registry.waiters.get(&id) else {
                registry.remove(id);
                continue;
            };
            if w.tx.is_closed()
                || w.state
                    .compare_exchange(WAITING, SERVING, AcqRel, Acquire)
                    .is_err()
            {
                registry.remove(id);
                continue;
            }
            let (name, args, db, proto) = (w.name, w.args.clone(), w.db, w.proto);
            let mut outcome: Option<(Frame, Vec<(usize, Bytes)>)> = None;
            with_ctx(db, proto, &mut |ctx: &mut Ctx<'_>| {
                if let Ok(Some(frame)) = attempt(ctx, name, &args) {
                    outcome = Some((frame, std::mem::take(&mut ctx.written)));
                }
            });
            match outcome {
                Some((frame, written)) => {
                    if let Some(w) = registry.remove(id) {
                        w.state.store(SERVED, Release);
                        // A connection that saw SERVED waits for this reply.
                        deliver.push((w.tx, frame));
                    }
                    ready.extend(written);
                }
                None => {
                    // Still nothing for the first in line (or the key now holds
                    // another type): it keeps its place, and so does everyone behind it.
                    if let Some(w) = registry.waiters.get(&id) {
                        w.state.store(WAITING, Release);
                    }
                    break;
                }
            }
        }
    }
}
