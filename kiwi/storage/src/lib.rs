//! `kiwi-storage` owns Kiwi's on-disk format and the RocksDB engine under it.
//!
//! The encoding follows Kvrocks/Blackwidow, designed up front for every Redis
//! type (see [`keys`] and [`meta`]):
//!
//! * column family `meta`: one entry per Redis key holding its type, absolute
//!   expiry in ms, and either the string value inline or a collection header
//!   (version, element count, list head/tail).
//! * column family `data`: collection elements as sub-keys prefixed by the
//!   key *and its version*. Deleting or overwriting a collection of any size
//!   rewrites only its metadata (O(1)); sub-keys of dead versions are dropped
//!   later by the compaction filter ([`filter`]).
//! * column family `expire`: an index of keys with a TTL ordered by expiry
//!   time, which the active expiry cycle walks from the front.
//!
//! Meta keys are ordered by a stable 64-bit hash of the key, which makes the
//! SCAN cursor a plain position in hash order (valid across writes, no server
//! state) and RANDOMKEY a single seek.
//!
//! The engine is driven by exactly one thread, the storage runtime's worker,
//! so read-modify-write commands are atomic without locks.

pub mod encoding;
pub mod engine;
pub mod error;
pub mod filter;
pub mod keys;
pub mod meta;

pub use engine::{Batch, Engine, EngineOptions, EngineStats, SyncMode, DATABASES};
pub use error::{StorageError, StorageResult};
pub use meta::{KeyKind, Meta};
