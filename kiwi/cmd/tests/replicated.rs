//! Cluster mode's apply path on a real RocksDB engine: replicated batches
//! are deterministic (time and randomness come from the entry), each
//! command commits with its stamp, and a batch interrupted by a crash
//! resumes after the last command that committed, never applying one twice.

use std::sync::Arc;

use bytes::Bytes;
use kiwi_cmd::watch::{guard_args, DIGEST_CMD};
use kiwi_cmd::{Config, Executor, ReplicatedBatch, ReplicatedCmd, Reply, Shared};
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::{Engine, EngineOptions};

fn executor(dir: &std::path::Path) -> Executor {
    let engine = Engine::open(dir, &EngineOptions::default()).expect("open engine");
    Executor::replicated(engine, Arc::new(Shared::new(Config::default(), 0)))
}

fn batch(seed: u64, cmds: &[&[&str]]) -> ReplicatedBatch {
    ReplicatedBatch {
        now_ms: 1_700_000_000_000,
        seed,
        cmds: cmds
            .iter()
            .map(|c| ReplicatedCmd {
                db: 0,
                proto: Protocol::Resp2,
                args: c
                    .iter()
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect(),
            })
            .collect(),
    }
}

fn stamp(i: usize) -> Vec<u8> {
    format!("stamp-{i}").into_bytes()
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

#[test]
fn a_batch_applies_in_order_and_ends_with_its_completion_stamp() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    let b = batch(
        1,
        &[&["SET", "a", "1"], &["INCR", "a"], &["GET", "a"], &["NOPE"]],
    );
    let frames = ex.apply_batch(&b, 0, stamp);
    assert_eq!(frames[..3], [Frame::ok(), Frame::Integer(2), bulk("2")]);
    assert!(frames[3].is_error(), "{:?}", frames[3]);
    // The last command changed nothing, yet the entry is recorded complete.
    assert_eq!(ex.applied_stamp().expect("stamp"), Some(stamp(3)));
}

#[test]
fn an_interrupted_batch_resumes_without_applying_a_command_twice() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    let full = batch(
        1,
        &[
            &["SET", "n", "10"],
            &["INCR", "n"],
            &["GET", "n"],
            &["INCR", "n"],
        ],
    );
    // Before the crash: commands 0 and 1 committed, each with its own stamp.
    let prefix = ReplicatedBatch {
        cmds: full.cmds[..2].to_vec(),
        ..full.clone()
    };
    ex.apply_batch(&prefix, 0, stamp);
    assert_eq!(ex.applied_stamp().expect("stamp"), Some(stamp(1)));
    // After the restart, the stamp says two commands are done: resume at 2.
    let frames = ex.apply_batch(&full, 2, stamp);
    assert_eq!(
        frames,
        vec![Frame::Null, Frame::Null, bulk("11"), Frame::Integer(12)]
    );
    assert_eq!(ex.applied_stamp().expect("stamp"), Some(stamp(3)));
}

#[test]
fn replicas_make_the_same_random_choices_and_use_the_entry_clock() {
    let (t1, t2) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (mut a, mut b) = (executor(t1.path()), executor(t2.path()));
    let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let mut sadd: Vec<&str> = vec!["SADD", "s"];
    sadd.extend(members.iter().map(String::as_str));
    let cmds: &[&[&str]] = &[
        &sadd,
        &["SPOP", "s", "5"],
        &["SRANDMEMBER", "s", "-5"],
        &["SET", "t", "v", "PX", "1000"],
        &["PEXPIRETIME", "t"],
    ];
    let fa = a.apply_batch(&batch(42, cmds), 0, stamp);
    let fb = b.apply_batch(&batch(42, cmds), 0, stamp);
    assert_eq!(fa, fb, "same entry, same replies on every replica");
    // The TTL is the entry's time plus 1000 ms, not the local clock's.
    assert_eq!(fa[4], Frame::Integer(1_700_000_001_000));
    // A different seed makes different choices (the seed is really used).
    let t3 = tempfile::tempdir().expect("tempdir");
    let fc = executor(t3.path()).apply_batch(&batch(43, cmds), 0, stamp);
    assert_ne!(fa[1..3], fc[1..3]);
}

#[test]
fn a_replicated_executor_refuses_writes_outside_the_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    let args = vec![
        Bytes::from_static(b"SET"),
        Bytes::from_static(b"k"),
        Bytes::from_static(b"v"),
    ];
    let Reply::Frame(f) = ex.execute(None, 0, Protocol::Resp2, "set", &args) else {
        panic!("SET never blocks");
    };
    assert_eq!(f, Frame::error("ERR writes must go through the raft log"));
    let get = vec![Bytes::from_static(b"GET"), Bytes::from_static(b"k")];
    let Reply::Frame(f) = ex.execute(None, 0, Protocol::Resp2, "get", &get) else {
        panic!("GET never blocks");
    };
    assert_eq!(f, Frame::Null);
}

/// Digest of `key` as cluster-mode WATCH reads it.
fn digest(ex: &mut Executor, key: &str) -> Bytes {
    let args = [
        Bytes::from_static(DIGEST_CMD.as_bytes()),
        Bytes::copy_from_slice(key.as_bytes()),
    ];
    match ex.execute(None, 0, Protocol::Resp2, DIGEST_CMD, &args) {
        Reply::Frame(Frame::Array(mut d)) => match d.pop() {
            Some(Frame::Bulk(b)) => b,
            other => panic!("digest element {other:?}"),
        },
        _ => panic!("digest reply"),
    }
}

