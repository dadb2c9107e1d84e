//! Model-based property test: random sequences of engine operations
//! (writes, deletes, TTLs, SWAPDB, FLUSHDB, reopen) against an in-memory
//! model. After every step the engine must agree with the model on every
//! key, on DBSIZE and TTL counts, and a full SCAN must return exactly the
//! model's keys.

use std::collections::BTreeMap;

use bytes::Bytes;
use kiwi_storage::{Engine, EngineOptions, Meta};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const DBS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Put {
        db: usize,
        key: u8,
        value: u8,
        ttl: bool,
    },
    Delete {
        db: usize,
        key: u8,
    },
    /// Several writes to the same keys in one batch.
    PutTwice {
        db: usize,
        key: u8,
    },
    /// FLUSHDB and then a write in the same batch.
    FlushThenPut {
        db: usize,
        key: u8,
    },
    Swap {
        a: usize,
        b: usize,
    },
    Flush {
        db: usize,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DBS, 0u8..8, any::<u8>(), any::<bool>()).prop_map(|(db, key, value, ttl)| Op::Put { db, key, value, ttl }),
        2 => (0..DBS, 0u8..8).prop_map(|(db, key)| Op::Delete { db, key }),
        1 => (0..DBS, 0u8..8).prop_map(|(db, key)| Op::PutTwice { db, key }),
        1 => (0..DBS, 0..DBS).prop_map(|(a, b)| Op::Swap { a, b }),
        1 => (0..DBS).prop_map(|db| Op::Flush { db }),
        1 => (0..DBS, 0u8..8).prop_map(|(db, key)| Op::FlushThenPut { db, key }),
        1 => Just(Op::Reopen),
    ]
}

/// (value, has_ttl) per key, per logical db.
type Model = Vec<BTreeMap<u8, (u8, bool)>>;

fn check(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for (db, keys) in model.iter().enumerate() {
        prop_assert_eq!(engine.dbsize(db), keys.len() as u64, "dbsize of db {}", db);
        let ttls = keys.values().filter(|(_, t)| *t).count() as u64;
        prop_assert_eq!(engine.expires(db), ttls, "expires of db {}", db);
        for key in 0u8..8 {
            let got = engine
                .get_meta(db, &[key])
                .unwrap()
                .map(|m| (m.payload[0], m.expire_at_ms != 0));
            prop_assert_eq!(got, keys.get(&key).copied(), "db {} key {}", db, key);
        }
        let mut scanned = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = engine
                .scan(db, cursor, 3, 0, |k, _| scanned.push(k[0]))
                .unwrap();
            if cursor == 0 {
                break;
            }
        }
        scanned.sort();
        prop_assert_eq!(
            scanned,
            keys.keys().copied().collect::<Vec<_>>(),
            "scan of db {}",
            db
        );
    }
    Ok(())
}

fn meta(value: u8, ttl: bool) -> Meta {
    // A TTL far in the future: this test is about bookkeeping, not expiry.
    Meta::string(
        Bytes::copy_from_slice(&[value]),
        if ttl { u64::MAX / 2 } else { 0 },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/storage-model.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path(), &EngineOptions::default()).unwrap();
        let mut model: Model = vec![BTreeMap::new(); kiwi_storage::DATABASES];
        for op in ops {
            match op {
                Op::Put { db, key, value, ttl } => {
                    let mut b = engine.batch();
                    engine.put_meta(&mut b, db, &[key], &meta(value, ttl)).unwrap();
                    engine.commit(b).unwrap();
                    model[db].insert(key, (value, ttl));
                }
                Op::Delete { db, key } => {
                    let mut b = engine.batch();
                    let existed = engine.delete(&mut b, db, &[key]).unwrap();
                    engine.commit(b).unwrap();
                    prop_assert_eq!(existed, model[db].remove(&key).is_some());
                }
                Op::PutTwice { db, key } => {
                    let mut b = engine.batch();
                    engine.put_meta(&mut b, db, &[key], &meta(1, true)).unwrap();
                    engine.delete(&mut b, db, &[key]).unwrap();
                    engine.put_meta(&mut b, db, &[key], &meta(2, false)).unwrap();
                    engine.commit(b).unwrap();
                    model[db].insert(key, (2, false));
                }
                Op::Swap { a, b: other } => {
                    let mut b = engine.batch();
                    engine.swap_db(&mut b, a, other);
                    engine.commit(b).unwrap();
                    model.swap(a, other);
                }
                Op::Flush { db } => {
                    let mut b = engine.batch();
                    engine.flush_db(&mut b, db).unwrap();
                    engine.commit(b).unwrap();
                    model[db].clear();
                }
                Op::FlushThenPut { db, key } => {
                    let mut b = engine.batch();
                    engine.flush_db(&mut b, db).unwrap();
                    engine.put_meta(&mut b, db, &[key], &meta(7, true)).unwrap();
                    engine.commit(b).unwrap();
                    model[db].clear();
                    model[db].insert(key, (7, true));
                }
                Op::Reopen => {
                    drop(engine);
                    engine = Engine::open(dir.path(), &EngineOptions::default()).unwrap();
                }
            }
            check(&engine, &model)?;
        }
    }
}
