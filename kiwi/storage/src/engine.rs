//! The RocksDB engine: opening, atomic batches, point reads, scans, expiry.
//!
//! Every mutation goes through a [`Batch`] committed as one RocksDB
//! `WriteBatch`, so a command's effects (data, expiry index, key counts,
//! version counter) land together or not at all. The engine is owned by the
//! storage runtime's single worker; `&mut self` on commit makes that explicit.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rocksdb::statistics::{StatsLevel, Ticker};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Direction, Env, IteratorMode,
    Options, ReadOptions, WriteBatch, WriteOptions, DB,
};

use crate::error::{StorageError, StorageResult};
use crate::filter::FilterHandle;
use crate::keys::{self, meta_key};
use crate::meta::{self, Meta};

/// Databases with at most this many keys are flushed with point deletes.
const POINT_FLUSH_MAX_KEYS: u64 = 10_000;

/// Number of logical databases (`SELECT 0..15`).
pub const DATABASES: usize = 16;

pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_DATA: &str = "data";
pub(crate) const CF_EXPIRE: &str = "expire";
const CF_DEFAULT: &str = "default";

/// Engine bookkeeping records in the default column family.
const REC_DB_MAP: &[u8] = b"kiwi:dbmap";
const REC_LAST_VERSION: &[u8] = b"kiwi:last-version";
const REC_KEY_COUNT: &[u8] = b"kiwi:key-count:";
const REC_EXPIRE_COUNT: &[u8] = b"kiwi:expire-count:";
/// Cluster mode: the replicated state this data reflects (the last applied
/// Raft log id and membership, opaque to the engine). Written in the same
/// WriteBatch as the data an entry produced, so a crash can neither apply an
/// entry twice nor skip one.
const REC_APPLIED_STAMP: &[u8] = b"kiwi:raft-applied";

/// When a write is acknowledged relative to the disk (Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync the WAL before acknowledging (group commit per request batch).
    Always,
    /// fsync the WAL once a second; a crash of the machine loses <= 1 s.
    EverySec,
    /// Leave flushing to the OS. Survives a process crash, not a power cut.
    No,
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub sync: SyncMode,
    pub block_cache_bytes: usize,
    pub write_buffer_bytes: usize,
    /// RocksDB starts a new MANIFEST once the current one is this big.
    /// Every checkpoint (BGSAVE, a Raft snapshot) copies the live MANIFEST
    /// byte by byte, and RocksDB's own default lets it grow to 1 GiB.
    pub max_manifest_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            sync: SyncMode::EverySec,
            block_cache_bytes: 128 << 20,
            write_buffer_bytes: 64 << 20,
            max_manifest_bytes: 64 << 20,
        }
    }
}

/// RocksDB's health figures an operator graphs (INFO rocksdb, the
/// Prometheus endpoint). Sizes are summed over Kiwi's column families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub memtable_bytes: u64,
    pub sst_bytes: u64,
    pub live_data_bytes: u64,
    pub pending_compaction_bytes: u64,
    pub running_compactions: u64,
    pub running_flushes: u64,
    /// 1 while RocksDB refuses writes until compaction catches up.
    pub write_stopped: u64,
    /// Bytes per second RocksDB throttles writes to (0: not delayed).
    pub delayed_write_rate: u64,
    pub stall_micros: u64,
    pub block_cache_usage_bytes: u64,
    pub block_cache_capacity_bytes: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    pub wal_synced: u64,
}

pub struct Engine {
    db: Arc<DB>,
    /// The DB's options: RocksDB's statistics (ticker counts) live there.
    db_opts: Options,
    cache: Cache,
    block_cache_bytes: usize,
    filter: FilterHandle,
    /// Logical db number -> physical slot (SWAPDB swaps entries).
    db_map: [u8; DATABASES],
    /// Keys per physical slot, including expired ones not yet removed
    /// (as Redis's DBSIZE counts them).
    key_counts: [u64; DATABASES],
    /// Keys per physical slot that carry a TTL (INFO keyspace `expires`).
    expire_counts: [u64; DATABASES],
    last_version: u64,
    sync: SyncMode,
    /// Writes whose WAL records are still in RocksDB's in-process buffer
    /// (`manual_wal_flush`): lost if the process dies.
    unflushed_writes: bool,
    /// Writes not yet fsynced: lost if the machine dies.
    unsynced_writes: bool,
    /// While set, every commit also writes this as the applied stamp
    /// (see [`Engine::begin_stamped`]).
    stamp: Option<Vec<u8>>,
    /// Commits that carried the current stamp.
    stamped_commits: u32,
    /// New batches record every key whose elements they change (see
    /// [`Batch::modified_keys`]); on while some client WATCHes keys.
    track_modified: bool,
}

