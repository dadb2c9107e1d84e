//! Server-side request decoding, mirroring Redis's `processMultibulkBuffer`
//! and `processInlineBuffer`, including their limits and error texts.
//!
//! The decoder is incremental: a partially received multibulk request keeps
//! its progress (argument offsets and scan position), so a request that
//! arrives over many reads is scanned once, never re-parsed from its start.
//! Every length a client sends is checked against [`RequestLimits`] before
//! it influences memory use.
//!
//! A connection decodes a whole read at once ([`RequestDecoder::decode_batch`]):
//! the complete requests are split off the buffer as one chunk, and each
//! argument is a range in it. Per request that saves a split of the buffer
//! and its reference count; canonical requests (what every client sends)
//! take a fast path that parses headers in place, and everything else goes
//! through the same scan as [`RequestDecoder::decode`].

use std::ops::Range;

use bytes::{Bytes, BytesMut};

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest header line or inline request.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// The most arguments Redis accepts in a request before authentication.
const UNAUTHENTICATED_ARGS_MAX: usize = 10;

/// The longest argument Redis accepts before authentication.
const UNAUTHENTICATED_BULK_MAX_BYTES: usize = 16 * 1024;

/// Limits on what one request may claim. Defaults are Redis 7.0's.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the largest single argument.
    pub max_bulk_bytes: usize,
    /// The largest argument count (Redis: `INT_MAX`).
    pub max_multibulk_len: usize,
    /// Before authentication Redis allows only tiny requests.
    pub authenticated: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_bulk_bytes: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            authenticated: true,
        }
    }
}

/// A request that violates the protocol. The connection replies with
/// `-ERR <message>` and closes, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: impl Into<String>) -> Self {
        ProtocolError(format!("Protocol error: {}", msg.into()))
    }

    /// The full error reply text (`ERR Protocol error: ...`).
    pub fn reply_text(&self) -> String {
        format!("ERR {}", self.0)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Progress through a multibulk request that has not fully arrived.
#[derive(Debug, Default)]
struct Multibulk {
    /// Arguments still to read.
    remaining: usize,
    /// Where the next unread header starts, relative to the request's start.
    pos: usize,
}

/// Incremental request decoder; one per connection.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    partial: Option<Multibulk>,
    /// Byte ranges of the current request's arguments read so far, relative
    /// to the request's start. Reused across requests (no allocation per
    /// request).
    args: Vec<Range<usize>>,
}

/// Caps the up-front allocation for the argument vector, whatever count a
/// client announces (Redis caps its preallocation the same way).
const PREALLOC_ARGS_MAX: usize = 1024;

/// The most requests one [`RequestBatch`] holds: bounds its tables whatever
/// a client pipelines (the rest stays in the buffer for the next batch).
pub const BATCH_MAX_REQUESTS: usize = 1024;

/// Argument ranges a batch keeps allocated between reads; a request with
/// more arguments than this is served, then its table is freed.
const BATCH_ARGS_KEPT: usize = 16 * 1024;

/// One complete request found at the start of a buffer.
enum Scanned {
    /// `*0`, `*-1` or an empty inline line: consumed, nothing to run.
    Empty { len: usize },
    /// A multibulk request; its argument ranges are in the decoder's table.
    Multibulk { len: usize },
    /// An inline request, its arguments unquoted into their own buffers.
    Inline { args: Vec<Bytes>, len: usize },
}

/// A header line (`*<count>` or `$<len>`) and the number it carries.
enum NumberLine {
    /// No CRLF yet.
    Incomplete,
    /// The line ends (its '\r') at `end`; `value` is `None` if the text is
    /// not a strict decimal (`string2ll`).
    Complete { value: Option<i64>, end: usize },
}

/// Reads the header line starting at `at` (its type byte is not checked).
///
/// The fast path takes 1–18 digits without a leading zero followed by CRLF,
/// which is every header a real client sends; anything else goes through
/// `find_crlf` and `parse_i64`, which decide exactly as Redis does. Both
/// paths find the same line end: digits are never '\r'.
#[inline]
fn number_line(buf: &[u8], at: usize) -> NumberLine {
    if let Some((value, next)) = fast_number(buf, at + 1) {
        return NumberLine::Complete {
            value: Some(value as i64), // at most 18 digits
            end: next - 2,
        };
    }
    match find_crlf(buf, at) {
        None => NumberLine::Incomplete,
        Some(end) => NumberLine::Complete {
            // `end > at` unless the type byte itself is '\r', which callers
            // reject before using the value.
            value: buf.get(at + 1..end).and_then(parse_i64),
            end,
        },
    }
}

