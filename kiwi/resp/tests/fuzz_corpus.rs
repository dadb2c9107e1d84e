//! Replays the fuzz corpus (`fuzz/corpus/resp_decode`) through the fuzz
//! target's checks, so every CI run covers what fuzzing found interesting.

#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/resp_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz corpus directory") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        kiwi_resp::fuzzing::check_request_decoder(&data);
        kiwi_resp::fuzzing::check_frame_decoder(&data);
        count += 1;
    }
    assert!(count >= 5, "corpus unexpectedly small: {count} files");
}
