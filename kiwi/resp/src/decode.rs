//! Client-side decoding of any RESP2/RESP3 frame.
//!
//! Used by the simulation's RESP client, by tests and by the fuzz target. It
//! is bounded: nesting depth and declared lengths are capped, so hostile input
//! cannot exhaust the stack or memory.

use bytes::Bytes;

use crate::frame::Frame;
use crate::request::parse_i64;

/// Deepest aggregate nesting accepted (Redis replies nest at most a few levels).
pub const MAX_DEPTH: usize = 64;
/// Largest declared bulk or aggregate length accepted.
pub const MAX_DECLARED_LEN: i64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not RESP.
    Invalid(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Invalid(why) => write!(f, "invalid RESP: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one frame from the start of `buf`.
///
/// Returns `Ok(None)` if the frame is incomplete, or the frame and the number
/// of bytes it occupied.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    let mut pos = 0;
    match parse(buf, &mut pos, 0)? {
        Some(frame) => Ok(Some((frame, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let start = *pos;
    let rel = buf.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
    *pos = start + rel + 2;
    Some(&buf[start..start + rel])
}

fn length(text: &[u8]) -> Result<i64, DecodeError> {
    let n = parse_i64(text).ok_or(DecodeError::Invalid("bad length"))?;
    if !(-1..=MAX_DECLARED_LEN).contains(&n) {
        return Err(DecodeError::Invalid("length out of range"));
    }
    Ok(n)
}

fn parse(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Invalid("nesting too deep"));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(text) = line(buf, pos) else {
        return Ok(None);
    };
    let frame = match kind {
        b'+' => Frame::Simple(Bytes::copy_from_slice(text)),
        b'-' => Frame::Error(Bytes::copy_from_slice(text)),
        b':' => Frame::Integer(parse_i64(text).ok_or(DecodeError::Invalid("bad integer"))?),
        b'_' => Frame::Null,
        b'#' => match text {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(DecodeError::Invalid("bad boolean")),
        },
        b',' => {
            let s = std::str::from_utf8(text).map_err(|_| DecodeError::Invalid("bad double"))?;
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().map_err(|_| DecodeError::Invalid("bad double"))?,
            };
            Frame::Double(d)
        }
        b'(' => Frame::BigNumber(Bytes::copy_from_slice(text)),
        b'$' | b'=' => {
            let n = length(text)?;
            if n < 0 {
                Frame::Null
            } else {
                let n = n as usize;
                let start = *pos;
                if buf.len() < start + n + 2 {
                    return Ok(None);
                }
                if &buf[start + n..start + n + 2] != b"\r\n" {
                    return Err(DecodeError::Invalid("missing CRLF after bulk"));
                }
                *pos = start + n + 2;
                let data = &buf[start..start + n];
                if kind == b'=' {
                    if n < 4 || data[3] != b':' {
                        return Err(DecodeError::Invalid("bad verbatim"));
                    }
                    Frame::Verbatim {
                        format: [data[0], data[1], data[2]],
                        text: Bytes::copy_from_slice(&data[4..]),
                    }
                } else {
                    Frame::Bulk(Bytes::copy_from_slice(data))
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = length(text)?;
            if n < 0 {
                return Ok(Some(Frame::NullArray));
            }
            let count = if kind == b'%' {
                n as usize * 2
            } else {
                n as usize
            };
            // Never trust a declared count for allocation: every element
            // needs at least 3 bytes, so cap by what the buffer could hold.
            let mut items = Vec::with_capacity(count.min(buf.len().saturating_sub(*pos) / 3));
            for _ in 0..count {
                match parse(buf, pos, depth + 1)? {
                    Some(f) => items.push(f),
                    None => return Ok(None),
                }
            }
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            }
        }
        _ => return Err(DecodeError::Invalid("unknown frame type")),
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Protocol;

    #[test]
    fn roundtrip_resp3() {
        let frame = Frame::Array(vec![
            Frame::Map(vec![(Frame::bulk("a"), Frame::Double(1.5))]),
            Frame::Set(vec![Frame::Integer(3)]),
            Frame::Null,
            Frame::Boolean(false),
            Frame::error("ERR x"),
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"v"),
            },
        ]);
        let wire = frame.to_bytes(Protocol::Resp3);
        let (decoded, used) = decode_frame(&wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(decoded, frame);
        for cut in 0..wire.len() {
            assert_eq!(decode_frame(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn hostile_input_is_bounded() {
        let deep = b"*1\r\n".repeat(1000);
        assert!(decode_frame(&deep).is_err());
        assert!(decode_frame(b"*999999999999\r\n").is_err());
        assert_eq!(decode_frame(b"*100000000\r\n").unwrap(), None);
    }
}
