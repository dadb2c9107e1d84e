//! The checker against hand-made histories whose verdict is known, and
//! against generated histories that are linearizable by construction.

use kiwi_jepsen::{check, Call, History, Op, Outcome, Ret, State, Verdict};
use proptest::prelude::*;

const BUDGET: u64 = 1_000_000;

fn op(process: u64, key: &str, call: Call, invoke_ms: u64, done: Option<(u64, Ret)>) -> Op {
    let (complete_ns, outcome) = match done {
        Some((t, r)) => (Some(t * 1_000_000), Outcome::Done(r)),
        None => (None, Outcome::Unknown),
    };
    Op {
        process,
        key: key.to_string(),
        call,
        invoke_ns: invoke_ms * 1_000_000,
        complete_ns,
        outcome,
    }
}

fn bulk(s: &str) -> Ret {
    Ret::Bulk(Some(s.to_string()))
}

fn verdict(ops: Vec<Op>) -> Verdict {
    let mut h = History::default();
    for o in ops {
        h.push(o);
    }
    let report = check(&h, BUDGET);
    assert_eq!(report.keys.len(), 1);
    report.keys[0].verdict.clone()
}

#[test]
fn sequential_register_history_is_linearizable() {
    let v = verdict(vec![
        op(1, "k", Call::Get, 0, Some((1, Ret::Bulk(None)))),
        op(1, "k", Call::Set("a".into()), 2, Some((3, Ret::Ok))),
        op(2, "k", Call::Get, 4, Some((5, bulk("a")))),
        op(2, "k", Call::SetGet("b".into()), 6, Some((7, bulk("a")))),
        op(1, "k", Call::Get, 8, Some((9, bulk("b")))),
    ]);
    assert_eq!(v, Verdict::Linearizable);
}

#[test]
fn a_stale_read_after_a_completed_write_is_caught() {
    let v = verdict(vec![
        op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))),
        op(2, "k", Call::Get, 2, Some((3, Ret::Bulk(None)))),
    ]);
    assert_eq!(v, Verdict::NotLinearizable);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in [Ret::Bulk(None), bulk("a")] {
        let v = verdict(vec![
            op(1, "k", Call::Set("a".into()), 0, Some((10, Ret::Ok))),
            op(2, "k", Call::Get, 2, Some((3, seen))),
        ]);
        assert_eq!(v, Verdict::Linearizable);
    }
}

#[test]
fn an_unknown_write_may_or_may_not_take_effect_but_not_both() {
    let unknown = || op(1, "k", Call::Set("a".into()), 0, None);
    assert_eq!(
        verdict(vec![
            unknown(),
            op(2, "k", Call::Get, 5, Some((6, bulk("a"))))
        ]),
        Verdict::Linearizable
    );
    assert_eq!(
        verdict(vec![
            unknown(),
            op(2, "k", Call::Get, 5, Some((6, Ret::Bulk(None))))
        ]),
        Verdict::Linearizable
    );
    // Seen, then gone again: no single point explains both reads.
    assert_eq!(
        verdict(vec![
            unknown(),
            op(2, "k", Call::Get, 5, Some((6, bulk("a")))),
            op(3, "k", Call::Get, 7, Some((8, Ret::Bulk(None)))),
        ]),
        Verdict::NotLinearizable
    );
}

#[test]
fn a_compare_and_set_on_an_overwritten_value_is_caught() {
    let cas = |from: &str| Call::Cas {
        from: Some(from.into()),
        to: "c".into(),
    };
    let v = verdict(vec![
        op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))),
        op(2, "k", Call::Set("b".into()), 2, Some((3, Ret::Ok))),
        op(1, "k", cas("a"), 4, Some((5, Ret::Ok))),
    ]);
    assert_eq!(
        v,
        Verdict::NotLinearizable,
        "a CAS from an overwritten value"
    );
    let v = verdict(vec![
        op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))),
        op(2, "k", Call::Set("b".into()), 2, Some((6, Ret::Ok))),
        op(1, "k", cas("a"), 4, Some((5, Ret::Ok))),
        op(3, "k", Call::Get, 7, Some((8, bulk("b")))),
    ]);
    assert_eq!(
        v,
        Verdict::Linearizable,
        "a CAS concurrent with the overwrite may go first"
    );
}