impl RequestDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes the next complete request from `buf`, consuming its bytes.
    ///
    /// Returns `Ok(None)` when more bytes are needed. An empty request (empty
    /// inline line, `*0`) yields `Ok(Some(vec![]))`, which callers skip.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        match self.scan(buf, limits)? {
            None => Ok(None),
            Some(Scanned::Empty { len }) => {
                let _ = buf.split_to(len);
                Ok(Some(Vec::new()))
            }
            Some(Scanned::Inline { args, len }) => {
                let _ = buf.split_to(len);
                Ok(Some(args))
            }
            Some(Scanned::Multibulk { len }) => {
                let frozen = buf.split_to(len).freeze();
                let args = self.args.drain(..).map(|r| frozen.slice(r)).collect();
                self.trim_args();
                Ok(Some(args))
            }
        }
    }

    /// Decodes every complete request in `buf` (up to
    /// [`BATCH_MAX_REQUESTS`]) into `batch`, consuming their bytes with one
    /// split: the requests share one chunk and their arguments are ranges
    /// in it, so a pipelined read costs one reference count, not one per
    /// argument.
    ///
    /// The batch ends after a request for which `stop_after(name)` holds:
    /// commands that change `limits` (AUTH, for one) must run before the
    /// next request is decoded, as in Redis, which parses one command at a
    /// time. Empty requests are skipped. A protocol error ends the batch
    /// after the requests before it ([`RequestBatch::error`]).
    pub fn decode_batch(
        &mut self,
        buf: &mut BytesMut,
        limits: &RequestLimits,
        stop_after: impl Fn(&[u8]) -> bool,
        batch: &mut RequestBatch,
    ) {
        batch.clear();
        let mut pos = 0;
        while batch.requests.len() < BATCH_MAX_REQUESTS {
            // A request that arrived in part is resumed only at the start
            // of the buffer: everything before it was consumed.
            assert!(
                self.partial.is_none() || pos == 0,
                "partial request mid-buffer"
            );
            if self.partial.is_none() {
                let first = batch.args.len();
                if let Some(len) = fast_request(&buf[pos..], limits, pos, &mut batch.args) {
                    let stop = stop_after(&buf[batch.args[first].clone()]);
                    batch.requests.push(Entry::Ranges(first..batch.args.len()));
                    pos += len;
                    if stop {
                        break;
                    }
                    continue;
                }
            }
            let scanned = match self.scan(&buf[pos..], limits) {
                Ok(Some(scanned)) => scanned,
                Ok(None) => break,
                Err(e) => {
                    batch.error = Some(e);
                    break;
                }
            };
            let stop = match scanned {
                Scanned::Empty { len } => {
                    pos += len;
                    false
                }
                Scanned::Inline { args, len } => {
                    pos += len;
                    let Some(name) = args.first() else {
                        continue;
                    };
                    let stop = stop_after(name);
                    batch.requests.push(Entry::Owned(args));
                    stop
                }
                Scanned::Multibulk { len } => {
                    let first = batch.args.len();
                    batch
                        .args
                        .extend(self.args.drain(..).map(|r| r.start + pos..r.end + pos));
                    self.trim_args();
                    let stop = stop_after(&buf[batch.args[first].clone()]);
                    batch.requests.push(Entry::Ranges(first..batch.args.len()));
                    pos += len;
                    stop
                }
            };
            if stop {
                break;
            }
        }
        batch.chunk = buf.split_to(pos).freeze();
    }

    /// A huge request must not pin its argument table's memory.
    fn trim_args(&mut self) {
        if self.args.capacity() > PREALLOC_ARGS_MAX {
            self.args = Vec::new();
        }
    }

    /// Finds the request at the start of `buf` without consuming it. A
    /// multibulk request's arguments go to `self.args`; one that has not
    /// fully arrived keeps its progress in `self.partial`.
    fn scan(
        &mut self,
        buf: &[u8],
        limits: &RequestLimits,
    ) -> Result<Option<Scanned>, ProtocolError> {
        if self.partial.is_none() {
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return scan_inline(buf),
            }
            let NumberLine::Complete { value, end } = number_line(buf, 0) else {
                if buf.len() > INLINE_MAX_BYTES {
                    return Err(ProtocolError::new("too big mbulk count string"));
                }
                return Ok(None);
            };
            let count = value
                .filter(|&n| n <= i32::MAX as i64)
                .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
            if !limits.authenticated && count > UNAUTHENTICATED_ARGS_MAX as i64 {
                return Err(ProtocolError::new("unauthenticated multibulk length"));
            }
            if count as i128 > limits.max_multibulk_len as i128 {
                return Err(ProtocolError::new("invalid multibulk length"));
            }
            if count <= 0 {
                return Ok(Some(Scanned::Empty { len: end + 2 }));
            }
            let remaining = count as usize;
            self.args.clear();
            self.args.reserve(remaining.min(PREALLOC_ARGS_MAX));
            self.partial = Some(Multibulk {
                remaining,
                pos: end + 2,
            });
        }
        let Some(mb) = self.partial.as_mut() else {
            return Ok(None);
        };
        while mb.remaining > 0 {
            let NumberLine::Complete { value, end } = number_line(buf, mb.pos) else {
                if buf.len().saturating_sub(mb.pos) > INLINE_MAX_BYTES {
                    self.partial = None;
                    return Err(ProtocolError::new("too big bulk count string"));
                }
                return Ok(None);
            };
            if buf[mb.pos] != b'$' {
                let got = buf[mb.pos] as char;
                self.partial = None;
                return Err(ProtocolError::new(format!("expected '$', got '{got}'")));
            }
            let len = match value {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk_bytes as u64 => n as usize,
                _ => {
                    self.partial = None;
                    return Err(ProtocolError::new("invalid bulk length"));
                }
            };
            if !limits.authenticated && len > UNAUTHENTICATED_BULK_MAX_BYTES {
                self.partial = None;
                return Err(ProtocolError::new("unauthenticated bulk length"));
            }
            let data_start = end + 2;
            // Like Redis, the two bytes after the payload are skipped unchecked.
            let data_end = data_start + len;
            if buf.len() < data_end + 2 {
                return Ok(None);
            }
            self.args.push(data_start..data_end);
            mb.pos = data_end + 2;
            mb.remaining -= 1;
        }
        let Some(mb) = self.partial.take() else {
            return Ok(None);
        };
        Ok(Some(Scanned::Multibulk { len: mb.pos }))
    }
}