/// A set of mutations committed atomically by [`Engine::commit`].
#[derive(Default)]
pub struct Batch {
    wb: WriteBatch,
    /// State of keys touched in this batch (meta key -> `None` if absent,
    /// `Some(has_ttl)` if present), so several writes to one key in one
    /// batch count it once.
    touched: HashMap<Vec<u8>, Option<bool>>,
    count_delta: [i64; DATABASES],
    expire_delta: [i64; DATABASES],
    /// Slots emptied earlier in this batch: their keys read as absent.
    count_reset: [bool; DATABASES],
    db_map: Option<[u8; DATABASES]>,
    last_version: Option<u64>,
    /// A range delete was added: flush memtables after committing (see `flush_db`).
    range_deleted: bool,
    /// With tracking on: (physical slot, key) of every key whose elements
    /// this batch writes or deletes (metadata changes are in `touched`).
    element_writes: Option<HashSet<(u8, Vec<u8>)>>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.wb.is_empty() && self.db_map.is_none()
    }

    /// Keys this batch creates or rewrites, as (physical slot, key): what
    /// blocked clients (BLPOP & co.) wait for.
    pub fn written_keys(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.touched
            .iter()
            .filter(|(_, state)| state.is_some())
            .filter_map(|(mk, _)| keys::parse_meta_key(mk).map(|(slot, _, key)| (slot, key)))
    }

    /// Every key this batch changes in any way (created, rewritten,
    /// deleted, or one of its elements written), as (physical slot, key):
    /// what WATCH must notice. Element writes are only recorded by batches
    /// made while [`Engine::set_track_modified`] is on.
    pub fn modified_keys(&self) -> Vec<(u8, &[u8])> {
        let mut out: Vec<(u8, &[u8])> = self
            .touched
            .keys()
            .filter_map(|mk| keys::parse_meta_key(mk).map(|(slot, _, key)| (slot, key)))
            .collect();
        if let Some(writes) = &self.element_writes {
            out.extend(writes.iter().map(|(slot, key)| (*slot, &key[..])));
        }
        out
    }

    fn record_element_write(&mut self, slot: u8, key: &[u8]) {
        if let Some(writes) = &mut self.element_writes {
            if !writes.contains(&(slot, key.to_vec())) {
                writes.insert((slot, key.to_vec()));
            }
        }
    }
}

fn cf<'a>(db: &'a DB, name: &'static str) -> StorageResult<&'a ColumnFamily> {
    db.cf_handle(name)
        .ok_or(StorageError::MissingColumnFamily(name))
}

/// Fresh database-wide options for every RocksDB Kiwi opens (the data
/// engine and the Raft log): RocksDB's defaults, except that files are
/// reserved ahead of writes only if [`kiwi_runtime::disk::PREALLOCATE_FILES`]
/// says so. Call it before setting anything else: the crate has no setter
/// for `allow_fallocate`, so the options are built from an options string,
/// which starts again from the defaults.
pub fn db_options() -> StorageResult<Options> {
    let allow = kiwi_runtime::disk::PREALLOCATE_FILES;
    Ok(Options::default().get_options_from_string(format!("allow_fallocate={allow}"))?)
}

/// A number that changes whenever RocksDB may have started a new WAL in
/// `db`, whose column families are `column_families` (for the simulation's
/// disk model, `kiwi_runtime::disk::wal_synced`): the sum of their super
/// version numbers. RocksDB starts a WAL only when it opens the database or
/// switches some family's memtable, and a switch installs a new super
/// version for that family. `None` if RocksDB does not say.
pub fn files_version(db: &DB, column_families: &[&str]) -> Option<u64> {
    const PROPERTY: &str = "rocksdb.current-super-version-number";
    let mut sum = 0u64;
    for name in column_families {
        let family = db.cf_handle(name)?;
        sum = sum.wrapping_add(db.property_int_value_cf(family, PROPERTY).ok()??);
    }
    Some(sum)
}

