//! The clients that run against Kiwi, shared by the madsim simulator and
//! the real-process harness: which key and command come next, the
//! command's arguments, what a reply means to the model, and the client
//! loop that records the history ([`run_client`]).
//!
//! Five workloads ([`Workload`]) share one key space: a register (GET,
//! SET, SET..GET, and compare-and-set through WATCH/MULTI/EXEC), a counter
//! (INCRBY, GET), a list (RPUSH, LRANGE, and both in one MULTI/EXEC), a
//! set (SADD, SMEMBERS) and expiring keys (SET..PX, GET: each written once
//! by its owner, read by everyone). Keys rotate every
//! `key_period_ms`, so each key's history stays small enough for the
//! checker's search. Randomness comes from the caller (the simulator's
//! seeded RNG, or any RNG in the harness) as plain draws.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiwi_resp::Frame;
use kiwi_runtime::time::Instant;

use crate::client::RespConn;
use crate::history::{Call, History, Op, Outcome, Ret};

/// Which kinds of keys the clients work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Workload {
    /// Every kind below, side by side.
    #[default]
    All,
    /// GET, SET, SET..GET and compare-and-set (WATCH/MULTI/EXEC).
    Register,
    /// INCRBY and GET.
    Counter,
    /// RPUSH, LRANGE, and RPUSH + LRANGE inside one MULTI/EXEC.
    ListAppend,
    /// SADD and SMEMBERS: no acknowledged add may be lost.
    Set,
    /// SET..PX and GET: a value appears once, then expires, never before
    /// its TTL and never to come back.
    Expiring,
}

impl std::str::FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Ok(match s {
            "all" => Workload::All,
            "register" => Workload::Register,
            "counter" => Workload::Counter,
            "list-append" => Workload::ListAppend,
            "set" => Workload::Set,
            "expiring" => Workload::Expiring,
            other => {
                return Err(format!(
                    "unknown workload '{other}' \
                     (all, register, counter, list-append, set, expiring)"
                ))
            }
        })
    }
}

#[derive(Clone, Debug)]
pub struct KeySpace {
    /// How long a key generation lasts.
    pub key_period_ms: u64,
    /// Keys of each kind per generation.
    pub keys_per_kind: u32,
    pub workload: Workload,
}

impl Default for KeySpace {
    fn default() -> Self {
        KeySpace {
            key_period_ms: 5_000,
            keys_per_kind: 2,
            workload: Workload::All,
        }
    }
}

/// The operations of each kind of key (the key's name starts with the
/// kind's letter). `value` is a unique written value, `n` a small number.
fn ops_of(kind: Workload, value: String, n: i64) -> Vec<(&'static str, Call)> {
    match kind {
        Workload::Register => vec![
            ("r", Call::Get),
            ("r", Call::Set(value.clone())),
            ("r", Call::SetGet(value.clone())),
            // `from` is what the transaction's GET will see.
            (
                "r",
                Call::Cas {
                    from: None,
                    to: value,
                },
            ),
        ],
        Workload::Counter => vec![("c", Call::Get), ("c", Call::IncrBy(n))],
        Workload::ListAppend => vec![
            ("l", Call::LRange),
            ("l", Call::RPush(value.clone())),
            ("l", Call::RPushLRange(value)),
        ],
        Workload::Set => vec![("s", Call::SMembers), ("s", Call::SAdd(value))],
        Workload::Expiring => vec![
            ("x", Call::Get),
            (
                "x",
                Call::SetPx {
                    value,
                    ttl_ms: EXPIRING_TTL_MIN_MS + n as u64 * EXPIRING_TTL_STEP_MS,
                },
            ),
        ],
        Workload::All => [
            Workload::Register,
            Workload::Counter,
            Workload::ListAppend,
            Workload::Set,
            Workload::Expiring,
        ]
        .into_iter()
        .flat_map(|k| ops_of(k, value.clone(), n))
        .collect(),
    }
}

/// TTLs of the expiring keys: 600 ms to 2.2 s (`n` is 1..=5), so most
/// expire within their key's generation, while it is still read.
const EXPIRING_TTL_MIN_MS: u64 = 200;
const EXPIRING_TTL_STEP_MS: u64 = 400;
/// Expiring keys belong to clients 1..=this: client `c` writes `x<gen>.w<c>`
/// (once per generation, see [`run_client`]) and anyone reads it.
const EXPIRING_KEY_OWNERS: u64 = 5;