#[test]
fn a_lost_increment_is_caught() {
    let v = verdict(vec![
        op(1, "c", Call::IncrBy(1), 0, Some((1, Ret::Int(1)))),
        op(2, "c", Call::IncrBy(1), 2, Some((3, Ret::Int(1)))),
    ]);
    assert_eq!(v, Verdict::NotLinearizable);
    let v = verdict(vec![
        op(1, "c", Call::IncrBy(1), 0, Some((5, Ret::Int(2)))),
        op(2, "c", Call::IncrBy(1), 1, Some((4, Ret::Int(1)))),
        op(3, "c", Call::Get, 6, Some((7, bulk("2")))),
    ]);
    assert_eq!(v, Verdict::Linearizable);
}

#[test]
fn a_lost_append_is_caught() {
    let v = verdict(vec![
        op(1, "l", Call::RPush("x".into()), 0, Some((1, Ret::Int(1)))),
        op(2, "l", Call::RPush("y".into()), 2, Some((3, Ret::Int(2)))),
        op(
            1,
            "l",
            Call::LRange,
            4,
            Some((5, Ret::List(vec!["y".into()]))),
        ),
    ]);
    assert_eq!(v, Verdict::NotLinearizable);
}

#[test]
fn keys_are_checked_independently() {
    let mut h = History::default();
    h.push(op(1, "a", Call::Set("1".into()), 0, Some((1, Ret::Ok))));
    h.push(op(1, "b", Call::Get, 2, Some((3, Ret::Bulk(None)))));
    h.push(op(2, "a", Call::Get, 4, Some((5, bulk("1")))));
    let report = check(&h, BUDGET);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.keys.len(), 2);
}

#[test]
fn the_budget_bounds_the_search() {
    // Many concurrent unknown increments (not set aside: an increment
    // shows in every later reading) and a read that fits none of them:
    // with 2 steps the search cannot finish either way.
    let mut ops: Vec<Op> = (0..10)
        .map(|i| op(i, "k", Call::IncrBy(i as i64 + 1), 0, None))
        .collect();
    ops.push(op(99, "k", Call::Get, 1, Some((2, bulk("nope")))));
    let mut h = History::default();
    for o in ops {
        h.push(o);
    }
    assert_eq!(check(&h, 2).keys[0].verdict, Verdict::Unknown);
    assert_eq!(check(&h, BUDGET).keys[0].verdict, Verdict::NotLinearizable);
}

#[test]
fn a_failure_explains_itself() {
    let mut h = History::default();
    h.push(op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))));
    h.push(op(2, "k", Call::Set("b".into()), 2, Some((3, Ret::Ok))));
    h.push(op(1, "k", Call::Get, 4, Some((5, bulk("a")))));
    let report = check(&h, BUDGET);
    let failure = report.first_failure().expect("stale read");
    insta::assert_snapshot!(failure.explanation);
}