impl Engine {
    pub fn open(path: &Path, opts: &EngineOptions) -> StorageResult<Engine> {
        let filter = FilterHandle::default();
        let cache = Cache::new_lru_cache(opts.block_cache_bytes);

        let mut db_opts = db_options()?;
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // RocksDB's stats timer thread mixes real and simulated time under
        // madsim and makes DB::open fail intermittently; Kiwi reports its own stats.
        db_opts.set_stats_dump_period_sec(0);
        db_opts.set_stats_persist_period_sec(0);
        db_opts.set_max_background_jobs(2);
        // Compactions run at a lower CPU and I/O priority than Kiwi's own
        // threads: on a small machine a compaction storm must not starve
        // the network runtime (PING/INFO latency; docs/benchmarks.md,
        // "Fault isolation"). Flushes keep normal priority so memtables
        // drain and writes do not stall.
        let mut env = Env::new()?;
        env.lower_thread_pool_cpu_priority();
        env.lower_thread_pool_io_priority();
        db_opts.set_env(&env);
        db_opts.set_keep_log_file_num(4);
        db_opts.set_max_manifest_file_size(opts.max_manifest_bytes);
        // RocksDB reserves 4 MiB for every new MANIFEST up front; never more
        // than the size at which it starts the next one. (With a small limit
        // the reservations dominated: on tmpfs each is a real allocation,
        // 16 % of the fuzz harness's time.)
        db_opts.set_manifest_preallocation_size(opts.max_manifest_bytes.min(4 << 20));
        // The WAL is written to the OS once per request batch (group commit,
        // see `make_durable`) instead of one write(2) per command.
        db_opts.set_manual_wal_flush(true);
        // Tickers only (block cache hits, stalls): no per-operation timers.
        db_opts.enable_statistics();
        db_opts.set_statistics_level(StatsLevel::ExceptHistogramOrTimers);

        let table = |bloom: bool| {
            let mut t = BlockBasedOptions::default();
            t.set_block_cache(&cache);
            if bloom {
                t.set_bloom_filter(10.0, false);
            }
            t
        };
        let mut meta_opts = Options::default();
        meta_opts.set_block_based_table_factory(&table(true));
        meta_opts.set_write_buffer_size(opts.write_buffer_bytes);
        meta_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);

        let mut data_opts = Options::default();
        data_opts.set_block_based_table_factory(&table(false));
        data_opts.set_write_buffer_size(opts.write_buffer_bytes);
        data_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let f = filter.clone();
        data_opts.set_compaction_filter("kiwi-stale-version", move |_level, key, _value| {
            f.decide(key)
        });

        let mut expire_opts = Options::default();
        expire_opts.set_block_based_table_factory(&table(false));
        expire_opts.set_write_buffer_size(opts.write_buffer_bytes);

        // Every column family, the default one too: RocksDB reserves the
        // largest family's write buffer (x 1.1) for each new WAL file.
        let mut default_opts = Options::default();
        default_opts.set_write_buffer_size(opts.write_buffer_bytes);
        let cfs = || {
            vec![
                ColumnFamilyDescriptor::new(CF_DEFAULT, default_opts.clone()),
                ColumnFamilyDescriptor::new(CF_META, meta_opts.clone()),
                ColumnFamilyDescriptor::new(CF_DATA, data_opts.clone()),
                ColumnFamilyDescriptor::new(CF_EXPIRE, expire_opts.clone()),
            ]
        };
        let db = Arc::new(kiwi_runtime::disk::open_rocksdb(|| {
            DB::open_cf_descriptors(&db_opts, path, cfs())
        })?);
        filter.connect(&db);