fn with_guard(
    seed: u64,
    guard: Vec<Bytes>,
    before: &[&[&str]],
    after: &[&[&str]],
) -> ReplicatedBatch {
    let mut b = batch(seed, before);
    b.cmds.push(ReplicatedCmd {
        db: 0,
        proto: Protocol::Resp2,
        args: guard,
    });
    b.cmds.extend(batch(seed, after).cmds);
    b
}

#[test]
fn a_watch_guard_runs_or_skips_exactly_the_commands_it_covers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    ex.apply_batch(
        &batch(1, &[&["RPUSH", "l", "a", "b"], &["SET", "s", "1"]]),
        0,
        stamp,
    );
    let watched = vec![
        (0, Bytes::from("l"), digest(&mut ex, "l")),
        (0, Bytes::from("s"), digest(&mut ex, "s")),
    ];

    // Another client's write earlier in the same entry changes `s`: the
    // guard fails, its two commands are skipped, the next client's runs,
    // and one stamp covers the guard and what it skipped.
    let b = with_guard(
        2,
        guard_args(2, &watched),
        &[&["SET", "s", "2"]],
        &[&["SET", "s", "3"], &["RPUSH", "l", "c"], &["INCR", "n"]],
    );
    let frames = ex.apply_batch(&b, 0, stamp);
    assert_eq!(
        frames,
        vec![
            Frame::ok(),
            Frame::NullArray,
            Frame::Null,
            Frame::Null,
            Frame::Integer(1)
        ]
    );
    assert_eq!(ex.applied_stamp().expect("stamp"), Some(stamp(4)));
    // Same contents as when watched (`s` rewritten to the same value
    // counts as unchanged in cluster mode): the guarded commands run.
    ex.apply_batch(&batch(3, &[&["SET", "s", "1"]]), 0, stamp);
    let b = with_guard(4, guard_args(1, &watched), &[], &[&["RPUSH", "l", "c"]]);
    assert_eq!(
        ex.apply_batch(&b, 0, stamp),
        vec![Frame::ok(), Frame::Integer(3)]
    );
    // Resuming inside a guarded range (a crash after the guard held) runs
    // the rest without judging the guard again: judged now, it would fail
    // (`l` has changed since it was watched).
    let b = with_guard(
        5,
        guard_args(2, &watched),
        &[],
        &[&["RPUSH", "l", "d"], &["LLEN", "l"]],
    );
    assert_eq!(
        ex.apply_batch(&b, 1, stamp),
        vec![Frame::Null, Frame::Integer(4), Frame::Integer(4)]
    );
}

fn batch_at(now_ms: u64, cmds: &[&[&str]]) -> ReplicatedBatch {
    ReplicatedBatch {
        now_ms,
        ..batch(7, cmds)
    }
}

fn read(ex: &mut Executor, args: &[&str]) -> Frame {
    let args: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let name = if args[0].eq_ignore_ascii_case(b"GET") {
        "get"
    } else {
        "pttl"
    };
    match ex.execute(None, 0, Protocol::Resp2, name, &args) {
        Reply::Frame(f) => f,
        Reply::Blocked(_) => panic!("a read never blocks"),
    }
}

#[test]
fn reads_expire_keys_by_the_log_clock_not_the_local_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    // Entry time 2023: by the local clock this key expired long ago.
    let t = 1_700_000_000_000;
    ex.apply_batch(&batch_at(t, &[&["SET", "k", "v", "PX", "1000"]]), 0, stamp);
    assert_eq!(ex.clock_ms(), t);
    assert_eq!(read(&mut ex, &["GET", "k"]), bulk("v"));
    assert_eq!(read(&mut ex, &["PTTL", "k"]), Frame::Integer(1000));
    // The log's clock moves only with applied entries.
    ex.apply_batch(&batch_at(t + 400, &[&["SET", "other", "x"]]), 0, stamp);
    assert_eq!(read(&mut ex, &["PTTL", "k"]), Frame::Integer(600));
    ex.apply_batch(&batch_at(t + 1000, &[&["SET", "other", "y"]]), 0, stamp);
    assert_eq!(read(&mut ex, &["GET", "k"]), Frame::Null);
    // A restart restores the clock from the stamp.
    ex.set_log_clock_ms(t + 999);
    assert_eq!(read(&mut ex, &["GET", "k"]), bulk("v"));
}

#[test]
fn the_leader_steps_expiry_when_a_key_is_due_or_the_log_clock_lags_a_ttl() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ex = executor(tmp.path());
    let t = 1_700_000_000_000;
    ex.apply_batch(&batch_at(t, &[&["SET", "plain", "v"]]), 0, stamp);
    assert!(!ex.expiry_step_due(t + 5_000, 100), "no TTL, no step");
    ex.apply_batch(&batch_at(t, &[&["SET", "k", "v", "EX", "100"]]), 0, stamp);
    assert!(
        ex.expiry_step_due(t + 100, 100),
        "the log's clock lags a period"
    );
    assert!(
        !ex.expiry_step_due(t + 99, 100),
        "nothing due, the clock is fresh"
    );
    // A key due within the period: the step goes out at once.
    ex.apply_batch(&batch_at(t, &[&["SET", "soon", "v", "PX", "50"]]), 0, stamp);
    assert!(!ex.expiry_step_due(t + 49, 100));
    assert!(ex.expiry_step_due(t + 50, 100), "a key is due");
}
