//! EDN histories: what `kiwi-jepsen test` writes reads back as the same
//! operations, and histories in Jepsen's own vocabulary (register,
//! cas-register, kv, list-append) get the verdicts the literature gives
//! them, through the library and through `kiwi-jepsen check`.

use std::process::Command;

use kiwi_jepsen::edn::{read_history, write_history, Model};
use kiwi_jepsen::{check, Call, History, Op, Outcome, Ret, Verdict};

const BUDGET: u64 = 1_000_000;

fn op(process: u64, key: &str, call: Call, invoke: u64, done: Option<(u64, Ret)>) -> Op {
    let (complete_ns, outcome) = match done {
        Some((t, r)) => (Some(t), Outcome::Done(r)),
        None => (None, Outcome::Unknown),
    };
    Op {
        process,
        key: key.to_string(),
        call,
        invoke_ns: invoke,
        complete_ns,
        outcome,
    }
}

fn every_call() -> History {
    let s = |v: &str| v.to_string();
    let list = |v: &[&str]| Ret::List(v.iter().map(|x| x.to_string()).collect());
    let mut h = History::default();
    for o in [
        op(0, "r0.0", Call::Set(s("1.1")), 10, Some((20, Ret::Ok))),
        op(
            1,
            "r0.0",
            Call::Get,
            15,
            Some((25, Ret::Bulk(Some(s("1.1"))))),
        ),
        op(
            0,
            "r0.0",
            Call::SetGet(s("1.2")),
            30,
            Some((40, Ret::Bulk(Some(s("1.1"))))),
        ),
        op(
            1,
            "r0.0",
            Call::Cas {
                from: Some(s("1.2")),
                to: s("2.3"),
            },
            45,
            Some((50, Ret::Ok)),
        ),
        op(2, "r0.0", Call::Set(s("3.1")), 55, None),
        op(0, "c0.0", Call::IncrBy(3), 60, Some((70, Ret::Int(3)))),
        op(
            1,
            "c0.0",
            Call::Get,
            61,
            Some((71, Ret::Bulk(Some(s("3"))))),
        ),
        op(0, "l0.0", Call::RPush(s("a")), 80, Some((90, Ret::Int(1)))),
        op(
            1,
            "l0.0",
            Call::RPushLRange(s("b")),
            91,
            Some((95, list(&["a", "b"]))),
        ),
        op(0, "l0.0", Call::LRange, 96, Some((99, list(&["a", "b"])))),
        op(0, "s0.0", Call::SAdd(s("x")), 100, Some((110, Ret::Int(1)))),
        op(1, "s0.0", Call::SMembers, 111, Some((120, list(&["x"])))),
        op(
            0,
            "a0.0",
            Call::Append(s("xy")),
            121,
            Some((130, Ret::Int(2))),
        ),
    ] {
        h.push(o);
    }
    h
}

fn sorted(mut ops: Vec<Op>) -> Vec<Op> {
    ops.sort_by_key(|o| (o.invoke_ns, o.process));
    ops
}

#[test]
fn what_the_harness_writes_reads_back_as_the_same_operations() {
    let h = every_call();
    let text = write_history(&h);
    let back = read_history(&text, Model::Kiwi, false).expect("our own EDN parses");
    assert_eq!(sorted(back.ops), sorted(h.ops.clone()));
    assert!(check(&h, BUDGET).is_valid());
}

#[test]
fn the_written_events_are_jepsen_maps() {
    let mut h = History::default();
    h.push(op(
        0,
        "k",
        Call::Set("v".into()),
        1_000,
        Some((2_000, Ret::Ok)),
    ));
    h.push(op(1, "k", Call::Get, 1_500, None));
    insta::assert_snapshot!(write_history(&h));
}

fn verdict_of(edn: &str, model: Model, independent: bool) -> Verdict {
    let h = read_history(edn, model, independent).expect("history parses");
    let report = check(&h, BUDGET);
    match report.first_failure() {
        None => Verdict::Linearizable,
        Some(k) => k.verdict.clone(),
    }
}

/// Knossos's classic: a read sees a value overwritten before it began.
const STALE_READ: &str = r#"
{:process 0, :type :invoke, :f :write, :value 1, :time 0}
{:process 0, :type :ok, :f :write, :value 1, :time 10}
{:process 0, :type :invoke, :f :write, :value 2, :time 20}
{:process 0, :type :ok, :f :write, :value 2, :time 30}
{:process 1, :type :invoke, :f :read, :value nil, :time 40}
{:process 1, :type :ok, :f :read, :value 1, :time 50}
"#;

#[test]
fn register_stale_read_is_invalid_and_concurrent_read_is_valid() {
    assert_eq!(
        verdict_of(STALE_READ, Model::Register, false),
        Verdict::NotLinearizable
    );
    // The same read overlapping the second write may see either value.
    let overlapping = STALE_READ.replace(":time 40}", ":time 25}");
    assert_eq!(
        verdict_of(&overlapping, Model::Register, false),
        Verdict::Linearizable
    );
}