        let mut db_map = [0u8; DATABASES];
        for (i, slot) in db_map.iter_mut().enumerate() {
            *slot = i as u8;
        }
        if let Some(raw) = db.get(REC_DB_MAP)? {
            if raw.len() != DATABASES || !is_permutation(&raw) {
                return Err(StorageError::Corrupt("db map"));
            }
            db_map.copy_from_slice(&raw);
        }
        let mut key_counts = [0u64; DATABASES];
        let mut expire_counts = [0u64; DATABASES];
        for slot in 0..DATABASES as u8 {
            if let Some(raw) = db.get(count_record(REC_KEY_COUNT, slot))? {
                key_counts[slot as usize] = decode_u64(&raw)?;
            }
            if let Some(raw) = db.get(count_record(REC_EXPIRE_COUNT, slot))? {
                expire_counts[slot as usize] = decode_u64(&raw)?;
            }
        }
        let last_version = match db.get(REC_LAST_VERSION)? {
            Some(raw) => decode_u64(&raw)?,
            None => 0,
        };
        Ok(Engine {
            db,
            db_opts,
            cache,
            block_cache_bytes: opts.block_cache_bytes,
            filter,
            db_map,
            key_counts,
            expire_counts,
            last_version,
            sync: opts.sync,
            unflushed_writes: false,
            stamp: None,
            stamped_commits: 0,
            track_modified: false,
            unsynced_writes: false,
        })
    }

    fn slot(&self, ldb: usize) -> u8 {
        debug_assert!(ldb < DATABASES, "logical db {ldb} out of range");
        self.db_map[ldb % DATABASES]
    }

    /// The logical database currently mapped to physical `slot`.
    pub fn logical_db(&self, slot: u8) -> usize {
        self.db_map
            .iter()
            .position(|&s| s == slot)
            .unwrap_or(slot as usize)
    }

    pub fn sync_mode(&self) -> SyncMode {
        self.sync
    }

    pub fn set_sync_mode(&mut self, mode: SyncMode) {
        self.sync = mode;
    }

    // ---- reads -------------------------------------------------------------

    /// The raw metadata of `key`, including an expired record not yet removed.
    pub fn get_meta(&self, ldb: usize, key: &[u8]) -> StorageResult<Option<Meta>> {
        let cf = cf(&self.db, CF_META)?;
        match self.db.get_pinned_cf(cf, meta_key(self.slot(ldb), key))? {
            Some(raw) => Ok(Some(Meta::decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// The metadata of `key` if it exists and has not expired at `now_ms`.
    pub fn get_live(&self, ldb: usize, key: &[u8], now_ms: u64) -> StorageResult<Option<Meta>> {
        Ok(self.get_meta(ldb, key)?.filter(|m| m.is_live(now_ms)))
    }

    /// Number of keys in logical db `ldb` (expired-but-unreclaimed included, as in Redis).
    pub fn dbsize(&self, ldb: usize) -> u64 {
        self.key_counts[self.slot(ldb) as usize]
    }

    /// Number of keys in `ldb` with a TTL (expired-but-unreclaimed included).
    pub fn expires(&self, ldb: usize) -> u64 {
        self.expire_counts[self.slot(ldb) as usize]
    }

    /// Visits keys of `ldb` in hash order starting at `cursor`, at most
    /// `max_visits` of them (live or not), calling `visit` for live keys.
    /// Returns the cursor to continue from; 0 when the scan is complete.
    /// Keys sharing one hash are never split across calls.
    pub fn scan(
        &self,
        ldb: usize,
        cursor: u64,
        max_visits: usize,
        now_ms: u64,
        mut visit: impl FnMut(&[u8], &Meta),
    ) -> StorageResult<u64> {
        let slot = self.slot(ldb);
        let cf = cf(&self.db, CF_META)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(vec![slot + 1]);
        let start = keys::meta_seek(slot, cursor);
        let iter = self
            .db
            .iterator_cf_opt(cf, ro, IteratorMode::From(&start, Direction::Forward));
        let mut last_hash: Option<u64> = None;
        for (visited, item) in iter.enumerate() {
            let (raw_key, raw_val) = item?;
            let Some((s, hash, key)) = keys::parse_meta_key(&raw_key) else {
                return Err(StorageError::Corrupt("meta key"));
            };
            if s != slot {
                break;
            }
            if visited >= max_visits.max(1) && last_hash != Some(hash) {
                return Ok(hash);
            }
            let meta = Meta::decode(&raw_val)?;
            if meta.is_live(now_ms) {
                visit(key, &meta);
            }
            last_hash = Some(hash);
        }
        Ok(0)
    }

    /// A key near a random position in `ldb`'s hash order, preferring live keys.
    pub fn random_key(&self, ldb: usize, hash: u64, now_ms: u64) -> StorageResult<Option<Bytes>> {
        // Bounded: try the position and the wrap-around, skipping a few expired keys.
        for start in [hash, 0] {
            let mut found = None;
            self.scan(ldb, start, 64, now_ms, |key, _| {
                if found.is_none() {
                    found = Some(Bytes::copy_from_slice(key));
                }
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Sub-keys and values of one collection version, in order, at most `limit`.
    pub fn sub_keys(
        &self,
        ldb: usize,
        key: &[u8],
        version: u64,
        limit: usize,
    ) -> StorageResult<Vec<(Bytes, Bytes)>> {
        let mut out = Vec::new();
        self.visit_sub_keys(ldb, key, version, b"", None, false, |sub, value| {
            out.push((Bytes::copy_from_slice(sub), Bytes::copy_from_slice(value)));
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Visits the sub-keys `lower <= sub < upper` (`upper: None` = to the
    /// end) of one collection version in byte order, or reversed, until
    /// `visit` returns false. The range scan behind every ordered read
    /// (LRANGE, ZRANGEBYSCORE, HSCAN, ...).
    #[allow(clippy::too_many_arguments)]
    pub fn visit_sub_keys(
        &self,
        ldb: usize,
        key: &[u8],
        version: u64,
        lower: &[u8],
        upper: Option<&[u8]>,
        reverse: bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> StorageResult<()> {
        let prefix = keys::data_prefix(self.slot(ldb), key, version);
        let mut lo = prefix.clone();
        lo.extend_from_slice(lower);
        let hi = match upper {
            Some(u) => {
                let mut hi = prefix.clone();
                hi.extend_from_slice(u);
                hi
            }
            None => prefix_successor(&prefix),
        };
        if lo >= hi {
            return Ok(());
        }
        let cf = cf(&self.db, CF_DATA)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(lo);
        ro.set_iterate_upper_bound(hi);
        let mode = if reverse {
            IteratorMode::End
        } else {
            IteratorMode::Start
        };
        for item in self.db.iterator_cf_opt(cf, ro, mode) {
            let (k, v) = item?;
            debug_assert!(k.starts_with(&prefix), "iterator escaped its bounds");
            if !visit(&k[prefix.len()..], &v) {
                break;
            }
        }
        Ok(())
    }

    pub fn get_sub_key(
        &self,
        ldb: usize,
        key: &[u8],
        version: u64,
        sub: &[u8],
    ) -> StorageResult<Option<Bytes>> {
        let cf = cf(&self.db, CF_DATA)?;
        Ok(self
            .db
            .get_pinned_cf(cf, keys::data_key(self.slot(ldb), key, version, sub))?
            .map(|v| Bytes::copy_from_slice(&v)))
    }

    // ---- writes ------------------------------------------------------------

    pub fn batch(&self) -> Batch {
        Batch {
            element_writes: self.track_modified.then(HashSet::new),
            ..Batch::default()
        }
    }

    /// Whether new batches record element writes (see [`Batch::modified_keys`]).
    pub fn set_track_modified(&mut self, on: bool) {
        self.track_modified = on;
    }

    /// A fresh version for a new collection incarnation. Versions are drawn
    /// from a persisted counter, so they are unique across restarts and
    /// identical on replicas that apply the same batches.
    pub fn next_version(&self, b: &mut Batch) -> u64 {
        let next = b.last_version.unwrap_or(self.last_version) + 1;
        b.last_version = Some(next);
        next
    }

    /// `None` if the record is absent, else `Some(has_ttl)`, as of this batch.
    fn state_in(&self, b: &Batch, mk: &[u8]) -> StorageResult<Option<bool>> {
        if let Some(&state) = b.touched.get(mk) {
            return Ok(state);
        }
        if mk
            .first()
            .is_some_and(|&slot| b.count_reset.get(slot as usize).copied().unwrap_or(false))
        {
            return Ok(None);
        }
        let raw = self.db.get_pinned_cf(cf(&self.db, CF_META)?, mk)?;
        Ok(raw.map(|r| meta::has_ttl(&r)))
    }

    /// Writes `meta` as the record of `key`, replacing any previous record.
    pub fn put_meta(
        &self,
        b: &mut Batch,
        ldb: usize,
        key: &[u8],
        meta: &Meta,
    ) -> StorageResult<()> {
        let slot = self.slot(ldb);
        let mk = meta_key(slot, key);
        let old = self.state_in(b, &mk)?;
        let new_ttl = meta.expire_at_ms != 0;
        if old.is_none() {
            b.count_delta[slot as usize] += 1;
        }
        b.expire_delta[slot as usize] += new_ttl as i64 - old.unwrap_or(false) as i64;
        b.wb.put_cf(cf(&self.db, CF_META)?, &mk, meta.encode());
        if meta.expire_at_ms != 0 {
            b.wb.put_cf(
                cf(&self.db, CF_EXPIRE)?,
                keys::expire_key(meta.expire_at_ms, slot, key),
                b"",
            );
        }
        b.touched.insert(mk, Some(new_ttl));
        Ok(())
    }

    /// Deletes `key` (any type). Collection elements are reclaimed lazily by
    /// the compaction filter, so this is O(1) whatever the size.
    pub fn delete(&self, b: &mut Batch, ldb: usize, key: &[u8]) -> StorageResult<bool> {
        let slot = self.slot(ldb);
        let mk = meta_key(slot, key);
        let Some(had_ttl) = self.state_in(b, &mk)? else {
            return Ok(false);
        };
        b.count_delta[slot as usize] -= 1;
        b.expire_delta[slot as usize] -= had_ttl as i64;
        b.wb.delete_cf(cf(&self.db, CF_META)?, &mk);
        b.touched.insert(mk, None);
        Ok(true)
    }

    pub fn put_sub_key(
        &self,
        b: &mut Batch,
        ldb: usize,
        key: &[u8],
        version: u64,
        sub: &[u8],
        value: &[u8],
    ) -> StorageResult<()> {
        b.record_element_write(self.slot(ldb), key);
        b.wb.put_cf(
            cf(&self.db, CF_DATA)?,
            keys::data_key(self.slot(ldb), key, version, sub),
            value,
        );
        Ok(())
    }

    pub fn delete_sub_key(
        &self,
        b: &mut Batch,
        ldb: usize,
        key: &[u8],
        version: u64,
        sub: &[u8],
    ) -> StorageResult<()> {
        b.record_element_write(self.slot(ldb), key);
        b.wb.delete_cf(
            cf(&self.db, CF_DATA)?,
            keys::data_key(self.slot(ldb), key, version, sub),
        );
        Ok(())
    }

    /// Removes every key of logical db `ldb`.
    ///
    /// A small database is emptied with point deletes of its metadata (its
    /// collection elements become orphans that the compaction filter
    /// reclaims). A large one gets range deletes, and the memtables are
    /// flushed right after the commit: range tombstones left in a memtable
    /// are re-fragmented on reads after every new one, which made frequent
    /// FLUSHDB/FLUSHALL (test suites do this) quadratically slow.
    pub fn flush_db(&self, b: &mut Batch, ldb: usize) -> StorageResult<()> {
        let slot = self.slot(ldb);
        let meta_cf = cf(&self.db, CF_META)?;
        let count = self.key_counts[slot as usize];
        let touched_here = b.touched.keys().any(|mk| mk.first() == Some(&slot));
        if count == 0 && !touched_here {
            // Nothing to delete: skip the seek past old tombstones.
        } else if count <= POINT_FLUSH_MAX_KEYS {
            let mut ro = ReadOptions::default();
            ro.set_iterate_upper_bound(vec![slot + 1]);
            let start = [slot];
            let iter = self.db.iterator_cf_opt(
                meta_cf,
                ro,
                IteratorMode::From(&start, Direction::Forward),
            );
            // Bounded by the key count read above (plus slack for a racing count).
            for item in iter.take(POINT_FLUSH_MAX_KEYS as usize * 2) {
                let (k, _) = item?;
                b.wb.delete_cf(meta_cf, &k);
            }
            // Keys written earlier in this same batch are not in the DB yet.
            for (mk, state) in b.touched.iter_mut() {
                if mk.first() == Some(&slot) && state.is_some() {
                    b.wb.delete_cf(meta_cf, mk);
                    *state = None;
                }
            }
        } else {
            for name in [CF_META, CF_DATA] {
                b.wb.delete_range_cf(cf(&self.db, name)?, [slot], [slot + 1]);
            }
            b.range_deleted = true;
            b.touched.retain(|k, _| k.first() != Some(&slot));
        }
        b.count_delta[slot as usize] = 0;
        b.expire_delta[slot as usize] = 0;
        b.count_reset[slot as usize] = true;
        Ok(())
    }

    /// Swaps logical databases `a` and `b` in O(1).
    pub fn swap_db(&self, batch: &mut Batch, a: usize, b: usize) {
        let mut map = batch.db_map.unwrap_or(self.db_map);
        map.swap(a % DATABASES, b % DATABASES);
        batch.db_map = Some(map);
    }

    /// Commits `b` atomically (visible to reads at once). Its WAL records stay
    /// in RocksDB's buffer until [`Engine::make_durable`], which callers must
    /// call before acknowledging the writes.
    pub fn commit(&mut self, mut b: Batch) -> StorageResult<()> {
        if b.is_empty() && b.last_version.is_none() && self.stamp.is_none() {
            return Ok(());
        }
        let default = cf(&self.db, CF_DEFAULT)?;
        if let Some(stamp) = &self.stamp {
            // The `canary-skip-apply-index` build plants a known bug for the
            // simulator to catch: the stamp never reaches the disk.
            if !cfg!(feature = "canary-skip-apply-index") {
                b.wb.put_cf(default, REC_APPLIED_STAMP, stamp);
            }
            self.stamped_commits += 1;
        }
        let counts = apply_counts(
            &mut b.wb,
            default,
            REC_KEY_COUNT,
            self.key_counts,
            &b.count_delta,
            &b.count_reset,
        );
        let expires = apply_counts(
            &mut b.wb,
            default,
            REC_EXPIRE_COUNT,
            self.expire_counts,
            &b.expire_delta,
            &b.count_reset,
        );
        if let Some(v) = b.last_version {
            b.wb.put_cf(default, REC_LAST_VERSION, v.to_be_bytes());
        }
        if let Some(map) = b.db_map {
            b.wb.put_cf(default, REC_DB_MAP, map);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        self.db.write_opt(b.wb, &wo)?;
        if b.range_deleted {
            for name in [CF_META, CF_DATA] {
                self.db.flush_cf(cf(&self.db, name)?)?;
            }
        }
        self.key_counts = counts;
        self.expire_counts = expires;
        if let Some(v) = b.last_version {
            self.last_version = v;
        }
        if let Some(map) = b.db_map {
            self.db_map = map;
        }
        self.unflushed_writes = true;
        self.unsynced_writes = true;
        Ok(())
    }

    /// Starts one replicated step (an entry, or one command of it): until [`Engine::end_stamped`],
    /// every commit also records `stamp` as the applied state, in the same
    /// WriteBatch as its data.
    pub fn begin_stamped(&mut self, stamp: Vec<u8>) {
        debug_assert!(self.stamp.is_none(), "stamped applies do not nest");
        self.stamp = Some(stamp);
        self.stamped_commits = 0;
    }

    /// Ends the step; with `force`, a step that committed nothing still
    /// records its stamp (alone). Returns how many commits carried the
    /// stamp; a step is applied exactly once only if that is at most one.
    pub fn end_stamped(&mut self, force: bool) -> StorageResult<u32> {
        if force && self.stamp.is_some() && self.stamped_commits == 0 {
            self.commit(Batch::default())?;
        }
        self.stamp = None;
        Ok(std::mem::take(&mut self.stamped_commits))
    }

    /// The last applied stamp (cluster mode), if any entry was applied.
    pub fn applied_stamp(&self) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.db.get(REC_APPLIED_STAMP)?)
    }

    /// A consistent on-disk copy of the whole database at `path` (RocksDB
    /// checkpoint: hard links plus a memtable flush, so it is cheap). The
    /// applied stamp inside it tells which log entry it reflects.
    pub fn checkpoint(&mut self, path: &Path) -> StorageResult<()> {
        self.sync_wal()?;
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(path)?;
        Ok(())
    }

    /// Group commit: makes every write committed since the last call as
    /// durable as the sync mode promises: the WAL reaches the OS in every
    /// mode (a process crash loses nothing), and is fsynced under `Always`.
    /// Call once per batch of commands, before acknowledging them.
    pub fn make_durable(&mut self) -> StorageResult<()> {
        if self.sync == SyncMode::Always {
            return self.sync_wal();
        }
        if self.unflushed_writes {
            self.db.flush_wal(false)?;
            self.unflushed_writes = false;
        }
        Ok(())
    }

    /// Writes and fsyncs the WAL (the once-a-second tick of `EverySec`, and shutdown).
    pub fn sync_wal(&mut self) -> StorageResult<()> {
        if self.unsynced_writes || self.unflushed_writes {
            self.db.flush_wal(kiwi_runtime::FSYNC)?;
            self.unflushed_writes = false;
            self.unsynced_writes = false;
        }
        Ok(())
    }

    /// The earliest deadline in the expiry index, if any key has a TTL (the
    /// entry may be stale; the expiry step checks). Cheap: one seek.
    pub fn next_expiry_ms(&self) -> StorageResult<Option<u64>> {
        let ecf = cf(&self.db, CF_EXPIRE)?;
        match self.db.iterator_cf(ecf, IteratorMode::Start).next() {
            Some(item) => {
                let (raw, _) = item?;
                Ok(keys::parse_expire_key(&raw).map(|(at, _, _)| at))
            }
            None => Ok(None),
        }
    }

    /// One active-expiry step: removes keys whose expiry is <= `now_ms`,
    /// visiting at most `max_entries` index entries. Returns the keys removed
    /// as (logical db, key).
    pub fn expire_cycle(
        &mut self,
        now_ms: u64,
        max_entries: usize,
    ) -> StorageResult<Vec<(usize, Bytes)>> {
        let ecf = cf(&self.db, CF_EXPIRE)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(now_ms.saturating_add(1).to_be_bytes().to_vec());
        let mut b = self.batch();
        let mut removed = Vec::new();
        let mut logical_of = [0usize; DATABASES];
        for (l, &s) in self.db_map.iter().enumerate() {
            logical_of[s as usize] = l;
        }
        for item in self
            .db
            .iterator_cf_opt(ecf, ro, IteratorMode::Start)
            .take(max_entries)
        {
            let (raw, _) = item?;
            b.wb.delete_cf(ecf, &raw);
            let Some((at, slot, key)) = keys::parse_expire_key(&raw) else {
                continue;
            };
            if slot as usize >= DATABASES {
                continue;
            }
            let ldb = logical_of[slot as usize];
            // The index may be stale (TTL changed, key deleted or rewritten).
            if let Some(meta) = self.get_meta(ldb, key)? {
                if meta.expire_at_ms == at && at <= now_ms && self.delete(&mut b, ldb, key)? {
                    removed.push((ldb, Bytes::copy_from_slice(key)));
                }
            }
        }
        self.commit(b)?;
        Ok(removed)
    }

    /// Compacts everything (tests and `DEBUG`-style maintenance).
    pub fn compact_all(&self) -> StorageResult<()> {
        for name in [CF_META, CF_DATA, CF_EXPIRE] {
            self.db
                .compact_range_cf(cf(&self.db, name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// RocksDB's figures right now (see [`EngineStats`]).
    pub fn stats(&self) -> EngineStats {
        let sum = |property: &str| -> u64 {
            [CF_DEFAULT, CF_META, CF_DATA, CF_EXPIRE]
                .iter()
                .filter_map(|name| self.db.cf_handle(name))
                .filter_map(|cf| self.db.property_int_value_cf(cf, property).ok().flatten())
                .sum()
        };
        let db_wide = |property: &str| -> u64 {
            self.db
                .property_int_value(property)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        EngineStats {
            memtable_bytes: sum("rocksdb.cur-size-all-mem-tables"),
            sst_bytes: sum("rocksdb.total-sst-files-size"),
            live_data_bytes: sum("rocksdb.estimate-live-data-size"),
            pending_compaction_bytes: sum("rocksdb.estimate-pending-compaction-bytes"),
            running_compactions: db_wide("rocksdb.num-running-compactions"),
            running_flushes: db_wide("rocksdb.num-running-flushes"),
            write_stopped: db_wide("rocksdb.is-write-stopped"),
            delayed_write_rate: db_wide("rocksdb.actual-delayed-write-rate"),
            stall_micros: self.db_opts.get_ticker_count(Ticker::StallMicros),
            block_cache_usage_bytes: self.cache.get_usage() as u64,
            block_cache_capacity_bytes: self.block_cache_bytes as u64,
            block_cache_hits: self.db_opts.get_ticker_count(Ticker::BlockCacheHit),
            block_cache_misses: self.db_opts.get_ticker_count(Ticker::BlockCacheMiss),
            wal_synced: self.db_opts.get_ticker_count(Ticker::WalFileSynced),
        }
    }

    /// Flushes memtables and the WAL; called on graceful shutdown.
    pub fn flush(&mut self) -> StorageResult<()> {
        self.db.flush_wal(kiwi_runtime::FSYNC)?;
        self.db.flush()?;
        for name in [CF_META, CF_DATA, CF_EXPIRE] {
            self.db.flush_cf(cf(&self.db, name)?)?;
        }
        self.unflushed_writes = false;
        self.unsynced_writes = false;
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Stop the compaction filter from reaching the DB, then wait for
        // background work, so the last handle is never dropped on a
        // compaction thread.
        self.filter.disconnect();
        self.db.cancel_all_background_work(true);
    }
}

fn count_record(prefix: &[u8], slot: u8) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.push(slot);
    k
}

/// Applies per-slot deltas (after resets) to `counts`, adding the changed
/// records to `wb` so they commit atomically with the data. Returns the new counts.
fn apply_counts(
    wb: &mut WriteBatch,
    cf: &ColumnFamily,
    prefix: &[u8],
    mut counts: [u64; DATABASES],
    delta: &[i64; DATABASES],
    reset: &[bool; DATABASES],
) -> [u64; DATABASES] {
    for (slot, count) in counts.iter_mut().enumerate() {
        if reset[slot] {
            *count = 0;
        }
        if delta[slot] != 0 || reset[slot] {
            let updated = *count as i64 + delta[slot];
            debug_assert!(
                updated >= 0,
                "count {prefix:?} of slot {slot} went negative"
            );
            *count = updated.max(0) as u64;
            wb.put_cf(cf, count_record(prefix, slot as u8), count.to_be_bytes());
        }
    }
    counts
}

fn decode_u64(raw: &[u8]) -> StorageResult<u64> {
    let arr: [u8; 8] = raw
        .try_into()
        .map_err(|_| StorageError::Corrupt("u64 record"))?;
    Ok(u64::from_be_bytes(arr))
}

fn is_permutation(raw: &[u8]) -> bool {
    let mut seen = [false; DATABASES];
    for &s in raw {
        if s as usize >= DATABASES || seen[s as usize] {
            return false;
        }
        seen[s as usize] = true;
    }
    true
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_successor(prefix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return out;
        }
    }
    vec![0xff; prefix.len() + 1]
}
