//! Engine tests against real RocksDB in temporary directories.

use bytes::Bytes;
use kiwi_storage::{Engine, EngineOptions, KeyKind, Meta};

fn open(dir: &std::path::Path) -> Engine {
    Engine::open(dir, &EngineOptions::default()).expect("open engine")
}

#[test]
fn strings_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut e = open(dir.path());
        let mut b = e.batch();
        e.put_meta(&mut b, 0, b"a", &Meta::string(Bytes::from_static(b"1"), 0))
            .unwrap();
        e.put_meta(&mut b, 0, b"a", &Meta::string(Bytes::from_static(b"2"), 0))
            .unwrap();
        e.put_meta(&mut b, 3, b"b", &Meta::string(Bytes::from_static(b"x"), 0))
            .unwrap();
        e.commit(b).unwrap();
        assert_eq!(
            e.dbsize(0),
            1,
            "two writes to one key in one batch count once"
        );
        assert_eq!(e.dbsize(3), 1);
    }
    let e = open(dir.path());
    assert_eq!(
        e.get_meta(0, b"a").unwrap().unwrap().payload,
        Bytes::from_static(b"2")
    );
    assert_eq!(e.dbsize(0), 1);
    assert_eq!(e.dbsize(3), 1);
}

#[test]
fn swapdb_and_flushdb() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let mut b = e.batch();
    e.put_meta(&mut b, 1, b"k", &Meta::string(Bytes::from_static(b"v"), 0))
        .unwrap();
    e.commit(b).unwrap();
    let mut b = e.batch();
    e.swap_db(&mut b, 1, 2);
    e.commit(b).unwrap();
    assert!(e.get_meta(1, b"k").unwrap().is_none());
    assert!(e.get_meta(2, b"k").unwrap().is_some());
    assert_eq!((e.dbsize(1), e.dbsize(2)), (0, 1));
    let mut b = e.batch();
    e.flush_db(&mut b, 2).unwrap();
    e.commit(b).unwrap();
    assert!(e.get_meta(2, b"k").unwrap().is_none());
    assert_eq!(e.dbsize(2), 0);
    drop(e);
    let e = open(dir.path());
    assert_eq!(e.dbsize(2), 0);
}

#[test]
fn compaction_filter_drops_dead_versions_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    // A "hash" with 1000 fields at version v1.
    let mut b = e.batch();
    let v1 = e.next_version(&mut b);
    e.put_meta(
        &mut b,
        0,
        b"h",
        &Meta::collection(KeyKind::Hash, v1, 1000, Bytes::new(), 0),
    )
    .unwrap();
    for i in 0..1000u32 {
        e.put_sub_key(&mut b, 0, b"h", v1, &i.to_be_bytes(), b"value")
            .unwrap();
    }
    // A live collection that must survive.
    let keep = e.next_version(&mut b);
    e.put_meta(
        &mut b,
        0,
        b"keep",
        &Meta::collection(KeyKind::Set, keep, 1, Bytes::new(), 0),
    )
    .unwrap();
    e.put_sub_key(&mut b, 0, b"keep", keep, b"m", b"").unwrap();
    e.commit(b).unwrap();
    e.flush().unwrap();

    // O(1) delete: one metadata write, whatever the size.
    let mut b = e.batch();
    assert!(e.delete(&mut b, 0, b"h").unwrap());
    e.commit(b).unwrap();
    assert_eq!(
        e.sub_keys(0, b"h", v1, 10_000).unwrap().len(),
        1000,
        "elements linger until compaction"
    );
    e.flush().unwrap();
    e.compact_all().unwrap();
    assert_eq!(
        e.sub_keys(0, b"h", v1, 10_000).unwrap().len(),
        0,
        "compaction reclaimed dead version"
    );
    assert_eq!(
        e.sub_keys(0, b"keep", keep, 10).unwrap().len(),
        1,
        "live version kept"
    );
}

