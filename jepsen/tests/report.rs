//! The HTML report: a failing key's timeline marks the operation the
//! checker could not place, and fault intervals appear on the charts.

use kiwi_jepsen::edn::{read_history, Model};
use kiwi_jepsen::report::{html, Fault, Run};
use kiwi_jepsen::{check, Verdict};

const STALE_READ: &str = r#"
{:process 0, :type :invoke, :f :write, :value 1, :time 0}
{:process 0, :type :ok, :f :write, :value 1, :time 1000000000}
{:process 0, :type :invoke, :f :write, :value 2, :time 2000000000}
{:process 0, :type :ok, :f :write, :value 2, :time 3000000000}
{:process 1, :type :invoke, :f :read, :value nil, :time 4000000000}
{:process 1, :type :ok, :f :read, :value 1, :time 5000000000}
"#;

fn page(edn: &str, faults: &[Fault]) -> (String, bool) {
    let history = read_history(edn, Model::Register, false).expect("parses");
    let report = check(&history, 100_000);
    let valid = report.is_valid();
    let page = html(&Run {
        title: "test <run>",
        summary: "summary & counts",
        valid,
        history: &history,
        report: &report,
        faults,
    });
    (page, valid)
}

#[test]
fn a_failing_key_is_drawn_with_the_stuck_operation_in_red() {
    let history = read_history(STALE_READ, Model::Register, false).expect("parses");
    let report = check(&history, 100_000);
    let key = &report.keys[0];
    assert_eq!(key.verdict, Verdict::NotLinearizable);
    // The read of 1 is the operation that cannot be placed.
    let stuck = key.stuck.expect("a failure names the stuck operation");
    assert_eq!(history.ops[stuck].process, 1);

    let fault = Fault {
        start_ns: 1_500_000_000,
        end_ns: 3_500_000_000,
        label: "partition [1]|[2, 3]".into(),
    };
    let (page, valid) = page(STALE_READ, &[fault]);
    assert!(!valid);
    assert!(page.contains(">INVALID<"));
    assert!(page.contains("not linearizable"));
    // Escaped text, one red operation, green ones before it, the fault band.
    assert!(page.contains("test &lt;run&gt;") && page.contains("summary &amp; counts"));
    assert_eq!(page.matches(r##"fill="#e74c3c" stroke"##).count(), 1);
    assert!(page.matches(r##"fill="#58d68d""##).count() >= 1);
    assert!(page.contains("partition [1]|[2, 3]"));
    assert!(page.contains("already impossible at 5.000 s"));
}

#[test]
fn a_valid_history_shows_every_operation_and_no_red() {
    let fine = STALE_READ.replace(":value 1, :time 5000000000", ":value 2, :time 5000000000");
    let (page, valid) = page(&fine, &[]);
    assert!(valid);
    assert!(page.contains(">VALID<"));
    assert_eq!(page.matches(r##"fill="#e74c3c" stroke"##).count(), 0);
    assert_eq!(page.matches("<rect").count(), 3, "one bar per operation");
}