/// The `n`th operation of `client` at `now_ms`, chosen by two random draws.
/// Written values are unique per client and operation, so that reads tell
/// writes apart.
pub fn next_op(
    keys: &KeySpace,
    now_ms: u64,
    client: u64,
    n: u64,
    draws: [u64; 2],
) -> (String, Call) {
    let generation = now_ms / keys.key_period_ms.max(1);
    let index = draws[0] % u64::from(keys.keys_per_kind.max(1));
    let mut ops = ops_of(
        keys.workload,
        format!("{client}.{n}"),
        1 + (draws[1] % 5) as i64,
    );
    assert!(!ops.is_empty(), "every workload has operations");
    let pick = (draws[1] / 5 % ops.len() as u64) as usize;
    let (kind, call) = ops.swap_remove(pick);
    let key = match (kind, &call) {
        ("x", Call::SetPx { .. }) => format!("x{generation}.w{client}"),
        ("x", _) => format!("x{generation}.w{}", 1 + draws[0] % EXPIRING_KEY_OWNERS),
        _ => format!("{kind}{generation}.{index}"),
    };
    (key, call)
}

/// Whether `call` changes nothing (a failed read can be left out of the
/// history; a failed write is unknown).
pub fn is_read(call: &Call) -> bool {
    matches!(call, Call::Get | Call::LRange | Call::SMembers)
}

/// The Redis command for `call` on `key` (for CAS, the write inside its
/// transaction).
pub fn command(key: &str, call: &Call) -> Vec<String> {
    let s = |v: &str| v.to_string();
    match call {
        Call::Get => vec![s("GET"), s(key)],
        Call::Set(v) => vec![s("SET"), s(key), v.clone()],
        Call::SetPx { value, ttl_ms } => {
            vec![s("SET"), s(key), value.clone(), s("PX"), ttl_ms.to_string()]
        }
        Call::SetGet(v) => vec![s("SET"), s(key), v.clone(), s("GET")],
        Call::IncrBy(n) => vec![s("INCRBY"), s(key), n.to_string()],
        Call::RPush(v) => vec![s("RPUSH"), s(key), v.clone()],
        Call::LRange => vec![s("LRANGE"), s(key), s("0"), s("-1")],
        Call::Cas { to, .. } => vec![s("SET"), s(key), to.clone()],
        // The first of the transaction's two commands; `perform` sends both.
        Call::RPushLRange(v) => vec![s("RPUSH"), s(key), v.clone()],
        Call::Append(v) => vec![s("APPEND"), s(key), v.clone()],
        Call::SAdd(v) => vec![s("SADD"), s(key), v.clone()],
        Call::SMembers => vec![s("SMEMBERS"), s(key)],
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The reply as the model sees it; `None` for anything else (an error).
pub fn reply_of(call: &Call, frame: &Frame) -> Option<Ret> {
    match (call, frame) {
        (Call::Get | Call::SetGet(_), Frame::Bulk(b)) => Some(Ret::Bulk(Some(text(b)))),
        (Call::Get | Call::SetGet(_), Frame::Null) => Some(Ret::Bulk(None)),
        (Call::Set(_) | Call::SetPx { .. }, Frame::Simple(s)) if &s[..] == b"OK" => Some(Ret::Ok),
        // EXEC's reply to the transaction holding the CAS's SET.
        (Call::Cas { .. }, Frame::Array(r)) if r.len() == 1 && r[0] == Frame::ok() => Some(Ret::Ok),
        (Call::IncrBy(_) | Call::RPush(_) | Call::Append(_) | Call::SAdd(_), Frame::Integer(n)) => {
            Some(Ret::Int(*n))
        }
        (Call::LRange, Frame::Array(items)) => strings(items).map(Ret::List),
        // RESP2 and RESP3 (a set) alike; the model compares sorted members.
        (Call::SMembers, Frame::Array(items) | Frame::Set(items)) => strings(items).map(|mut v| {
            v.sort();
            Ret::List(v)
        }),
        // EXEC's reply: [RPUSH's length, LRANGE's list].
        (Call::RPushLRange(_), Frame::Array(r)) => match &r[..] {
            [Frame::Integer(_), Frame::Array(items)] => strings(items).map(Ret::List),
            _ => None,
        },
        _ => None,
    }
}

/// The bulk strings of an array reply; `None` if any item is not one.
fn strings(items: &[Frame]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|f| match f {
            Frame::Bulk(b) => Some(text(b)),
            _ => None,
        })
        .collect()
}

/// Whether `frame` is a cluster error that leaves a write's fate unknown
/// (no leader, leadership moving, the cluster too slow to answer).
pub fn is_transient(frame: &Frame) -> bool {
    matches!(frame, Frame::Error(e)
        if e.starts_with(b"CLUSTERDOWN") || e.starts_with(b"TRYAGAIN") || e.starts_with(b"TIMEOUT"))
}

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// RESP addresses of the servers the client picks from.
    pub servers: Vec<String>,
    /// Longest wait for one reply before the operation is unknown.
    pub op_timeout_ms: u64,
    /// Longest pause between two operations of one client.
    pub think_max_ms: u64,
    /// Pause after an error or a timeout (between half of it and all of it).
    pub backoff_ms: u64,
    /// Each client always talks to one server (client `c` to
    /// `servers[c % len]`), as Jepsen binds a client to a node, so that a
    /// cut-off node keeps being asked; otherwise every new connection picks
    /// a server at random.
    pub pinned: bool,
    pub keys: KeySpace,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            servers: Vec::new(),
            op_timeout_ms: 2_000,
            think_max_ms: 40,
            backoff_ms: 1_000,
            pinned: false,
            keys: KeySpace::default(),
        }
    }
}