#[test]
fn active_expiry_removes_due_keys_and_ignores_stale_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let mut b = e.batch();
    e.put_meta(
        &mut b,
        0,
        b"soon",
        &Meta::string(Bytes::from_static(b"x"), 1_000),
    )
    .unwrap();
    e.put_meta(
        &mut b,
        0,
        b"later",
        &Meta::string(Bytes::from_static(b"x"), 5_000),
    )
    .unwrap();
    e.put_meta(
        &mut b,
        0,
        b"rewritten",
        &Meta::string(Bytes::from_static(b"x"), 1_000),
    )
    .unwrap();
    e.commit(b).unwrap();
    let mut b = e.batch();
    e.put_meta(
        &mut b,
        0,
        b"rewritten",
        &Meta::string(Bytes::from_static(b"y"), 0),
    )
    .unwrap();
    e.commit(b).unwrap();
    assert!(
        e.get_live(0, b"soon", 2_000).unwrap().is_none(),
        "lazy expiry hides it"
    );
    let removed = e.expire_cycle(2_000, 100).unwrap();
    assert_eq!(removed, vec![(0, Bytes::from_static(b"soon"))]);
    assert!(e.get_meta(0, b"rewritten").unwrap().is_some());
    assert!(e.get_meta(0, b"later").unwrap().is_some());
    assert_eq!(e.dbsize(0), 2);
}

#[test]
fn scan_visits_every_key_once_across_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let mut b = e.batch();
    for i in 0..500 {
        e.put_meta(
            &mut b,
            0,
            format!("k{i}").as_bytes(),
            &Meta::string(Bytes::new(), 0),
        )
        .unwrap();
    }
    e.commit(b).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut rounds = 0;
    loop {
        cursor = e
            .scan(0, cursor, 10, 0, |k, _| {
                assert!(seen.insert(k.to_vec()), "duplicate")
            })
            .unwrap();
        // Writes between calls must not invalidate the cursor.
        let mut b = e.batch();
        e.put_meta(
            &mut b,
            0,
            format!("new{rounds}").as_bytes(),
            &Meta::string(Bytes::new(), 0),
        )
        .unwrap();
        e.commit(b).unwrap();
        rounds += 1;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..500 {
        assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
    }
}

#[test]
fn ttl_counts_follow_writes_deletes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut e = open(dir.path());
        let mut b = e.batch();
        e.put_meta(&mut b, 0, b"a", &Meta::string(Bytes::new(), 9_000))
            .unwrap();
        e.put_meta(&mut b, 0, b"b", &Meta::string(Bytes::new(), 9_000))
            .unwrap();
        e.put_meta(&mut b, 0, b"c", &Meta::string(Bytes::new(), 0))
            .unwrap();
        e.commit(b).unwrap();
        assert_eq!((e.dbsize(0), e.expires(0)), (3, 2));
        let mut b = e.batch();
        // Persist one, delete one, give the third a TTL, all in one batch.
        e.put_meta(&mut b, 0, b"a", &Meta::string(Bytes::new(), 0))
            .unwrap();
        e.delete(&mut b, 0, b"b").unwrap();
        e.put_meta(&mut b, 0, b"c", &Meta::string(Bytes::new(), 5))
            .unwrap();
        e.commit(b).unwrap();
        assert_eq!((e.dbsize(0), e.expires(0)), (2, 1));
    }
    let e = open(dir.path());
    assert_eq!((e.dbsize(0), e.expires(0)), (2, 1));
}

