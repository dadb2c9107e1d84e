//! Client workloads through ordinary Redis commands, recorded as a
//! `kiwi_jepsen` history: a register per key (GET, SET, SET..GET), a counter
//! (INCRBY, GET) and a list (RPUSH, LRANGE). Keys rotate every
//! `key_period_ms` so that each key's history stays small enough for the
//! checker's search.
//!
//! A reply is recorded as it came back. A read that failed is dropped (it
//! changed nothing). A write that failed with a cluster error or got no
//! reply in time is recorded as *unknown* and the client continues as a new
//! process, as in Jepsen: the write may still be applied later.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiwi_jepsen::{Call, History, Op, Outcome, Ret};
use kiwi_resp::Frame;
use madsim::rand::{thread_rng, Rng};

use crate::cluster::{is_transient, resp_addr};
use crate::RespConn;

#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// Server nodes `1..=servers` the client picks from.
    pub servers: u8,
    /// Longest wait for one reply before the operation is unknown.
    pub op_timeout_ms: u64,
    /// Longest pause between two operations of one client.
    pub think_max_ms: u64,
    /// Pause after an error or a timeout (between half of it and all of it).
    pub backoff_ms: u64,
    /// How long a key generation lasts.
    pub key_period_ms: u64,
    /// Keys of each kind per generation.
    pub keys_per_kind: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            servers: 3,
            op_timeout_ms: 2_000,
            think_max_ms: 40,
            backoff_ms: 1_000,
            key_period_ms: 5_000,
            keys_per_kind: 2,
        }
    }
}

pub type SharedHistory = Arc<Mutex<History>>;

/// Simulated time since the simulation started.
pub fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

fn now_ns() -> u64 {
    u64::try_from(now().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs client `client` until `stop_at`, recording every operation.
pub async fn run_client(
    client: u64,
    cfg: WorkloadConfig,
    history: SharedHistory,
    stop_at: Duration,
) {
    // Process ids: one per incarnation of this client.
    let mut process = client << 32;
    let mut conn: Option<RespConn> = None;
    let mut written = 0u64;
    let op_timeout = Duration::from_millis(cfg.op_timeout_ms);
    while now() < stop_at {
        let think = thread_rng().gen_range(0..=cfg.think_max_ms);
        madsim::time::sleep(Duration::from_millis(think)).await;
        let Some(c) = conn.as_mut() else {
            let server = thread_rng().gen_range(1..=cfg.servers);
            let addr = resp_addr(server);
            match madsim::time::timeout(op_timeout, RespConn::connect(&addr)).await {
                Ok(Ok(c)) => conn = Some(c),
                _ => madsim::time::sleep(Duration::from_millis(100)).await,
            }
            continue;
        };
        written += 1;
        let (key, call) = next_op(&cfg, client, written);
        let args = command(&key, &call);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let invoke_ns = now_ns();
        let reply = madsim::time::timeout(op_timeout, c.call(&args)).await;
        let done = match reply {
            Ok(Ok(frame)) => match reply_of(&call, &frame) {
                Some(ret) => Some(ret),
                None if is_transient(&frame) => None,
                None => panic!("unexpected reply to {args:?}: {frame:?}"),
            },
            _ => None,
        };
        if done.is_none() {
            // The cluster is unavailable from here: back off and try another
            // node, instead of piling up unknown writes (each one multiplies
            // the checker's search).
            conn = None;
            let backoff = thread_rng().gen_range(cfg.backoff_ms / 2..=cfg.backoff_ms);
            madsim::time::sleep(Duration::from_millis(backoff)).await;
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
            Some(ret) => op(Some(now_ns()), Outcome::Done(ret)),
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

fn is_read(call: &Call) -> bool {
    matches!(call, Call::Get | Call::LRange)
}

/// A random operation on a key of the current generation; written values
/// are unique per client so that reads tell writes apart.
fn next_op(cfg: &WorkloadConfig, client: u64, n: u64) -> (String, Call) {
    let mut rng = thread_rng();
    let generation = now().as_millis() as u64 / cfg.key_period_ms.max(1);
    let index = rng.gen_range(0..cfg.keys_per_kind.max(1));
    let value = format!("{client}.{n}");
    let (kind, call) = match rng.gen_range(0..7) {
        0 => ("r", Call::Get),
        1 => ("r", Call::Set(value)),
        2 => ("r", Call::SetGet(value)),
        3 => ("c", Call::Get),
        4 => ("c", Call::IncrBy(rng.gen_range(1..=5))),
        5 => ("l", Call::LRange),
        _ => ("l", Call::RPush(value)),
    };
    (format!("{kind}{generation}.{index}"), call)
}

fn command(key: &str, call: &Call) -> Vec<String> {
    let s = |v: &str| v.to_string();
    match call {
        Call::Get => vec![s("GET"), s(key)],
        Call::Set(v) => vec![s("SET"), s(key), v.clone()],
        Call::SetGet(v) => vec![s("SET"), s(key), v.clone(), s("GET")],
        Call::IncrBy(n) => vec![s("INCRBY"), s(key), n.to_string()],
        Call::RPush(v) => vec![s("RPUSH"), s(key), v.clone()],
        Call::LRange => vec![s("LRANGE"), s(key), s("0"), s("-1")],
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The reply as the model sees it; `None` for anything else (an error).
fn reply_of(call: &Call, frame: &Frame) -> Option<Ret> {
    match (call, frame) {
        (Call::Get | Call::SetGet(_), Frame::Bulk(b)) => Some(Ret::Bulk(Some(text(b)))),
        (Call::Get | Call::SetGet(_), Frame::Null) => Some(Ret::Bulk(None)),
        (Call::Set(_), Frame::Simple(s)) if &s[..] == b"OK" => Some(Ret::Ok),
        (Call::IncrBy(_) | Call::RPush(_), Frame::Integer(n)) => Some(Ret::Int(*n)),
        (Call::LRange, Frame::Array(items)) => items
            .iter()
            .map(|f| match f {
                Frame::Bulk(b) => Some(text(b)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Ret::List),
        _ => None,
    }
}
