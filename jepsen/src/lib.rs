//! `kiwi-jepsen`: what a client did to Kiwi and whether that could have
//! happened on one correct Redis.
//!
//! * [`history`]: operations as clients record them (invoke and complete
//!   times, the reply or "unknown" when the client gave up waiting).
//! * [`model`]: the sequential specification — a single Redis key under
//!   GET/SET/SET..GET/INCRBY/RPUSH/LRANGE/APPEND/SADD/SMEMBERS.
//! * [`workload`]: the operations clients run (register, counter, list, set)
//!   and how replies map onto the model.
//! * [`checker`]: linearizability per key (Wing–Gong–Lowe search with
//!   memoised states, as in Lowe's "Testing for linearizability" and
//!   Porcupine), with an explicit step budget.
//! * [`expiring`]: the one-pass check for keys written with a TTL, whose
//!   expiry the linearization must place too, within the clocks' error.
//!
//! * [`edn`]: histories in Jepsen's EDN format, written and read (the
//!   register, cas-register, kv and list-append models, and Kiwi's own).
//! * [`report`]: a run's HTML page (throughput, latency, fault intervals,
//!   and the failing key's operations on an SVG timeline).
//! * [`client`]: a minimal RESP client over the runtime layer's TCP.
//!
//! Apart from the client, pure computation: the madsim simulator (`sim/`)
//! and the real-process harness use the same code.

pub mod checker;
pub mod client;
pub mod edn;
pub mod expiring;
pub mod history;
pub mod model;
pub mod report;
pub mod workload;

pub use checker::{check, check_key, check_with_clock_error, KeyReport, Report, Verdict};
pub use history::{Call, History, Op, Outcome, Ret};
pub use model::State;
