//! The Raft log in RocksDB: its own DB instance under `<dir>/raft`, apart
//! from the data, with a column family `log` (entries keyed by big-endian
//! index) and records in `default` for the vote, the committed log id and
//! the last purged log id.
//!
//! The vote and every append are fsynced before OpenRaft is told they are
//! done: a node never forgets a vote it cast or an entry it acknowledged.
//! Writes reach RocksDB (and the OS) at once, in call order, so readers see
//! them; the fsync happens on a dedicated log-sync thread (a storage
//! runtime) that syncs the WAL once for everything queued meanwhile (group
//! commit) and then completes OpenRaft's callbacks. `append` returns before
//! the fsync, so Raft keeps batching while the disk works.
//!
//! The newest entries are also kept decoded in memory ([`RECENT_MAX`]):
//! replication and apply read what was just appended, and serving them from
//! the cache saves a RocksDB read and a decode per entry per reader.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex};

use kiwi_runtime::storage::{StorageRuntime, ThreadPriority};
use kiwi_runtime::sync::{mpsc, oneshot};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use kiwi_cmd::ReplicatedCmd;
use openraft::EntryPayload;

use crate::types::{Entry, LogId, Request, TypeConfig, Vote};

const CF_LOG: &str = "log";
/// Every column family of the log DB: opened together, and all counted in
/// the files version the disk model reads (`files_version`).
const FAMILIES: [&str; 2] = ["default", CF_LOG];
const REC_VOTE: &[u8] = b"vote";
const REC_COMMITTED: &[u8] = b"committed";
const REC_LAST_PURGED: &[u8] = b"last-purged";

/// Most waiters completed by one WAL fsync.
const SYNC_GROUP_MAX: usize = 4096;
/// Bound on fsyncs requested but not yet done.
const SYNC_QUEUE_DEPTH: usize = 4096;

/// Who waits for a WAL fsync.
enum SyncWaiter {
    Append(IOFlushed<TypeConfig>),
    Call(oneshot::Sender<Result<(), String>>),
}

/// Replication sends at most this many bytes of entries per AppendEntries
/// (and at least one entry), so one frame stays far below the frame limit.
pub const REPLICATION_BATCH_BYTES: usize = 16 << 20;

/// Approximate size of an entry in the log (its commands' arguments).
fn entry_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(Request::Commands { cmds, .. }) => {
            cmds.iter().map(ReplicatedCmd::payload_bytes).sum::<usize>() + 64
        }
        _ => 256,
    }
}

/// Most recent entries kept decoded in memory.
pub const RECENT_MAX: usize = 8192;

/// Handle to the log DB; clones share it (the log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    sync: mpsc::Sender<SyncWaiter>,
    /// The newest entries, exactly as stored (a contiguous index range).
    recent: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// The log-sync thread: one WAL fsync per group of queued waiters.
async fn sync_loop(db: Arc<DB>, mut rx: mpsc::Receiver<SyncWaiter>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < SYNC_GROUP_MAX {
            match rx.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        kiwi_runtime::buggify::delay(0.05, 20).await;
        let result = db.flush_wal(kiwi_runtime::FSYNC).map_err(|e| e.to_string());
        if result.is_ok() {
            kiwi_runtime::disk::wal_synced(db.path(), || {
                kiwi_storage::engine::files_version(&db, &FAMILIES)
            });
        }
        for waiter in group {
            match waiter {
                SyncWaiter::Append(cb) => cb.io_completed(result.clone().map_err(io::Error::other)),
                SyncWaiter::Call(tx) => {
                    let _ = tx.send(result.clone());
                }
            }
        }
    }
}

