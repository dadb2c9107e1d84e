//! The simulation's disk model (`kiwi_runtime::disk`) against a real
//! RocksDB: a crash keeps exactly what was synced, also when RocksDB moved
//! to a new WAL between two syncs.
//!
//! The model records the newest WAL and its length at each sync, and lists
//! the directory for it only when the owner's files version
//! (`kiwi_storage::engine::files_version`) moved. If that version missed a
//! new WAL, the record would name the old one, and the crash would cut the
//! new WAL to nothing: the synced write below would be lost.
//!
//! Run: `ci/sim.sh disk_model`.
#![cfg(madsim)]

use kiwi_runtime::disk::{lose_unsynced_wal, open_rocksdb, wal_synced};
use rocksdb::{WriteOptions, DB};

/// Two families, as in the Raft log store: a flush of one moves RocksDB to
/// a new WAL while the old one stays (the other family's memtable still
/// needs it), so the model cannot fall back on the old file being gone.
const FAMILIES: [&str; 2] = ["default", "log"];

fn open(path: &std::path::Path) -> DB {
    lose_unsynced_wal(path).expect("the crash model cuts the WAL");
    let mut opts = kiwi_storage::engine::db_options().expect("options");
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    open_rocksdb(|| DB::open_cf(&opts, path, FAMILIES)).expect("open")
}

/// A write that only reaches the OS (like the log store's appends), then,
/// if `sync`, the log store's fsync and its report to the model.
fn put(db: &DB, path: &std::path::Path, key: &str, sync: bool) {
    let mut unsynced = WriteOptions::default();
    unsynced.set_sync(false);
    for family in FAMILIES {
        let family = db.cf_handle(family).expect("family");
        db.put_cf_opt(family, key, "v", &unsynced).expect("put");
    }
    if sync {
        db.flush_wal(true).expect("sync");
        wal_synced(path, || kiwi_storage::engine::files_version(db, &FAMILIES));
    }
}

/// In both families (a crash never keeps half of a synced write).
fn present(db: &DB, key: &str) -> bool {
    let found: Vec<bool> = FAMILIES
        .iter()
        .map(|f| {
            let family = db.cf_handle(f).expect("family");
            db.get_cf(family, key).expect("get").is_some()
        })
        .collect();
    assert_eq!(found[0], found[1], "{key} in one family only");
    found[0]
}

fn wal_files(path: &std::path::Path) -> usize {
    std::fs::read_dir(path)
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count()
}

#[test]
fn a_crash_keeps_what_was_synced_across_a_wal_rollover() {
    madsim::runtime::Runtime::new().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("db");
        {
            let db = open(&path);
            put(&db, &path, "synced-first", true);
            put(&db, &path, "synced-again", true);
            // One family's memtable flushed: RocksDB moves to a new WAL, and
            // the old one stays for the other family.
            db.flush_cf(db.cf_handle("log").expect("family"))
                .expect("flush");
            assert_eq!(wal_files(&path), 2, "the old WAL stays beside the new one");
            put(&db, &path, "synced-after-rollover", true);
            put(&db, &path, "never-synced", false);
        }
        let db = open(&path);
        assert!(present(&db, "synced-first"));
        assert!(present(&db, "synced-again"));
        assert!(
            present(&db, "synced-after-rollover"),
            "a write synced into the new WAL was lost: the model missed the rollover"
        );
        assert!(
            !present(&db, "never-synced"),
            "an unsynced write survived the crash"
        );
        // After the reopen (a new WAL again, the files version counted
        // from the start): the same holds.
        put(&db, &path, "synced-after-reopen", true);
        put(&db, &path, "unsynced-after-reopen", false);
        drop(db);
        let db = open(&path);
        assert!(present(&db, "synced-after-rollover"));
        assert!(present(&db, "synced-after-reopen"));
        assert!(!present(&db, "unsynced-after-reopen"));
    });
}