/// A sequential run of the model, each operation then given an invocation
/// before and a completion after its linearization point (some never
/// complete): linearizable by construction, whatever the overlaps.
fn generated_history() -> impl Strategy<Value = History> {
    let call = prop_oneof![
        Just(Call::Get),
        (0u8..4).prop_map(|v| Call::Set(v.to_string())),
        (0u8..4).prop_map(|v| Call::SetGet(v.to_string())),
        (0u8..4).prop_map(|v| Call::Cas {
            from: None,
            to: v.to_string()
        }),
    ];
    let counter_call = prop_oneof![Just(Call::Get), (1i64..3).prop_map(Call::IncrBy)];
    let list_call = prop_oneof![
        Just(Call::LRange),
        (0u8..4).prop_map(|v| Call::RPush(v.to_string())),
        (0u8..4).prop_map(|v| Call::RPushLRange(v.to_string())),
    ];
    let set_call = prop_oneof![
        Just(Call::SMembers),
        (0u8..4).prop_map(|v| Call::SAdd(v.to_string()))
    ];
    let append_call = prop_oneof![
        Just(Call::Get),
        (0u8..4).prop_map(|v| Call::Append(v.to_string()))
    ];
    let step = (
        0u8..5,
        (call, counter_call, list_call, set_call, append_call),
        0u64..30,
        0u64..30,
        any::<bool>(),
    );
    prop::collection::vec(step, 1..40).prop_map(|steps| {
        let keys = ["r", "c", "l", "s", "a"];
        let mut states = [
            State::Absent,
            State::Absent,
            State::Absent,
            State::Absent,
            State::Absent,
        ];
        let mut h = History::default();
        for (k, (key, calls, before, after, lost)) in steps.into_iter().enumerate() {
            let key = key as usize;
            let (reg, ctr, lst, set, app) = calls;
            let mut call = [reg, ctr, lst, set, app][key].clone();
            if let Call::Cas { from, .. } = &mut call {
                // As the client does: compare with what it just read.
                if let State::Str(v) = &states[key] {
                    *from = Some(v.clone());
                }
            }
            let at = 100 + k as u64 * 10;
            let next = states[key]
                .step(&call, None)
                .expect("model accepts its own run");
            let ret = reply(&states[key], &call, &next);
            states[key] = next;
            let done = (!lost).then_some((at + after, ret));
            h.push(op(k as u64, keys[key], call, at - before, done));
        }
        h
    })
}

/// The reply a correct server gives for `call` from `before` to `after`.
fn reply(before: &State, call: &Call, after: &State) -> Ret {
    let text = |s: &State| match s {
        State::Str(v) => Some(v.clone()),
        _ => None,
    };
    match call {
        Call::Get => Ret::Bulk(text(before)),
        Call::Set(_) | Call::SetPx { .. } | Call::Cas { .. } => Ret::Ok,
        Call::SetGet(_) => Ret::Bulk(text(before)),
        Call::IncrBy(_) => Ret::Int(text(after).and_then(|v| v.parse().ok()).unwrap_or(0)),
        Call::RPush(_) => match after {
            State::List(l) => Ret::Int(l.len() as i64),
            _ => Ret::Int(0),
        },
        Call::LRange => match before {
            State::List(l) => Ret::List(l.clone()),
            _ => Ret::List(Vec::new()),
        },
        Call::RPushLRange(_) => match after {
            State::List(l) => Ret::List(l.clone()),
            _ => Ret::List(Vec::new()),
        },
        Call::Append(_) => Ret::Int(text(after).map_or(0, |v| v.len() as i64)),
        Call::SAdd(v) => match before {
            State::Set(s) if s.contains(v) => Ret::Int(0),
            _ => Ret::Int(1),
        },
        Call::SMembers => match before {
            State::Set(s) => Ret::List(s.iter().cloned().collect()),
            _ => Ret::List(Vec::new()),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../proptest-regressions/jepsen_checker.txt"
            ))
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn setting_unobserved_unknowns_aside_keeps_the_verdict(h in arbitrary_history()) {
        let ops: Vec<&Op> = h.ops.iter().collect();
        let plain = kiwi_jepsen::checker::search("k", &ops, BUDGET).verdict;
        let pruned = check(&h, BUDGET).keys[0].verdict.clone();
        prop_assert_eq!(plain, pruned);
    }

    #[test]
    fn one_wrong_reply_in_a_sequential_run_is_rejected(h in sequential_run_with_one_wrong_reply()) {
        let report = check(&h, BUDGET);
        let failing = report.keys.iter().filter(|k| k.verdict == Verdict::NotLinearizable).count();
        prop_assert_eq!(failing, 1, "{:?}", report);
    }

    #[test]
    fn every_prefix_of_a_linearizable_history_is_linearizable(h in arbitrary_history()) {
        prop_assume!(check(&h, BUDGET).is_valid());
        let ops: Vec<&Op> = h.ops.iter().collect();
        for t in h.ops.iter().filter_map(|o| o.complete_ns) {
            let (prefix, _) = kiwi_jepsen::checker::prefix_at(&ops, t);
            let refs: Vec<&Op> = prefix.iter().collect();
            let verdict = kiwi_jepsen::checker::search("k", &refs, BUDGET).verdict;
            prop_assert_ne!(verdict, Verdict::NotLinearizable, "prefix at {}", t);
        }
    }

    #[test]
    fn histories_from_a_sequential_run_are_linearizable(h in generated_history()) {
        let report = check(&h, BUDGET);
        prop_assert!(report.is_valid(), "{:?}", report.first_failure());
    }
}