#[test]
fn flushdb_of_a_large_db_uses_range_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let mut b = e.batch();
    for i in 0..10_050u32 {
        e.put_meta(
            &mut b,
            1,
            &i.to_be_bytes(),
            &Meta::string(Bytes::from_static(b"v"), 0),
        )
        .unwrap();
    }
    e.put_meta(
        &mut b,
        2,
        b"other-db",
        &Meta::string(Bytes::from_static(b"v"), 0),
    )
    .unwrap();
    e.commit(b).unwrap();
    let mut b = e.batch();
    e.flush_db(&mut b, 1).unwrap();
    e.commit(b).unwrap();
    assert_eq!(e.dbsize(1), 0);
    assert!(e.get_meta(1, &7u32.to_be_bytes()).unwrap().is_none());
    assert!(
        e.get_meta(2, b"other-db").unwrap().is_some(),
        "other databases untouched"
    );
    drop(e);
    let e = open(dir.path());
    assert_eq!((e.dbsize(1), e.dbsize(2)), (0, 1));
    assert_eq!(
        e.scan(1, 0, 100, 0, |_, _| panic!("db 1 must be empty"))
            .unwrap(),
        0
    );
}

#[test]
fn expired_collections_are_reclaimed_by_expiry_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    let mut b = e.batch();
    let v = e.next_version(&mut b);
    e.put_meta(
        &mut b,
        0,
        b"z",
        &Meta::collection(KeyKind::ZSet, v, 500, Bytes::new(), 1_000),
    )
    .unwrap();
    for i in 0..500u32 {
        e.put_sub_key(&mut b, 0, b"z", v, &i.to_be_bytes(), b"")
            .unwrap();
    }
    e.commit(b).unwrap();
    // The expiry cycle removes the header in O(1)...
    let removed = e.expire_cycle(2_000, 100).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(e.dbsize(0), 0);
    // ...and compaction drops the orphaned elements.
    e.flush().unwrap();
    e.compact_all().unwrap();
    assert!(e.sub_keys(0, b"z", v, 1_000).unwrap().is_empty());
}

/// `write_buffer_bytes` reaches RocksDB: with 64 KiB memtables, 1 MiB of
/// writes leaves at most two memtables' worth in memory (a full memtable is
/// flushed, and writes wait while two are full); with the default 64 MiB
/// all of it is still in the memtable.
#[test]
fn memtables_hold_at_most_write_buffer_bytes() {
    let write_mib = |e: &mut Engine| {
        for i in 0..256u32 {
            let mut b = e.batch();
            let value = Bytes::from(vec![b'v'; 4096]);
            e.put_meta(
                &mut b,
                0,
                format!("k{i}").as_bytes(),
                &Meta::string(value, 0),
            )
            .unwrap();
            e.commit(b).unwrap();
        }
    };
    let small = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        write_buffer_bytes: 64 << 10,
        ..EngineOptions::default()
    };
    let mut e = Engine::open(small.path(), &opts).expect("open engine");
    write_mib(&mut e);
    let in_memory = e.stats().memtable_bytes;
    assert!(
        in_memory < 512 << 10,
        "64 KiB memtables hold {in_memory} bytes"
    );
    assert_eq!(e.dbsize(0), 256);

    let default = tempfile::tempdir().unwrap();
    let mut e = open(default.path());
    write_mib(&mut e);
    let in_memory = e.stats().memtable_bytes;
    assert!(
        in_memory >= 1 << 20,
        "a 64 MiB memtable holds {in_memory} bytes"
    );
}

/// The options RocksDB records for an engine are its defaults plus Kiwi's
/// settings: the options string that sets `allow_fallocate` (the crate has
/// no setter for it) must not drop what is set after it, and production
/// keeps RocksDB's file reservations (`kiwi_runtime::disk::PREALLOCATE_FILES`).
#[test]
fn recorded_options_keep_preallocation_and_later_settings() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        write_buffer_bytes: 1 << 20,
        ..EngineOptions::default()
    };
    drop(Engine::open(dir.path(), &opts).expect("open engine"));
    let options_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("OPTIONS-"))
        })
        .max()
        .expect("RocksDB writes an OPTIONS file");
    let recorded = std::fs::read_to_string(options_file).unwrap();
    let lines: Vec<&str> = recorded.lines().map(str::trim).collect();
    assert!(lines.contains(&"allow_fallocate=true"), "{recorded}");
    assert!(lines.contains(&"manual_wal_flush=true"), "{recorded}");
    assert!(lines.contains(&"write_buffer_size=1048576"), "{recorded}");
}
