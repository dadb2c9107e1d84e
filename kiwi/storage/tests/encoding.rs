//! Property tests of the collection encodings: every encoder round-trips and
//! preserves the order the commands rely on (failure seeds are committed in
//! the top-level `proptest-regressions/`).

use kiwi_storage::encoding::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/encoding.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// Any non-NaN double, with the special values well represented.
fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN is rejected before storage", |f| !f.is_nan()),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0
        ]),
        (-1000i32..1000).prop_map(|n| n as f64 / 8.0),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn score_key_preserves_order(a in score(), b in score()) {
        let (ka, kb) = (score_key(a), score_key(b));
        prop_assert_eq!(a.partial_cmp(&b), Some(ka.cmp(&kb)));
        // -0.0 folds into 0.0; every other value round-trips exactly.
        let back = score_from_key(&ka).unwrap();
        prop_assert!(back == a && (a != 0.0 || back.is_sign_positive()));
        prop_assert_eq!(score_from_value(&score_value(a)).map(f64::to_bits), Some(a.to_bits()));
    }

    #[test]
    fn zset_score_index_orders_by_score_then_member(
        a in score(), b in score(),
        ma in prop::collection::vec(any::<u8>(), 0..6),
        mb in prop::collection::vec(any::<u8>(), 0..6),
    ) {
        let (sa, sb) = (zset_score_sub(a, &ma), zset_score_sub(b, &mb));
        let expected = a.partial_cmp(&b).unwrap().then_with(|| ma.cmp(&mb));
        prop_assert_eq!(sa.cmp(&sb), expected);
        let (score, member) = parse_zset_score_sub(&sa).unwrap();
        prop_assert!(score == a);
        prop_assert_eq!(member, &ma[..]);
        prop_assert!(zset_score_seek(a) <= sa);
        // Member records and score records never interleave.
        prop_assert!(zset_member_sub(&ma) < sb);
    }

    #[test]
    fn list_seq_preserves_order(a in any::<u64>(), b in any::<u64>()) {
        prop_assert_eq!(list_sub(a).cmp(&list_sub(b)), a.cmp(&b));
        prop_assert_eq!(list_seq(&list_sub(a)), Some(a));
        prop_assert_eq!(list_head(&list_payload(a)), Some(a));
    }

    #[test]
    fn element_subs_order_by_hash_and_resume_at_their_cursor(
        x in prop::collection::vec(any::<u8>(), 0..12),
        y in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let (sx, sy) = (element_sub(&x), element_sub(&y));
        prop_assert_eq!(element_of(&sx), Some(&x[..]));
        let (cx, cy) = (element_cursor(&sx).unwrap(), element_cursor(&sy).unwrap());
        // Byte order is (hash, element) order, so cursors follow it.
        prop_assert_eq!(sx.cmp(&sy), cx.cmp(&cy).then_with(|| x.cmp(&y)));
        // Resuming at a cursor includes exactly the elements whose hash is >= it.
        prop_assert_eq!(sx.as_slice() >= element_seek(cy).as_slice(), cx >= cy);
        let member = zset_member_sub(&x);
        prop_assert_eq!(zset_member_of(&member), Some(&x[..]));
    }
}

mod layout {
    //! The versioned key layout (`kiwi_storage::keys`) and the metadata record.
    use bytes::Bytes;
    use kiwi_storage::keys::*;
    use kiwi_storage::{KeyKind, Meta};
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..10)
    }

    proptest! {
        #![proptest_config(super::config())]

        #[test]
        fn meta_keys_round_trip_in_slot_then_hash_order(
            sa in 0u8..16, sb in 0u8..16, a in key(), b in key()
        ) {
            let (ka, kb) = (meta_key(sa, &a), meta_key(sb, &b));
            prop_assert_eq!(parse_meta_key(&ka), Some((sa, key_hash(&a), &a[..])));
            let expected = (sa, key_hash(&a), &a).cmp(&(sb, key_hash(&b), &b));
            prop_assert_eq!(ka.cmp(&kb), expected);
            prop_assert!(meta_seek(sa, key_hash(&a)) <= ka);
        }

        #[test]
        fn data_keys_group_by_key_and_version_and_keep_sub_key_order(
            a in key(), b in key(), va in 0u64..4, vb in 0u64..4,
            x in key(), y in key(),
        ) {
            let (dx, dy) = (data_key(0, &a, va, &x), data_key(0, &b, vb, &y));
            let parsed = parse_data_key(&dx).unwrap();
            prop_assert_eq!((parsed.db, parsed.key, parsed.version, parsed.sub_key), (0, &a[..], va, &x[..]));
            // Every sub-key of one version lies under its prefix, and two
            // different (key, version) prefixes never contain one another.
            let (pa, pb) = (data_prefix(0, &a, va), data_prefix(0, &b, vb));
            prop_assert!(dx.starts_with(&pa));
            if (&a, va) != (&b, vb) {
                prop_assert!(!pa.starts_with(&pb) && !pb.starts_with(&pa));
                prop_assert!(!dy.starts_with(&pa));
            } else {
                prop_assert_eq!(dx.cmp(&dy), x.cmp(&y));
            }
        }

        #[test]
        fn expire_keys_order_by_time_first(ta in any::<u64>(), tb in any::<u64>(), a in key(), b in key()) {
            let (ea, eb) = (expire_key(ta, 1, &a), expire_key(tb, 2, &b));
            prop_assert_eq!(parse_expire_key(&ea), Some((ta, 1, &a[..])));
            if ta != tb {
                prop_assert_eq!(ea.cmp(&eb), ta.cmp(&tb));
            }
        }

        #[test]
        fn meta_records_round_trip(
            kind in prop::sample::select(vec![KeyKind::String, KeyKind::Hash, KeyKind::List, KeyKind::Set, KeyKind::ZSet]),
            expire in any::<u64>(), version in any::<u64>(), size in any::<u64>(),
            payload in prop::collection::vec(any::<u8>(), 0..20),
        ) {
            let meta = if kind == KeyKind::String {
                Meta::string(Bytes::from(payload), expire)
            } else {
                Meta::collection(kind, version, size, Bytes::from(payload), expire)
            };
            prop_assert_eq!(Meta::decode(&meta.encode()).unwrap(), meta);
        }
    }
}