/// A stale read hidden among many unknown writes that nobody observed (what
/// a cut-off leader's clients leave behind): decided at once, where the
/// plain search would have to try every subset of the unknown writes.
#[test]
fn unobserved_unknown_writes_do_not_blow_up_the_search() {
    let mut h = History::default();
    h.push(op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))));
    for p in 0..30u64 {
        let to = format!("lost{p}");
        let call = if p % 2 == 0 {
            Call::Set(to)
        } else {
            Call::Cas {
                from: Some("a".into()),
                to,
            }
        };
        h.push(op(100 + p, "k", call, 2, None));
    }
    h.push(op(2, "k", Call::Set("b".into()), 3, Some((4, Ret::Ok))));
    h.push(op(3, "k", Call::Get, 5, Some((6, bulk("a")))));
    let report = check(&h, 10_000);
    assert_eq!(report.keys[0].verdict, Verdict::NotLinearizable);
    let ops: Vec<&Op> = h.ops.iter().collect();
    assert_eq!(
        kiwi_jepsen::checker::search("k", &ops, 10_000).verdict,
        Verdict::Unknown,
        "without setting them aside the budget is not enough"
    );
    // The stuck operation is named by its index in the whole history.
    assert_eq!(h.ops[report.keys[0].stuck.expect("stuck")].process, 3);
}

/// Random register and set histories with arbitrary replies (valid or
/// not): setting unobserved unknown writes aside never changes a verdict.
fn arbitrary_history() -> impl Strategy<Value = History> {
    let value = || (0u8..3).prop_map(|v| v.to_string());
    let register = prop_oneof![
        (
            Just(Call::Get),
            prop::option::of(value()).prop_map(Ret::Bulk)
        ),
        (value().prop_map(Call::Set), Just(Ret::Ok)),
        (
            value().prop_map(Call::SetGet),
            prop::option::of(value()).prop_map(Ret::Bulk)
        ),
        (
            (prop::option::of(value()), value()).prop_map(|(from, to)| Call::Cas { from, to }),
            Just(Ret::Ok)
        ),
    ];
    let set = prop_oneof![
        (value().prop_map(Call::SAdd), (0i64..2).prop_map(Ret::Int)),
        (
            Just(Call::SMembers),
            prop::collection::btree_set(value(), 0..3)
                .prop_map(|s| Ret::List(s.into_iter().collect()))
        ),
    ];
    let step = (0u64..20, 1u64..10, any::<bool>());
    (
        any::<bool>(),
        prop::collection::vec((register, step.clone()), 1..9),
        prop::collection::vec((set, step), 1..9),
    )
        .prop_map(|(sets, regs, set_ops)| {
            let mut h = History::default();
            let calls: Vec<_> = if sets { set_ops } else { regs };
            for (k, ((call, ret), (at, len, lost))) in calls.into_iter().enumerate() {
                let done = (!lost).then_some((at + len, ret));
                h.push(op(k as u64, "k", call, at, done));
            }
            h
        })
}

