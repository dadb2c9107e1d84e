//! The command-layer fuzz check (`fuzz/fuzz_targets/exec_commands.rs`),
//! kept here so the fuzz target and the corpus replay test run the same code.
//!
//! Arbitrary bytes are decoded as a stream of requests (RESP or inline) and
//! every request that names a storage command with a valid arity runs on a
//! real engine, as the connection would run it. No input may panic the
//! executor, and every reply must encode to RESP2 and RESP3 byte strings
//! that decode back to exactly one frame.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use kiwi_resp::{decode_frame, Frame, Protocol, RequestDecoder, RequestLimits};
use kiwi_storage::{Engine, EngineOptions};

use crate::{lookup, Config, Executor, Reply, Route, Shared};

/// Most requests run per input, so a single input stays fast.
const MAX_COMMANDS_PER_INPUT: usize = 64;

/// Replies whose encoding is at least this big are decoded back once per
/// distinct encoding (see [`Verified`]).
const VERIFIED_MIN_BYTES: usize = 4096;
/// Distinct big encodings remembered, at most.
const VERIFIED_MAX_ENTRIES: usize = 8;

/// Big encodings already decoded back successfully. The largest replies
/// (COMMAND, COMMAND DOCS: thousands of nested frames) recur in most
/// inputs of a grown corpus, and decoding them again dominated a profile
/// (with the allocations under it). The decoder is deterministic, so the
/// same bytes would pass the same check: skipping them loses nothing.
#[derive(Default)]
struct Verified {
    encodings: VecDeque<Vec<u8>>,
}

impl Verified {
    fn contains(&self, out: &[u8]) -> bool {
        out.len() >= VERIFIED_MIN_BYTES && self.encodings.iter().any(|v| v[..] == *out)
    }

    fn remember(&mut self, out: &[u8]) {
        if out.len() < VERIFIED_MIN_BYTES {
            return;
        }
        if self.encodings.len() == VERIFIED_MAX_ENTRIES {
            self.encodings.pop_front();
        }
        self.encodings.push_back(out.to_vec());
        debug_assert!(self.encodings.len() <= VERIFIED_MAX_ENTRIES);
    }
}

/// An executor on a real engine, reused across inputs (opening RocksDB per
/// input would make fuzzing a thousand times slower).
pub struct Harness {
    executor: Executor,
    verified: Verified,
}

impl Harness {
    /// Opens an engine under `dir` with limits that keep single commands
    /// small (`proto-max-bulk-len` 1 MiB bounds SETRANGE & co.). `dir` is
    /// also the data directory, so SAVE/BGSAVE write their backup there.
    pub fn open(dir: &std::path::Path) -> Harness {
        let config = Config {
            dir: dir.to_path_buf(),
            proto_max_bulk_len: 1 << 20,
            // Every keyspace event on: commands' notification paths run too.
            notify_keyspace_events: "KEAmn".into(),
            ..Config::default()
        };
        // A small memtable: RocksDB preallocates every new WAL and SST file
        // at about this size, and checkpoints (SAVE, BGSAVE) make new ones
        // constantly; at the default 64 MiB, with the directory on tmpfs,
        // that preallocation was the largest single cost in a profile (22 %).
        // Flushes then happen often, which is coverage too. Each flush is
        // a MANIFEST edit, and each checkpoint copies the MANIFEST: at the
        // default limit, copying it was most of a later profile's reads.
        let options = EngineOptions {
            write_buffer_bytes: 1 << 20,
            max_manifest_bytes: 64 << 10,
            ..EngineOptions::default()
        };
        let engine = match Engine::open(&dir.join("db"), &options) {
            Ok(e) => e,
            Err(e) => panic!("fuzz harness: cannot open engine in {}: {e}", dir.display()),
        };
        Harness {
            executor: Executor::new(engine, Arc::new(Shared::new(config, 0))),
            verified: Verified::default(),
        }
    }

    /// Runs the requests in `data` from an empty keyspace and checks every reply.
    pub fn check(&mut self, data: &[u8]) {
        self.run(&[b"FLUSHALL".as_slice()], Protocol::Resp2, 0);
        let proto = if data.first().is_some_and(|b| b & 1 == 1) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let mut decoder = RequestDecoder::new();
        let mut buf = BytesMut::from(data);
        let limits = RequestLimits {
            max_bulk_bytes: 1 << 20,
            ..RequestLimits::default()
        };
        let mut db = 0usize;
        for _ in 0..MAX_COMMANDS_PER_INPUT {
            let args = match decoder.decode(&mut buf, &limits) {
                Ok(Some(args)) if !args.is_empty() => args,
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            };
            // SELECT is a connection command; honour it so other databases get exercised.
            if args[0].eq_ignore_ascii_case(b"SELECT") && args.len() == 2 {
                if let Some(n) = kiwi_resp::request::parse_i64(&args[1]) {
                    if (0..kiwi_storage::DATABASES as i64).contains(&n) {
                        db = n as usize;
                    }
                }
                continue;
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
            self.run(&refs, proto, db);
        }
        // One group commit per input, as the storage worker does per batch.
        let durable = self.executor.make_durable();
        assert_eq!(durable, Frame::ok(), "group commit failed");
        // Blocked commands left behind are dropped with their tickets.
        self.executor.purge_blocked();
    }

    fn run(&mut self, args: &[&[u8]], proto: Protocol, db: usize) {
        let Some(spec) = lookup(args[0]) else {
            return;
        };
        // CONFIG SET could make the harness itself slow (hz, appendfsync).
        if spec.route != Route::Storage || !spec.arity_ok(args.len()) || spec.name == "config" {
            return;
        }
        let args: Vec<bytes::Bytes> = args
            .iter()
            .map(|a| bytes::Bytes::copy_from_slice(a))
            .collect();
        let reply = self.executor.execute(None, db, proto, spec.name, &args);
        if let Reply::Frame(frame) = reply {
            check_encoding_with(&frame, &mut self.verified);
        }
    }
}

/// A reply must encode, in both protocols, to exactly one decodable frame.
pub fn check_encoding(frame: &Frame) {
    check_encoding_with(frame, &mut Verified::default());
}

fn check_encoding_with(frame: &Frame, verified: &mut Verified) {
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut out = BytesMut::new();
        frame.encode(proto, &mut out);
        if verified.contains(&out) {
            continue;
        }
        match decode_frame(&out) {
            Ok(Some((_, used))) => assert_eq!(
                used,
                out.len(),
                "reply encodes to trailing bytes: {frame:?}"
            ),
            other => panic!("reply {frame:?} encodes to undecodable {proto:?} bytes: {other:?}"),
        }
        verified.remember(&out);
    }
}
