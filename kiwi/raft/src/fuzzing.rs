//! The Raft codec check run by the fuzz target `raft_codec`
//! (`fuzz/fuzz_targets/raft_codec.rs`) and by the corpus replay test.
//!
//! Arbitrary bytes are decoded as every message a peer or the disk can hand
//! Kiwi: transport requests and replies (append-stream frames too), log
//! entries, applied stamps and snapshot metadata. Decoding must never panic or allocate without bound;
//! whatever decodes must re-encode to bytes that decode to the same value
//! (checked as byte equality of the second encoding: postcard is canonical).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use openraft::raft::AppendEntriesRequest;

use crate::transport::{RaftReply, RaftRpc, StreamReply};
use crate::types::{AppliedState, Entry, SnapshotMeta, TypeConfig};

/// Runs every decoder on `data`; panics on a round-trip mismatch.
pub fn check_codec(data: &[u8]) {
    round_trip::<RaftRpc>(data);
    round_trip::<RaftReply>(data);
    round_trip::<AppendEntriesRequest<TypeConfig>>(data);
    round_trip::<StreamReply>(data);
    round_trip::<Entry>(data);
    round_trip::<AppliedState>(data);
    round_trip::<SnapshotMeta>(data);
}

fn round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) {
    let Ok(value) = codec::decode::<T>(data) else {
        return;
    };
    let bytes = match codec::encode(&value) {
        Ok(b) => b,
        Err(e) => panic!(
            "a decoded {} does not re-encode: {e}",
            std::any::type_name::<T>()
        ),
    };
    let again: T = match codec::decode(&bytes) {
        Ok(v) => v,
        Err(e) => panic!(
            "re-encoded {} does not decode: {e}",
            std::any::type_name::<T>()
        ),
    };
    match codec::encode(&again) {
        Ok(b) => assert_eq!(
            b,
            bytes,
            "{} changed in a round trip",
            std::any::type_name::<T>()
        ),
        Err(e) => panic!("{} re-encode failed: {e}", std::any::type_name::<T>()),
    }
}