#[test]
fn cas_register_failed_cas_changed_nothing_and_info_may_apply_late() {
    let h = r#"[
{:process 0, :type :invoke, :f :write, :value 1, :time 0}
{:process 0, :type :ok, :f :write, :value 1, :time 10}
{:process 1, :type :invoke, :f :cas, :value [5 6], :time 20}
{:process 1, :type :fail, :f :cas, :value [5 6], :time 30}
{:process 2, :type :invoke, :f :cas, :value [1 3], :time 40}
{:process 2, :type :info, :f :cas, :value [1 3], :time 50}
{:process 0, :type :invoke, :f :read, :value nil, :time 60}
{:process 0, :type :ok, :f :read, :value 1, :time 70}
{:process 0, :type :invoke, :f :read, :value nil, :time 80}
{:process 0, :type :ok, :f :read, :value 3, :time 90}
{:process :nemesis, :type :info, :f :start, :value nil, :time 95}
]"#;
    assert_eq!(
        verdict_of(h, Model::CasRegister, false),
        Verdict::Linearizable
    );
    // Had the failed cas [5 6] applied, 6 could be read; it did not.
    let wrong = h.replace(":value 3, :time 90", ":value 6, :time 90");
    assert_eq!(
        verdict_of(&wrong, Model::CasRegister, false),
        Verdict::NotLinearizable
    );
    // After the info cas is seen applied (3), the value cannot go back to 1.
    let back = h
        .replace(":value 1, :time 70", ":value 3, :time 70")
        .replace(":value 3, :time 90", ":value 1, :time 90");
    assert_eq!(
        verdict_of(&back, Model::CasRegister, false),
        Verdict::NotLinearizable
    );
}

#[test]
fn independent_registers_are_checked_per_key() {
    let h = r#"
{:process 0, :type :invoke, :f :write, :value [:a 1], :time 0}
{:process 0, :type :ok, :f :write, :value [:a 1], :time 10}
{:process 1, :type :invoke, :f :read, :value [:b nil], :time 20}
{:process 1, :type :ok, :f :read, :value [:b nil], :time 30}
{:process 1, :type :invoke, :f :read, :value [:a nil], :time 40}
{:process 1, :type :ok, :f :read, :value [:a 1], :time 50}
"#;
    assert_eq!(verdict_of(h, Model::Register, true), Verdict::Linearizable);
    let mixed = h.replace("[:b nil], :time 30", "[:b 1], :time 30");
    assert_eq!(
        verdict_of(&mixed, Model::Register, true),
        Verdict::NotLinearizable
    );
}

#[test]
fn kv_appends_concatenate_in_linearization_order() {
    let h = r#"
{:process 0, :type :invoke, :f :put, :value ["k" "x"], :time 0}
{:process 0, :type :ok, :f :put, :value ["k" "x"], :time 10}
{:process 0, :type :invoke, :f :append, :value ["k" "y"], :time 20}
{:process 1, :type :invoke, :f :append, :value ["k" "z"], :time 21}
{:process 0, :type :ok, :f :append, :value ["k" "y"], :time 30}
{:process 1, :type :ok, :f :append, :value ["k" "z"], :time 31}
{:process 0, :type :invoke, :f :get, :value ["k" nil], :time 40}
{:process 0, :type :ok, :f :get, :value ["k" "xzy"], :time 50}
"#;
    assert_eq!(verdict_of(h, Model::Kv, false), Verdict::Linearizable);
    let lost = h.replace("\"xzy\"", "\"xz\"");
    assert_eq!(
        verdict_of(&lost, Model::Kv, false),
        Verdict::NotLinearizable
    );
}

#[test]
fn list_append_lost_append_is_invalid() {
    let h = r#"
{:process 0, :type :invoke, :f :append, :value [7 1], :time 0}
{:process 0, :type :ok, :f :append, :value [7 1], :time 10}
{:process 1, :type :invoke, :f :append, :value [7 2], :time 20}
{:process 1, :type :ok, :f :append, :value [7 2], :time 30}
{:process 0, :type :invoke, :f :read, :value [7 nil], :time 40}
{:process 0, :type :ok, :f :read, :value [7 [1 2]], :time 50}
"#;
    assert_eq!(
        verdict_of(h, Model::ListAppend, false),
        Verdict::Linearizable
    );
    let lost = h.replace("[7 [1 2]]", "[7 [1]]");
    assert_eq!(
        verdict_of(&lost, Model::ListAppend, false),
        Verdict::NotLinearizable
    );
    let reordered = h.replace("[7 [1 2]]", "[7 [2 1]]");
    assert_eq!(
        verdict_of(&reordered, Model::ListAppend, false),
        Verdict::NotLinearizable
    );
}

#[test]
fn malformed_histories_are_errors_not_verdicts() {
    let bad = |edn: &str, model: Model| read_history(edn, model, false).unwrap_err();
    assert!(bad("{:process 0, :type :invoke", Model::Register).contains("EDN"));
    assert!(bad(
        "{:process 0, :type :invoke, :f :cas, :value [1 2], :time 0}",
        Model::Register
    )
    .contains("not an operation of the Register model"));
    assert!(bad(
        "{:process 0, :type :ok, :f :read, :value 1, :time 0}",
        Model::Register
    )
    .contains("without an invocation"));
    assert!(bad(
        "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :invoke, :f :read, :value nil}",
        Model::Register
    )
    .contains("previous operation is open"));
}

#[test]
fn the_check_command_exits_by_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |name: &str, edn: &str, model: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, edn).expect("write history");
        let out = Command::new(env!("CARGO_BIN_EXE_kiwi-jepsen"))
            .args(["check", "--model", model])
            .arg(&file)
            .output()
            .expect("kiwi-jepsen runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run("stale.edn", STALE_READ, "register");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.ends_with("INVALID\n"), "{out}");
    assert!(out.contains("cannot linearize"), "{out}");
    let fine = STALE_READ.replace(":value 1, :time 50", ":value 2, :time 50");
    let (code, out) = run("fine.edn", &fine, "register");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("VALID\n"), "{out}");
    let ours = write_history(&every_call());
    let (code, out) = run("ours.edn", &ours, "kiwi");
    assert_eq!(code, Some(0), "{out}");
    let (code, _) = run("bad.edn", "{:process", "kiwi");
    assert_eq!(code, Some(2));
}
