//! The reply model and its encoder.
//!
//! [`Frame`] is a superset of RESP2 and RESP3. Commands build frames once; the
//! connection encodes them for whichever protocol the client negotiated with
//! `HELLO`. RESP2 has no maps, sets, doubles, booleans or typed nulls, so the
//! encoder downgrades them exactly as Redis does (`addReplyMapLen` etc.).

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::double::format_g17;

/// The protocol version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// One reply (or one element of a reply). Serializable so a reply computed
/// by the Raft leader travels back to the node the client is connected to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    /// `+OK`: status replies. Must not contain CR or LF.
    Simple(Bytes),
    /// `-ERR ...`: the full error text including its code (`ERR`, `WRONGTYPE`).
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Frame>),
    /// RESP3 map; a flat array of key, value, ... in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Frame>),
    /// RESP3 double; a bulk string (`%.17g`) in RESP2.
    Double(f64),
    /// RESP3 boolean; integer 1/0 in RESP2.
    Boolean(bool),
    /// RESP3 big number; a bulk string in RESP2.
    BigNumber(Bytes),
    /// RESP3 verbatim string (`=`, e.g. `txt:`); a bulk string in RESP2.
    Verbatim {
        format: [u8; 3],
        text: Bytes,
    },
    /// RESP3 push (out-of-band); an array in RESP2.
    Push(Vec<Frame>),
}

impl Frame {
    pub fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    pub fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// An error reply; `msg` includes the code, e.g. `"ERR syntax error"`.
    pub fn error(msg: impl Into<String>) -> Frame {
        let mut msg: String = msg.into();
        // An error line must stay one line, whatever a client put in it.
        if msg.contains(['\r', '\n']) {
            msg = msg.replace(['\r', '\n'], " ");
        }
        Frame::Error(Bytes::from(msg))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    pub fn bulk_opt(b: Option<impl Into<Bytes>>) -> Frame {
        match b {
            Some(b) => Frame::Bulk(b.into()),
            None => Frame::Null,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends the encoding of `self` for `proto` to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        let resp3 = proto == Protocol::Resp3;
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => {
                out.put_u8(b':');
                put_int(out, *n);
                out.put_slice(b"\r\n");
            }
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Frame::NullArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Frame::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Frame::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Frame::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Frame::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Frame::Double(d) => {
                let text = format_g17(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Frame::Boolean(b) => {
                if resp3 {
                    out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Frame::BigNumber(n) => {
                if resp3 {
                    line(out, b'(', n);
                } else {
                    bulk(out, n);
                }
            }
            Frame::Verbatim { format, text } => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.put_slice(format);
                    out.put_u8(b':');
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, text);
                }
            }
        }
    }

    /// Convenience: the encoding as a fresh buffer.
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }
}

fn put_int(out: &mut BytesMut, n: i64) {
    let mut buf = itoa_buf(n);
    out.put_slice(buf.as_bytes_mut());
}

/// Small stack formatter so integer replies avoid a heap allocation.
struct IntBuf {
    bytes: [u8; 20],
    start: usize,
}

impl IntBuf {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

fn itoa_buf(n: i64) -> IntBuf {
    let mut bytes = [0u8; 20];
    let mut pos = bytes.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        pos -= 1;
        bytes[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        pos -= 1;
        bytes[pos] = b'-';
    }
    IntBuf { bytes, start: pos }
}

fn header(out: &mut BytesMut, kind: u8, len: usize) {
    out.put_u8(kind);
    put_int(out, len as i64);
    out.put_slice(b"\r\n");
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 16);
    header(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: &Frame) -> String {
        let r2 = f.to_bytes(Protocol::Resp2);
        let r3 = f.to_bytes(Protocol::Resp3);
        format!(
            "RESP2: {:?}\nRESP3: {:?}",
            String::from_utf8_lossy(&r2),
            String::from_utf8_lossy(&r3)
        )
    }

    #[test]
    fn encodings() {
        let frames = vec![
            ("ok", Frame::ok()),
            ("error", Frame::error("ERR syntax error")),
            ("error_newlines", Frame::error("ERR bad\r\nthing")),
            ("integer", Frame::Integer(-42)),
            ("int_min", Frame::Integer(i64::MIN)),
            ("bulk", Frame::bulk("hello")),
            ("empty_bulk", Frame::bulk("")),
            ("null", Frame::Null),
            ("null_array", Frame::NullArray),
            (
                "array",
                Frame::Array(vec![Frame::Integer(1), Frame::bulk("a"), Frame::Null]),
            ),
            (
                "map",
                Frame::Map(vec![(Frame::bulk("k"), Frame::Integer(1))]),
            ),
            ("set", Frame::Set(vec![Frame::bulk("m")])),
            ("double", Frame::Double(1.1)),
            ("double_inf", Frame::Double(f64::NEG_INFINITY)),
            ("bool", Frame::Boolean(true)),
            (
                "bignum",
                Frame::BigNumber(Bytes::from_static(b"12345678901234567890")),
            ),
            (
                "verbatim",
                Frame::Verbatim {
                    format: *b"txt",
                    text: Bytes::from_static(b"hi"),
                },
            ),
            ("push", Frame::Push(vec![Frame::bulk("message")])),
        ];
        let report: Vec<String> = frames
            .iter()
            .map(|(name, f)| format!("## {name}\n{}", both(f)))
            .collect();
        insta::assert_snapshot!(report.join("\n"));
    }
}
