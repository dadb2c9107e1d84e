//! `kiwi-server` wires Kiwi together: the listener and connections on the
//! network runtime, the executor on the storage runtime, and the bounded
//! channel between them.
//!
//! Data path: client → [`connection`] (RESP decode, connection commands in
//! [`conn_cmds`]) → [`storage_worker`] (command execution on the engine) →
//! RocksDB, and the replies back in request order.

pub mod cli;
pub mod conn_cmds;
pub mod connection;
pub mod metrics_http;
pub mod monitor;
pub mod pubsub;
pub mod server;
pub mod storage_worker;
pub mod transaction;
pub mod wait;

pub use cli::main_with;
pub use server::{run, Server, ServerError};