/// A strictly sequential run (each operation returns before the next is
/// invoked) has exactly one linearization; changing any one observed reply
/// makes it impossible, and the checker must say so.
fn sequential_run_with_one_wrong_reply() -> impl Strategy<Value = History> {
    let value = || (0u8..3).prop_map(|v| v.to_string());
    let call = prop_oneof![
        Just(Call::Get),
        value().prop_map(Call::Set),
        value().prop_map(Call::SetGet),
        Just(Call::LRange),
        value().prop_map(Call::RPushLRange),
        Just(Call::SMembers),
        value().prop_map(Call::SAdd),
    ];
    // Keys by kind, so every call fits its key's type.
    let kind_of = |c: &Call| match c {
        Call::Get | Call::Set(_) | Call::SetGet(_) => "r",
        Call::LRange | Call::RPushLRange(_) => "l",
        _ => "s",
    };
    (
        prop::collection::vec(call, 1..30),
        any::<prop::sample::Index>(),
    )
        .prop_filter_map(
            "needs an operation with an observable reply",
            move |(calls, pick)| {
                let mut states: std::collections::HashMap<&str, State> = Default::default();
                let mut ops = Vec::new();
                for (k, call) in calls.into_iter().enumerate() {
                    let key = kind_of(&call);
                    let before = states.entry(key).or_default().clone();
                    let after = before.step(&call, None)?;
                    let ret = reply(&before, &call, &after);
                    states.insert(key, after);
                    let at = k as u64 * 10;
                    ops.push(op(k as u64, key, call, at, Some((at + 5, ret))));
                }
                let observable: Vec<usize> = (0..ops.len())
                    .filter(|&i| !matches!(ops[i].call, Call::Set(_)))
                    .collect();
                if observable.is_empty() {
                    return None;
                }
                let i = observable[pick.index(observable.len())];
                let Outcome::Done(ret) = &mut ops[i].outcome else {
                    return None;
                };
                *ret = match ret.clone() {
                    Ret::Bulk(Some(_)) => Ret::Bulk(None),
                    Ret::Bulk(None) => Ret::Bulk(Some("never written".into())),
                    Ret::Int(n) => Ret::Int(n + 1),
                    Ret::List(mut l) => {
                        l.push("never written".into());
                        Ret::List(l)
                    }
                    Ret::Ok | Ret::Acked => return None,
                };
                let mut h = History::default();
                for o in ops {
                    h.push(o);
                }
                Some(h)
            },
        )
}

/// A stale read early on, then a long valid tail: the failure is dated to
/// the stale read's completion, and the explanation covers only the prefix.
#[test]
fn a_failure_is_dated_to_the_earliest_impossible_prefix() {
    let mut h = History::default();
    h.push(op(1, "k", Call::Set("a".into()), 0, Some((1, Ret::Ok))));
    h.push(op(2, "k", Call::Set("b".into()), 2, Some((3, Ret::Ok))));
    h.push(op(1, "k", Call::Get, 4, Some((5, bulk("a")))));
    for k in 0..50u64 {
        let at = 10 + 2 * k;
        h.push(op(
            3,
            "k",
            Call::Set(format!("v{k}")),
            at,
            Some((at + 1, Ret::Ok)),
        ));
    }
    let report = check(&h, BUDGET);
    let key = &report.keys[0];
    assert_eq!(key.verdict, Verdict::NotLinearizable);
    assert_eq!(key.failed_by_ns, Some(5_000_000));
    assert_eq!(key.ops, 53);
    assert_eq!(h.ops[key.stuck.expect("stuck")].call, Call::Get);
    assert!(
        key.longest.iter().all(|&i| h.ops[i].invoke_ns <= 5_000_000),
        "the explanation is about the prefix: {:?}",
        key.longest
    );
}
