//! Property tests of the reply encoder against the frame decoder: every
//! frame Kiwi can build encodes (RESP3) to bytes that decode to a frame with
//! the same encoding, and RESP2 downgrades always decode to exactly one frame.

use bytes::{Bytes, BytesMut};
use kiwi_resp::{decode_frame, Frame, Protocol};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn text() -> impl Strategy<Value = Bytes> {
    // Simple strings and errors are single lines.
    "[a-zA-Z0-9 :_.-]{0,12}".prop_map(Bytes::from)
}

fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        text().prop_map(Frame::Simple),
        text().prop_map(|t| Frame::Error(Bytes::from(format!(
            "ERR {}",
            String::from_utf8_lossy(&t)
        )))),
        any::<i64>().prop_map(Frame::Integer),
        binary().prop_map(Frame::Bulk),
        Just(Frame::Null),
        Just(Frame::NullArray),
        any::<f64>().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        (-1_000_000i64..1_000_000).prop_map(|n| Frame::BigNumber(Bytes::from(n.to_string()))),
        binary().prop_map(|text| Frame::Verbatim {
            format: *b"txt",
            text
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

fn encode(f: &Frame, proto: Protocol) -> BytesMut {
    let mut out = BytesMut::new();
    f.encode(proto, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/kiwi-resp-frame.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn resp3_encoding_round_trips(f in frame()) {
        let wire = encode(&f, Protocol::Resp3);
        let (decoded, used) = decode_frame(&wire).unwrap().expect("a complete frame");
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(encode(&decoded, Protocol::Resp3), wire);
    }

    #[test]
    fn resp2_downgrade_is_one_frame(f in frame()) {
        let wire = encode(&f, Protocol::Resp2);
        let (_, used) = decode_frame(&wire).unwrap().expect("a complete frame");
        prop_assert_eq!(used, wire.len());
        // RESP2 has no RESP3-only type markers.
        prop_assert!(!matches!(wire.first(), Some(b'%' | b'~' | b',' | b'#' | b'(' | b'=' | b'>' | b'_')));
    }
}
