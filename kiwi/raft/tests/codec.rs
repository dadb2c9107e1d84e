//! Property tests for the Raft codec: every log entry, stamp and transport
//! message Kiwi writes decodes to exactly what was written (regressions in
//! the top-level `proptest-regressions/`), and the committed fuzz corpus
//! replays through the fuzz check.

use bytes::Bytes;
use kiwi_cmd::ReplicatedCmd;
use kiwi_raft::codec;
use kiwi_raft::types::{AppliedState, Entry, LogId, Request};
use kiwi_resp::{Frame, Protocol};
use openraft::entry::RaftEntry;
use openraft::impls::leader_id_adv::LeaderId;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/raft_codec.txt"
        )))),
        ..ProptestConfig::default()
    }
}

fn log_id() -> impl Strategy<Value = LogId> {
    (any::<u64>(), any::<u64>(), any::<u64>())
        .prop_map(|(term, node_id, index)| LogId::new(LeaderId { term, node_id }, index))
}

fn cmd() -> impl Strategy<Value = ReplicatedCmd> {
    (
        0u8..16,
        any::<bool>(),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6),
    )
        .prop_map(|(db, resp3, args)| ReplicatedCmd {
            db,
            proto: if resp3 {
                Protocol::Resp3
            } else {
                Protocol::Resp2
            },
            args: args.into_iter().map(Bytes::from).collect(),
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(cmd(), 1..8)
        )
            .prop_map(|(now_ms, seed, cmds)| Request::Commands { now_ms, seed, cmds }),
        (any::<u64>(), any::<u32>()).prop_map(|(now_ms, max_entries)| Request::Expire {
            now_ms,
            max_entries
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn log_entries_round_trip(id in log_id(), req in request(), blank in any::<bool>()) {
        let entry = if blank { Entry::new_blank(id) } else { Entry::new_normal(id, req) };
        let bytes = codec::encode(&entry).expect("encode");
        let back: Entry = codec::decode(&bytes).expect("decode");
        prop_assert_eq!(back, entry);
    }

    #[test]
    fn applied_stamps_round_trip(last in proptest::option::of(log_id()), partial in proptest::option::of((log_id(), any::<u32>())), log_clock_ms in any::<u64>()) {
        let stamp = AppliedState { last_applied: last, membership: Default::default(), partial, log_clock_ms };
        let back: AppliedState = codec::decode(&codec::encode(&stamp).expect("encode")).expect("decode");
        prop_assert_eq!(back, stamp);
    }

    #[test]
    fn reply_frames_round_trip(texts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..6), n in any::<i64>(), d in any::<f64>()) {
        let frames = vec![
            Frame::Array(texts.iter().cloned().map(|t| Frame::Bulk(Bytes::from(t))).collect()),
            Frame::Integer(n),
            Frame::Null,
            Frame::NullArray,
            Frame::Verbatim { format: *b"txt", text: Bytes::from(texts.concat()) },
        ];
        let back: Vec<Frame> = codec::decode(&codec::encode(&frames).expect("encode")).expect("decode");
        prop_assert_eq!(back, frames);
        // Doubles compare by bits (NaN != NaN).
        let back_d: Frame = codec::decode(&codec::encode(&Frame::Double(d)).expect("encode")).expect("decode");
        match back_d {
            Frame::Double(x) => prop_assert_eq!(x.to_bits(), d.to_bits()),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        kiwi_raft::fuzzing::check_codec(&data);
    }
}

/// The committed fuzz corpus replays through the fuzz check.
#[test]
fn fuzz_corpus_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/raft_codec");
    let mut seen = 0;
    for item in std::fs::read_dir(dir).expect("fuzz/corpus/raft_codec exists") {
        let path = item.expect("dir entry").path();
        kiwi_raft::fuzzing::check_codec(&std::fs::read(&path).expect("read corpus file"));
        seen += 1;
    }
    assert!(seen > 0, "the corpus is empty");
}

/// Regenerates the seed corpus from real encodings:
/// `cargo test -p kiwi-raft --test codec -- --ignored write_seed_corpus`.
#[test]
#[ignore = "a tool: rewrites fuzz/corpus/raft_codec"]
fn write_seed_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/raft_codec");
    std::fs::create_dir_all(dir).expect("corpus dir");
    let id = LogId::new(
        LeaderId {
            term: 3,
            node_id: 2,
        },
        41,
    );
    let set = ReplicatedCmd {
        db: 0,
        proto: Protocol::Resp2,
        args: vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
        ],
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "entry-commands",
            codec::encode(&Entry::new_normal(
                id,
                Request::Commands {
                    now_ms: 1_700_000_000_000,
                    seed: 7,
                    cmds: vec![set.clone(), set],
                },
            ))
            .expect("encode"),
        ),
        (
            "entry-expire",
            codec::encode(&Entry::new_normal(
                id,
                Request::Expire {
                    now_ms: 1_700_000_000_000,
                    max_entries: 200,
                },
            ))
            .expect("encode"),
        ),
        (
            "entry-blank",
            codec::encode(&Entry::new_blank(id)).expect("encode"),
        ),
        (
            "stamp",
            codec::encode(&AppliedState {
                last_applied: Some(id),
                membership: Default::default(),
                partial: Some((id, 1)),
                log_clock_ms: 1_700_000_000_000,
            })
            .expect("encode"),
        ),
        (
            "reply-frames",
            codec::encode(&vec![Frame::ok(), Frame::Integer(-1), Frame::Null]).expect("encode"),
        ),
    ];
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write seed");
    }
}