/// The most arguments a request may have for [`fast_request`].
const FAST_ARGS_MAX: usize = 1024;

/// The common case, straight into a batch: one complete multibulk request
/// at the start of `buf`, 1 to [`FAST_ARGS_MAX`] arguments, every header in
/// canonical form (see [`fast_number`]) and within `limits`. Pushes the
/// argument ranges, shifted by `offset`, and returns the request's length.
///
/// Anything else (incomplete, empty, inline, unusual or invalid headers)
/// returns `None` with `out` as it was, and [`RequestDecoder::scan`] decides.
/// Where both accept a request they agree on its ranges (the fuzz target
/// checks batches against one-by-one decoding).
#[inline(always)]
fn fast_request(
    buf: &[u8],
    limits: &RequestLimits,
    offset: usize,
    out: &mut Vec<Range<usize>>,
) -> Option<usize> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let (count, mut pos) = fast_number(buf, 1)?;
    let count_max = if limits.authenticated {
        FAST_ARGS_MAX
    } else {
        UNAUTHENTICATED_ARGS_MAX
    };
    if count == 0 || count > count_max || count > limits.max_multibulk_len {
        return None;
    }
    let bulk_max = if limits.authenticated {
        limits.max_bulk_bytes
    } else {
        limits.max_bulk_bytes.min(UNAUTHENTICATED_BULK_MAX_BYTES)
    };
    let first = out.len();
    for _ in 0..count {
        let arg = match buf.get(pos) {
            Some(b'$') => fast_number(buf, pos + 1)
                .filter(|&(len, _)| len <= bulk_max)
                .and_then(|(len, start)| {
                    // The payload and the two bytes after it (not checked,
                    // as in Redis) must have arrived.
                    (start + len + 2 <= buf.len()).then_some(start..start + len)
                }),
            _ => None,
        };
        let Some(arg) = arg else {
            out.truncate(first);
            return None;
        };
        pos = arg.end + 2;
        out.push(arg.start + offset..arg.end + offset);
    }
    Some(pos)
}

