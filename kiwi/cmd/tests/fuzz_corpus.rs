//! Replays the command fuzz corpus (`fuzz/corpus/exec_commands`) through the
//! fuzz target's checks on a real engine, so every CI run covers what
//! fuzzing found interesting.

use kiwi_cmd::fuzzing::Harness;

#[test]
fn exec_corpus_replays_cleanly() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/exec_commands"
    );
    let db = tempfile::tempdir().expect("temp dir");
    let mut harness = Harness::open(db.path());
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz corpus directory") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        harness.check(&data);
        count += 1;
    }
    assert!(count >= 10, "corpus unexpectedly small: {count} files");
}
