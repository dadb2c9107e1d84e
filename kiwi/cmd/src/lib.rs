//! `kiwi-cmd` owns what each Redis command means.
//!
//! * [`table`]: the command table (names, arity, flags, docs): the single
//!   source for dispatch, arity errors and `COMMAND INFO/DOCS/LIST/COUNT`.
//! * [`exec`]: the executor that runs on the storage runtime, one command at
//!   a time against the engine, so read-modify-write commands are atomic.
//! * one module per command family: [`strings`], [`hashes`], [`lists`],
//!   [`sets`], [`zsets`], [`sort`], [`keyspace`], [`server`]; [`coll`] holds what the collection
//!   families share.
//! * [`notify`]: keyspace notifications, which commands report through
//!   [`Ctx::notify`] and the executor publishes.
//! * [`config`] and [`state`]: the server configuration and the state shared
//!   between the network runtime (connections) and the storage runtime.
//!
//! Connection-scoped commands (HELLO, AUTH, SELECT, CLIENT, ...) are listed
//! in the table but executed by the server crate, which owns connections.

pub mod acl;
pub mod args;
pub mod backup;
pub mod bitmaps;
pub mod blocking;
pub mod calls;
pub mod coll;
pub mod config;
pub mod config_reference;
pub mod error;
pub mod exec;
pub mod fuzzing;
pub mod glob;
pub mod hashes;
pub mod hll;
pub mod keyspace;
pub mod latency;
pub mod lists;
pub mod longdouble;
pub mod metrics;
pub mod notify;
pub mod pause;
pub mod pubsub;
pub mod redis_docs;
pub mod registry;
pub mod rng;
pub mod server;
pub mod sets;
pub mod sort;
pub mod state;
pub mod strings;
pub mod table;
pub mod tracking;
pub mod watch;
pub mod zsets;

pub use config::{ClusterConfig, Config};
pub use error::CmdError;
pub use exec::{Ctx, Executor, ExecutorJob, QueuedCmd, ReplicatedBatch, ReplicatedCmd, Reply};
pub use state::{ClientHandle, Shared};
pub use table::{lookup, CommandSpec, Route};

/// The Redis version Kiwi reports (`redis_version`, `HELLO`): the version
/// whose behaviour Kiwi implements and is tested against.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";
/// Kiwi's own version.
pub const KIWI_VERSION: &str = env!("CARGO_PKG_VERSION");
