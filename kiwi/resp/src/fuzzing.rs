//! Properties checked by the fuzz target (`fuzz/`) and by the corpus replay
//! test, kept here so both exercise exactly the same code.

use bytes::{Bytes, BytesMut};

use crate::decode::decode_frame;
use crate::frame::Protocol;
use crate::request::{ProtocolError, RequestBatch, RequestDecoder, RequestLimits};

/// Most requests or frames examined per input (inputs are small; this only
/// guards against a regression turning a loop into a hang).
const MAX_ITEMS: usize = 1 << 16;

/// What the request decoder made of a byte stream.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    requests: Vec<Vec<Bytes>>,
    error: Option<ProtocolError>,
}

fn fuzz_limits() -> RequestLimits {
    RequestLimits {
        max_bulk_bytes: 1 << 20,
        ..RequestLimits::default()
    }
}

/// Feeds `data` into a buffer in the given chunks; after each chunk `drain`
/// decodes what it can into the result and returns `true` once decoding is
/// over (a protocol error).
fn feed_in_chunks(
    data: &[u8],
    chunk_lens: &mut dyn Iterator<Item = usize>,
    mut drain: impl FnMut(&mut BytesMut, &mut Decoded) -> bool,
) -> Decoded {
    let mut buf = BytesMut::new();
    let mut out = Decoded {
        requests: Vec::new(),
        error: None,
    };
    let mut fed = 0;
    while fed < data.len() {
        let n = chunk_lens
            .next()
            .unwrap_or(data.len())
            .clamp(1, data.len() - fed);
        buf.extend_from_slice(&data[fed..fed + n]);
        fed += n;
        if drain(&mut buf, &mut out) {
            break;
        }
    }
    out
}

/// Feeds `data` to a fresh request decoder in the given chunks, one request
/// at a time.
fn decode_in_chunks(data: &[u8], chunk_lens: &mut dyn Iterator<Item = usize>) -> Decoded {
    let limits = fuzz_limits();
    let mut decoder = RequestDecoder::new();
    feed_in_chunks(data, chunk_lens, |buf, out| {
        for _ in 0..MAX_ITEMS {
            let before = buf.len();
            match decoder.decode(buf, &limits) {
                Ok(Some(args)) => {
                    assert!(
                        buf.len() < before,
                        "decoded a request without consuming input"
                    );
                    out.requests.push(args);
                }
                Ok(None) => return false,
                Err(e) => {
                    assert!(e.reply_text().starts_with("ERR Protocol error: "));
                    out.error = Some(e);
                    return true;
                }
            }
        }
        false
    })
}

/// Feeds `data` to a fresh decoder in the given chunks, decoding whole
/// batches as a connection does; batches stop after requests whose name has
/// an odd length (standing in for AUTH and the like), so stops land
/// everywhere. Empty requests are not part of batches.
fn decode_batches_in_chunks(data: &[u8], chunk_lens: &mut dyn Iterator<Item = usize>) -> Decoded {
    let limits = fuzz_limits();
    let mut decoder = RequestDecoder::new();
    let mut batch = RequestBatch::default();
    feed_in_chunks(data, chunk_lens, |buf, out| {
        for _ in 0..MAX_ITEMS {
            let before = buf.len();
            decoder.decode_batch(buf, &limits, |name| name.len() % 2 == 1, &mut batch);
            for i in 0..batch.len() {
                let args = batch.args(i);
                assert!(!args.is_empty(), "a batch holds an empty request");
                let borrowed: Vec<&[u8]> = batch.arg_slices(i).collect();
                assert_eq!(borrowed, args.iter().map(|a| &a[..]).collect::<Vec<_>>());
                out.requests.push(args);
            }
            if let Some(e) = batch.error() {
                out.error = Some(e.clone());
                return true;
            }
            if buf.len() == before {
                return false;
            }
        }
        false
    })
}

/// The request decoder must make progress or ask for more bytes, and must
/// decode the same requests (and the same error) however the bytes are
/// split across reads: all at once, byte by byte, or in input-derived chunks,
/// one request at a time or in batches.
pub fn check_request_decoder(data: &[u8]) {
    let whole = decode_in_chunks(data, &mut std::iter::empty());
    let non_empty = Decoded {
        requests: whole
            .requests
            .iter()
            .filter(|r| !r.is_empty())
            .cloned()
            .collect(),
        error: whole.error.clone(),
    };
    let batched = decode_batches_in_chunks(data, &mut std::iter::empty());
    assert_eq!(non_empty, batched, "batch decoding differs");
    let seeds: Vec<usize> = data
        .iter()
        .take(64)
        .map(|&b| (b as usize % 23) + 1)
        .collect();
    let mut chunks = seeds.iter().copied().cycle();
    let chunked = decode_in_chunks(data, &mut chunks);
    assert_eq!(
        whole, chunked,
        "decoding depends on how the input was split"
    );
    let mut chunks = seeds.iter().copied().cycle();
    let batched_chunks = decode_batches_in_chunks(data, &mut chunks);
    assert_eq!(
        non_empty, batched_chunks,
        "batch decoding depends on how the input was split"
    );
    if data.len() <= 128 {
        let bytewise = decode_in_chunks(data, &mut std::iter::repeat(1));
        assert_eq!(whole, bytewise, "decoding byte by byte differs");
    }
}

/// Decodes `data` as reply frames until it runs out or fails, checking that
/// every frame consumed bytes within the buffer, and that a decoded frame
/// re-encodes (RESP3) to bytes that decode to a frame with the same encoding.
pub fn check_frame_decoder(data: &[u8]) {
    let mut rest = data;
    for _ in 0..MAX_ITEMS {
        if rest.is_empty() {
            return;
        }
        match decode_frame(rest) {
            Ok(Some((frame, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "frame used {used} of {} bytes",
                    rest.len()
                );
                let mut encoded = BytesMut::new();
                frame.encode(Protocol::Resp3, &mut encoded);
                match decode_frame(&encoded) {
                    Ok(Some((again, n))) => {
                        assert_eq!(n, encoded.len(), "re-encoded frame has trailing bytes");
                        let mut twice = BytesMut::new();
                        again.encode(Protocol::Resp3, &mut twice);
                        assert_eq!(encoded, twice, "encode/decode round trip changed {frame:?}");
                    }
                    other => panic!("re-encoded {frame:?} does not decode: {other:?}"),
                }
                rest = &rest[used..];
            }
            Ok(None) | Err(_) => return,
        }
    }
}