pub type SharedHistory = Arc<Mutex<History>>;

fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs client `client` until `stop_at` after `start`, recording every
/// operation into `history`. Time, randomness and sockets come from the
/// runtime layer: simulated under madsim, real in the harness.
///
/// A reply is recorded as it came back. A read that failed is dropped (it
/// changed nothing). A write that failed with a cluster error or got no
/// reply in time is recorded as unknown and the client continues as a new
/// process, as in Jepsen: the write may still be applied later. Any other
/// reply is a bug in the server and panics.
/// What became of one operation.
enum Performed {
    Done(Ret),
    /// No reply, or a cluster error: it may or may not have taken effect.
    Unknown,
    /// A CAS that WATCH aborted: changed nothing, the connection is fine.
    Aborted,
    /// Certainly changed nothing, but failed midway (a CAS before its
    /// EXEC was sent): the connection may be inside a transaction.
    NotApplied,
}

/// Sends `cmd` and returns the reply, or `None` on a timeout or a broken
/// connection.
async fn send(c: &mut RespConn, cmd: &[String], timeout: Duration) -> Option<Frame> {
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    match kiwi_runtime::time::timeout(timeout, c.call(&args)).await {
        Ok(Ok(frame)) => Some(frame),
        _ => None,
    }
}

/// Runs `call` on `key`; a CAS learns its `from` here.
async fn perform(c: &mut RespConn, key: &str, call: &mut Call, timeout: Duration) -> Performed {
    if let Call::Cas { from, .. } = call {
        let k = key.to_string();
        let step = |name: &str| vec![name.to_string(), k.clone()];
        match send(c, &step("WATCH"), timeout).await {
            Some(f) if f == Frame::ok() => {}
            Some(f) if is_transient(&f) => return Performed::NotApplied,
            None => return Performed::NotApplied,
            Some(f) => panic!("unexpected reply to WATCH {key}: {f:?}"),
        }
        *from = match send(c, &step("GET"), timeout).await {
            Some(Frame::Bulk(b)) => Some(text(&b)),
            Some(Frame::Null) => None,
            Some(f) if is_transient(&f) => return Performed::NotApplied,
            None => return Performed::NotApplied,
            Some(f) => panic!("unexpected reply to GET {key}: {f:?}"),
        };
        for (cmd, want) in [
            (vec!["MULTI".to_string()], "OK"),
            (command(key, call), "QUEUED"),
        ] {
            match send(c, &cmd, timeout).await {
                Some(Frame::Simple(s)) if &s[..] == want.as_bytes() => {}
                None => return Performed::NotApplied,
                Some(f) => panic!("unexpected reply to {cmd:?}: {f:?}"),
            }
        }
        return exec(c, call, timeout).await;
    }
    if let Call::RPushLRange(_) = call {
        let lrange = command(key, &Call::LRange);
        for (cmd, want) in [
            (vec!["MULTI".to_string()], "OK"),
            (command(key, call), "QUEUED"),
            (lrange, "QUEUED"),
        ] {
            match send(c, &cmd, timeout).await {
                Some(Frame::Simple(s)) if &s[..] == want.as_bytes() => {}
                None => return Performed::NotApplied,
                Some(f) => panic!("unexpected reply to {cmd:?}: {f:?}"),
            }
        }
        return exec(c, call, timeout).await;
    }
    let cmd = command(key, call);
    match send(c, &cmd, timeout).await {
        Some(frame) => match reply_of(call, &frame) {
            Some(ret) => Performed::Done(ret),
            None if is_transient(&frame) => Performed::Unknown,
            None => panic!("unexpected reply to {cmd:?}: {frame:?}"),
        },
        None => Performed::Unknown,
    }
}

