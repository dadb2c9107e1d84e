//! Operation histories: what each client asked, when, and what it saw.
//!
//! Times are nanoseconds on one clock shared by every client (the simulated
//! clock in madsim, a monotonic clock in the real-process harness). An
//! operation whose reply never arrived (timeout, connection lost) is
//! [`Outcome::Unknown`]: it may have taken effect at any time after its
//! invocation, or never. Operations that certainly did not take effect (a
//! read that failed, a write refused before it was proposed) are left out of
//! the history altogether.

use std::fmt;

/// A command on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Call {
    /// `GET k`
    Get,
    /// `SET k v`
    Set(String),
    /// `SET k v GET`: writes and returns the previous value.
    SetGet(String),
    /// `SET k v PX ttl_ms`: a value that expires. Each such key is written
    /// once (see `workload`) and checked by `checker::check_expiring`.
    SetPx { value: String, ttl_ms: u64 },
    /// `INCRBY k n`
    IncrBy(i64),
    /// `RPUSH k v`
    RPush(String),
    /// `LRANGE k 0 -1`
    LRange,
    /// `MULTI`, `RPUSH k v`, `LRANGE k 0 -1`, `EXEC`: appends and reads the
    /// whole list in one step.
    RPushLRange(String),
    /// `APPEND k v` (string append; a kv-model history's `:append`).
    Append(String),
    /// `SADD k v`
    SAdd(String),
    /// `SMEMBERS k`
    SMembers,
    /// Compare-and-set through a transaction: `WATCH k`, `GET k` (saw
    /// `from`), `MULTI`, `SET k to`, `EXEC`. Recorded only if EXEC ran it
    /// (or its fate is unknown); an EXEC that WATCH aborted changed nothing.
    Cas { from: Option<String>, to: String },
}

/// A reply, reduced to what the model checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `+OK`
    Ok,
    /// A bulk string or nil.
    Bulk(Option<String>),
    /// An integer reply (INCRBY's new value, RPUSH's new length).
    Int(i64),
    /// An array of bulk strings (LRANGE; SMEMBERS sorted).
    List(Vec<String>),
    /// A write acknowledged without its reply recorded (an EDN history's
    /// `:append`, whose new length Jepsen does not keep).
    Acked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The reply arrived.
    Done(Ret),
    /// No reply: the operation may or may not have taken effect.
    Unknown,
}

/// One operation by one client process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The client process; one process runs one operation at a time. A
    /// process whose operation ended unknown never issues another (the
    /// client continues as a new process), as in Jepsen.
    pub process: u64,
    pub key: String,
    pub call: Call,
    pub invoke_ns: u64,
    /// When the reply arrived; `None` for [`Outcome::Unknown`].
    pub complete_ns: Option<u64>,
    pub outcome: Outcome,
}

impl Op {
    /// Checks the fields agree with each other (the recorder's invariant).
    pub fn is_well_formed(&self) -> bool {
        match (&self.outcome, self.complete_ns) {
            (Outcome::Done(_), Some(done)) => done >= self.invoke_ns,
            (Outcome::Unknown, None) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.complete_ns {
            Some(t) => format!("{:.3}", t as f64 / 1e9),
            None => "?".to_string(),
        };
        let ret = match &self.outcome {
            Outcome::Done(r) => format!("{r:?}"),
            Outcome::Unknown => "unknown".to_string(),
        };
        write!(
            f,
            "p{} [{:.3}, {end}] {} {:?} -> {ret}",
            self.process,
            self.invoke_ns as f64 / 1e9,
            self.key,
            self.call
        )
    }
}

/// All operations of a run, in the order they were recorded.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    pub fn push(&mut self, op: Op) {
        assert!(op.is_well_formed(), "malformed op recorded: {op:?}");
        self.ops.push(op);
    }

    /// Operations that completed with a reply.
    pub fn done(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Done(_)))
            .count()
    }

    /// Operations whose outcome is unknown.
    pub fn unknown(&self) -> usize {
        self.ops.len() - self.done()
    }
}