fn io_err(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// `write_buffer_bytes`: the memtable size (`write-buffer-bytes`), which
    /// RocksDB also reserves for each new WAL file.
    pub fn open(path: &Path, write_buffer_bytes: usize) -> io::Result<LogStore> {
        // Under madsim: a crash loses what the last run wrote but never synced.
        kiwi_runtime::disk::lose_unsynced_wal(path)?;
        let mut opts = kiwi_storage::engine::db_options().map_err(io_err)?;
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // See kiwi_storage::Engine::open: no stats threads under madsim.
        opts.set_stats_dump_period_sec(0);
        opts.set_stats_persist_period_sec(0);
        opts.set_keep_log_file_num(2);
        // Both families: RocksDB reserves the largest one's write buffer
        // (x 1.1) for each new WAL file.
        let cf_opts = || {
            let mut o = Options::default();
            o.set_write_buffer_size(write_buffer_bytes);
            o
        };
        let cfs = || {
            FAMILIES
                .iter()
                .map(|name| ColumnFamilyDescriptor::new(*name, cf_opts()))
                .collect::<Vec<_>>()
        };
        let db = Arc::new(
            kiwi_runtime::disk::open_rocksdb(|| DB::open_cf_descriptors(&opts, path, cfs()))
                .map_err(io_err)?,
        );
        let (sync, rx) = mpsc::channel(SYNC_QUEUE_DEPTH);
        // Detached: the thread ends when the last LogStore clone is dropped.
        let _ = StorageRuntime::start(
            "kiwi-raft-log",
            ThreadPriority::Normal,
            sync_loop(db.clone(), rx),
        )?;
        Ok(LogStore {
            db,
            sync,
            recent: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        // The cache is only ever replaced wholesale per call; a panic
        // elsewhere cannot leave it half-updated in a harmful way.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries `start..` within `range` if the cache holds all of them.
    fn cached<RB: RangeBounds<u64>>(&self, start: u64, range: &RB) -> Option<Vec<Entry>> {
        let recent = self.recent();
        let (&first, _) = recent.first_key_value()?;
        if start < first {
            return None;
        }
        Some(
            recent
                .range(start..)
                .take_while(|(i, _)| range.contains(i))
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }

    fn log_cf(&self) -> io::Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(CF_LOG)
            .ok_or_else(|| io::Error::other("raft log column family missing"))
    }

    fn get_record<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.db.get(key).map_err(io_err)? {
            Some(raw) => codec::decode(&raw).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `batch` now (visible to readers, in call order) and waits
    /// until the log-sync thread has fsynced it.
    async fn write_synced(&self, batch: WriteBatch) -> io::Result<()> {
        self.db.write(batch).map_err(io_err)?;
        let (tx, rx) = oneshot::channel();
        self.request_sync(SyncWaiter::Call(tx)).await?;
        rx.await
            .map_err(|_| io::Error::other("raft log sync thread stopped"))?
            .map_err(io::Error::other)
    }

    async fn request_sync(&self, waiter: SyncWaiter) -> io::Result<()> {
        self.sync
            .send(waiter)
            .await
            .map_err(|_| io::Error::other("raft log sync thread stopped"))
    }

    fn put_record<T: Serialize>(
        &self,
        batch: &mut WriteBatch,
        key: &[u8],
        value: &T,
    ) -> io::Result<()> {
        batch.put(key, codec::encode(value)?);
        Ok(())
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogId>> {
        let cf = self.log_cf()?;
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            Some(item) => {
                let (_, raw) = item.map_err(io_err)?;
                let entry: Entry = codec::decode(&raw)?;
                Ok(Some(entry.log_id()))
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        if let Some(entries) = self.cached(start, &range) {
            return Ok(entries);
        }
        let cf = self.log_cf()?;
        let mut entries = Vec::new();
        let iter = self.db.iterator_cf(
            cf,
            IteratorMode::From(&index_key(start), Direction::Forward),
        );
        for item in iter {
            let (key, raw) = item.map_err(io_err)?;
            let Ok(bytes) = <[u8; 8]>::try_from(&key[..]) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad raft log key",
                ));
            };
            if !range.contains(&u64::from_be_bytes(bytes)) {
                break;
            }
            entries.push(codec::decode(&raw)?);
        }
        Ok(entries)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        let mut entries = self.try_get_log_entries(start..end).await?;
        let mut bytes = 0;
        let keep = entries
            .iter()
            .take_while(|e| {
                bytes += entry_bytes(e);
                bytes <= REPLICATION_BATCH_BYTES
            })
            .count()
            .max(1);
        entries.truncate(keep);
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_record(REC_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.get_record(REC_LAST_PURGED)?;
        let last = self.last_entry_log_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        self.put_record(&mut batch, REC_VOTE, vote)?;
        if cfg!(feature = "canary-no-vote-fsync") {
            // Planted bug: the vote is acknowledged before it is on disk,
            // so a crash can make the node forget it and vote twice in a term.
            return self.db.write(batch).map_err(io_err);
        }
        self.write_synced(batch).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Not synced: losing it only means re-applying from the state
        // machine's own stamp on restart.
        let mut batch = WriteBatch::default();
        self.put_record(&mut batch, REC_COMMITTED, &committed)?;
        self.db.write(batch).map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_record::<Option<LogId>>(REC_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let cf = self.log_cf()?;
        let mut batch = WriteBatch::default();
        let mut appended = Vec::new();
        for entry in entries {
            batch.put_cf(cf, index_key(entry.index()), codec::encode(&entry)?);
            appended.push(entry);
        }
        self.db.write(batch).map_err(io_err)?;
        {
            let mut recent = self.recent();
            for entry in appended {
                let index = entry.index();
                // Keep the cache contiguous: a gap means it no longer mirrors the log.
                if recent
                    .last_key_value()
                    .is_some_and(|(&last, _)| last + 1 != index)
                {
                    recent.clear();
                }
                recent.insert(index, entry);
            }
            while recent.len() > RECENT_MAX {
                recent.pop_first();
            }
        }
        // Submitted; the callback fires once the fsync is done.
        self.request_sync(SyncWaiter::Append(callback)).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.recent().retain(|&i, _| i < from);
        let cf = self.log_cf()?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, index_key(from), index_key(u64::MAX));
        batch.delete_cf(cf, index_key(u64::MAX));
        self.write_synced(batch).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let cf = self.log_cf()?;
        let mut batch = WriteBatch::default();
        self.put_record(&mut batch, REC_LAST_PURGED, &log_id)?;
        batch.delete_range_cf(cf, index_key(0), index_key(log_id.index() + 1));
        self.recent().retain(|&i, _| i > log_id.index());
        self.write_synced(batch).await
    }
}