/// Sends the EXEC of `call`'s transaction and reads what became of it.
async fn exec(c: &mut RespConn, call: &Call, timeout: Duration) -> Performed {
    match send(c, &["EXEC".to_string()], timeout).await {
        Some(Frame::NullArray) => Performed::Aborted,
        Some(f) => match reply_of(call, &f) {
            Some(ret) => Performed::Done(ret),
            None if is_transient(&f) => Performed::Unknown,
            None => panic!("unexpected reply to EXEC: {f:?}"),
        },
        None => Performed::Unknown,
    }
}

pub async fn run_client(
    client: u64,
    cfg: ClientConfig,
    history: SharedHistory,
    start: Instant,
    stop_at: Duration,
) {
    assert!(!cfg.servers.is_empty(), "a client needs a server");
    // Process ids: one per incarnation of this client.
    let mut process = client << 32;
    let mut conn: Option<RespConn> = None;
    let mut written = 0u64;
    // The expiring key this client last wrote (its generation's).
    let mut expiring_written: Option<String> = None;
    let op_timeout = Duration::from_millis(cfg.op_timeout_ms);
    while start.elapsed() < stop_at {
        let think = kiwi_runtime::rand::between(0, cfg.think_max_ms);
        kiwi_runtime::time::sleep(Duration::from_millis(think)).await;
        let Some(c) = conn.as_mut() else {
            let server = if cfg.pinned {
                client as usize % cfg.servers.len()
            } else {
                kiwi_runtime::rand::index(cfg.servers.len())
            };
            let addr = &cfg.servers[server];
            match kiwi_runtime::time::timeout(op_timeout, RespConn::connect(addr)).await {
                Ok(Ok(c)) => conn = Some(c),
                _ => kiwi_runtime::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        };
        written += 1;
        let draws = [kiwi_runtime::rand::u64(), kiwi_runtime::rand::u64()];
        let now_ms = start.elapsed().as_millis() as u64;
        let (key, mut call) = next_op(&cfg.keys, now_ms, client, written, draws);
        if let Call::SetPx { .. } = call {
            // An expiring key is written once: its check relies on it.
            if expiring_written.as_ref() == Some(&key) {
                call = Call::Get;
            } else {
                expiring_written = Some(key.clone());
            }
        }
        let invoke_ns = nanos_since(start);
        let done = match perform(c, &key, &mut call, op_timeout).await {
            Performed::Done(ret) => Some(ret),
            Performed::Unknown => None,
            Performed::Aborted => continue,
            Performed::NotApplied => {
                // Changed nothing: left out of the history. The connection
                // may be mid-transaction: start afresh.
                conn = None;
                continue;
            }
        };
        if done.is_none() {
            // The cluster is unavailable from here: back off and try another
            // node, instead of piling up unknown writes (each one multiplies
            // the checker's search).
            conn = None;
            let backoff = kiwi_runtime::rand::between(cfg.backoff_ms / 2, cfg.backoff_ms);
            kiwi_runtime::time::sleep(Duration::from_millis(backoff)).await;
        }
        let op = |complete_ns, outcome| Op {
            process,
            key: key.clone(),
            call: call.clone(),
            invoke_ns,
            complete_ns,
            outcome,
        };
        let record = match done {
            Some(ret) => op(Some(nanos_since(start)), Outcome::Done(ret)),
            None if is_read(&call) => continue,
            None => {
                let unknown = op(None, Outcome::Unknown);
                process += 1;
                unknown
            }
        };
        match history.lock() {
            Ok(mut h) => h.push(record),
            Err(poisoned) => poisoned.into_inner().push(record),
        }
    }
}
