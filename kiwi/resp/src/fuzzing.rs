//! Properties checked by the fuzz target (`fuzz/`) and by the corpus replay
//! test, kept here so both exercise exactly the same code.

use bytes::BytesMut;

use crate::decode::decode_frame;
use crate::request::{RequestDecoder, RequestLimits};

/// Feeds `data` to the request decoder, split at a point derived from the
/// input, and checks that it either makes progress or asks for more bytes.
pub fn check_request_decoder(data: &[u8]) {
    let split = data
        .first()
        .map(|&b| b as usize % (data.len() + 1))
        .unwrap_or(0);
    let limits = RequestLimits {
        max_bulk_bytes: 1 << 20,
        ..RequestLimits::default()
    };
    let mut decoder = RequestDecoder::new();
    let mut buf = BytesMut::new();
    for part in [&data[..split], &data[split..]] {
        buf.extend_from_slice(part);
        // Each successful decode consumes bytes, so this terminates; the bound
        // is a guard against a regression turning it into a hang.
        for _ in 0..=data.len() {
            let before = buf.len();
            match decoder.decode(&mut buf, &limits) {
                Ok(Some(_)) => assert!(
                    buf.len() < before,
                    "decoded a request without consuming input"
                ),
                Ok(None) => break,
                Err(e) => {
                    assert!(e.reply_text().starts_with("ERR Protocol error: "));
                    return;
                }
            }
        }
    }
}

/// Decodes `data` as reply frames until it runs out or fails, checking that
/// every frame consumed bytes within the buffer.
pub fn check_frame_decoder(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        match decode_frame(rest) {
            Ok(Some((_, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "frame used {used} of {} bytes",
                    rest.len()
                );
                rest = &rest[used..];
            }
            Ok(None) | Err(_) => return,
        }
    }
}