/// A header's number in canonical form: 1 to 18 digits without a leading
/// zero (or a lone "0"), then '\r' and one more byte (Redis does not check
/// that it is '\n'). Returns the number and where the line's next byte
/// starts.
#[inline(always)]
fn fast_number(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    const DIGITS_MAX: usize = 18;
    let digits = buf.get(at..)?;
    let mut value = 0usize;
    let mut n = 0;
    while n < digits.len() && n < DIGITS_MAX {
        let digit = digits[n].wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value * 10 + digit as usize;
        n += 1;
    }
    if n == 0
        || (n > 1 && digits[0] == b'0')
        || digits.get(n) != Some(&b'\r')
        || n + 1 >= digits.len()
    {
        return None;
    }
    Some((value, at + n + 2))
}

/// One request of a batch.
#[derive(Debug)]
enum Entry {
    /// Indexes into the batch's argument ranges.
    Ranges(Range<usize>),
    /// An inline request's unquoted arguments.
    Owned(Vec<Bytes>),
}

/// The requests of one read, decoded by [`RequestDecoder::decode_batch`]:
/// one shared chunk of the read buffer and, per request, the ranges of its
/// arguments in it. Reused from read to read.
#[derive(Debug, Default)]
pub struct RequestBatch {
    chunk: Bytes,
    args: Vec<Range<usize>>,
    requests: Vec<Entry>,
    error: Option<ProtocolError>,
}

impl RequestBatch {
    /// Empties the batch and lets go of its chunk, so the read buffer it
    /// came from can be reused rather than reallocated.
    pub fn clear(&mut self) {
        self.chunk = Bytes::new();
        self.args.clear();
        if self.args.capacity() > BATCH_ARGS_KEPT {
            self.args = Vec::new();
        }
        self.requests.clear();
        self.error = None;
    }

    /// How many requests the batch holds.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The protocol error found after the batch's requests, if any: the
    /// connection answers the requests, then the error, then closes.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.error.as_ref()
    }

    /// Request `i`'s arguments as shared slices of the chunk (one reference
    /// count each), for the command layer.
    pub fn args(&self, i: usize) -> Vec<Bytes> {
        match &self.requests[i] {
            Entry::Ranges(r) => self.args[r.clone()]
                .iter()
                .map(|a| self.chunk.slice(a.clone()))
                .collect(),
            Entry::Owned(args) => args.clone(),
        }
    }

    /// Request `i`'s arguments borrowed from the chunk: no copy, no
    /// reference count.
    pub fn arg_slices(&self, i: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ranges, owned): (&[Range<usize>], &[Bytes]) = match &self.requests[i] {
            Entry::Ranges(r) => (&self.args[r.clone()], &[]),
            Entry::Owned(args) => (&[], args),
        };
        ranges
            .iter()
            .map(|r| &self.chunk[r.clone()])
            .chain(owned.iter().map(|a| &a[..]))
    }
}

/// An inline request: one line, split like `sdssplitargs`.
fn scan_inline(buf: &[u8]) -> Result<Option<Scanned>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_BYTES {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let mut text = &buf[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    match split_args(text) {
        Some(args) if args.is_empty() => Ok(Some(Scanned::Empty { len: nl + 1 })),
        Some(args) => Ok(Some(Scanned::Inline { args, len: nl + 1 })),
        None => Err(ProtocolError::new("unbalanced quotes in request")),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    if from >= buf.len() {
        return None;
    }
    // Redis searches for '\r' and then requires the '\n' to be present.
    let rel = memchr::memchr(b'\r', &buf[from..])?;
    let idx = from + rel;
    if idx + 1 < buf.len() {
        Some(idx)
    } else {
        None
    }
}

/// Strict decimal parse as Redis's `string2ll`: optional '-', digits, no
/// leading zeros, no '+', no spaces, fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i128 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as i128;
        if v > i64::MAX as i128 + 1 {
            return None;
        }
    }
    let v = if negative { -v } else { v };
    i64::try_from(v).ok()
}

/// Splits an inline command line like Redis's `sdssplitargs`: whitespace
/// separated, with "double quotes" (supporting \n \r \t \b \a \\ \" \xHH) and
/// 'single quotes' (supporting \'). Returns `None` on unbalanced quotes or a
/// closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    current.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    current.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    current.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => current.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(current));
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, usize) {
        let mut buf = BytesMut::from(input);
        let mut dec = RequestDecoder::new();
        let mut out = Vec::new();
        loop {
            match dec.decode(&mut buf, &RequestLimits::default()) {
                Ok(Some(args)) => out.push(args),
                Ok(None) => return (out, None, buf.len()),
                Err(e) => return (out, Some(e), buf.len()),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (reqs, err, left) =
            decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\r\n");
        assert!(err.is_none());
        assert_eq!(left, 0);
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(reqs[1], vec![Bytes::from("PING")]);
        assert_eq!(
            reqs[2],
            vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b c")]
        );
    }

    #[test]
    fn protocol_errors_match_redis() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"*x\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*3000000000\r\n",
                "Protocol error: invalid multibulk length",
            ),
            (b"*1\r\n+foo\r\n", "Protocol error: expected '$', got '+'"),
            (b"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$600000000\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"set \"a b\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, want) in cases {
            let (_, err, _) = decode_all(input);
            assert_eq!(err.map(|e| e.0).as_deref(), Some(want), "input {input:?}");
        }
        let big = vec![b'a'; INLINE_MAX_BYTES + 1];
        assert_eq!(
            decode_all(&big).1.unwrap().0,
            "Protocol error: too big inline request"
        );
        let mut big_mb = b"*1\r\n$".to_vec();
        big_mb.extend(vec![b'1'; INLINE_MAX_BYTES + 1]);
        assert_eq!(
            decode_all(&big_mb).1.unwrap().0,
            "Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = RequestLimits {
            authenticated: false,
            ..Default::default()
        };
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        let err = RequestDecoder::new().decode(&mut buf, &limits).unwrap_err();
        assert_eq!(err.0, "Protocol error: unauthenticated multibulk length");
        let mut buf = BytesMut::from(&b"*1\r\n$20000\r\n"[..]);
        let err = RequestDecoder::new().decode(&mut buf, &limits).unwrap_err();
        assert_eq!(err.0, "Protocol error: unauthenticated bulk length");
    }

    #[test]
    fn inline_quoting() {
        let args = split_args(br#"set "\x41\n" 'it\'s' plain"#).unwrap();
        assert_eq!(
            args,
            vec![
                Bytes::from("set"),
                Bytes::from("A\n"),
                Bytes::from("it's"),
                Bytes::from("plain")
            ]
        );
        assert!(split_args(br#""a"b"#).is_none());
        assert_eq!(split_args(b"   ").unwrap().len(), 0);
    }

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(parse_i64(b"12"), Some(12));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"012"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }

    fn encode_request(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n", a.len()).as_bytes());
            out.extend(a);
            out.extend(b"\r\n");
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::Direct(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../proptest-regressions/kiwi-resp-request.txt"
                )),
            )),
            ..ProptestConfig::default()
        })]

        /// Any request, split at any points, decodes to the same arguments.
        #[test]
        fn split_delivery_roundtrips(
            reqs in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let wire: Vec<u8> = reqs.iter().flat_map(|r| encode_request(r)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.sort();
            let mut dec = RequestDecoder::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut last = 0;
            points.push(wire.len());
            for p in points {
                buf.extend_from_slice(&wire[last..p]);
                last = p;
                while let Some(args) = dec.decode(&mut buf, &RequestLimits::default()).unwrap() {
                    got.push(args.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(got, reqs);
            prop_assert!(buf.is_empty());
        }

        /// Arbitrary bytes never panic the decoder, and it always makes progress or asks for more.
        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&data[..]);
            let mut dec = RequestDecoder::new();
            for _ in 0..400 {
                let before = buf.len();
                match dec.decode(&mut buf, &RequestLimits::default()) {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
