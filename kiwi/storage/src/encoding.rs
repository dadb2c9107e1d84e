//! Sub-key and payload encodings of the collection types, chosen so that
//! RocksDB's byte order is the order Redis commands need.
//!
//! ```text
//! hash   : sub = field                       value = field value
//! set    : sub = member                      value = ""
//! list   : sub = seq u64 BE                  value = element
//!          meta payload = head seq u64 BE; element i lives at seq head + i
//! zset   : sub = 'm' member                  value = score (f64 bits BE)
//!          sub = 's' score_key(score) member value = score (f64 bits BE)
//! ```
//! The zset score index orders by score then member, exactly Redis's
//! skiplist order, so score ranges and ranks are range scans. Its value
//! keeps the exact score because the key folds -0 into +0 (Redis compares
//! them equal, so they must sort as one score).

use bytes::Bytes;

/// Seq of the first element of a new list: the middle of the u64 range, so
/// both ends can grow by 2^63 pushes.
pub const LIST_INITIAL_HEAD: u64 = 1 << 63;

/// Tag of a zset member -> score record.
pub const ZSET_MEMBER_TAG: u8 = b'm';
/// Tag of a zset score-index record.
pub const ZSET_SCORE_TAG: u8 = b's';

/// Order-preserving encoding of a score: for any non-NaN `a < b`,
/// `score_key(a) < score_key(b)` bytewise; `-0.0` and `0.0` encode alike.
pub fn score_key(score: f64) -> [u8; 8] {
    debug_assert!(!score.is_nan(), "NaN scores are rejected before storage");
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Inverse of [`score_key`] (returns `0.0` for an encoded `-0.0`).
pub fn score_from_key(raw: &[u8]) -> Option<f64> {
    let ordered = u64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    Some(f64::from_bits(bits))
}

/// A score as stored in a record's value (exact bits, `-0.0` kept).
pub fn score_value(score: f64) -> [u8; 8] {
    score.to_bits().to_be_bytes()
}

pub fn score_from_value(raw: &[u8]) -> Option<f64> {
    Some(f64::from_bits(u64::from_be_bytes(raw.try_into().ok()?)))
}

pub fn zset_member_sub(member: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + member.len());
    out.push(ZSET_MEMBER_TAG);
    out.extend_from_slice(member);
    out
}

pub fn zset_score_sub(score: f64, member: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + member.len());
    out.push(ZSET_SCORE_TAG);
    out.extend_from_slice(&score_key(score));
    out.extend_from_slice(member);
    out
}

/// The first score-index sub-key with a score >= `score` (any member).
pub fn zset_score_seek(score: f64) -> Vec<u8> {
    zset_score_sub(score, b"")
}

/// Splits a score-index sub-key into (score, member).
pub fn parse_zset_score_sub(sub: &[u8]) -> Option<(f64, &[u8])> {
    if sub.first() != Some(&ZSET_SCORE_TAG) || sub.len() < 9 {
        return None;
    }
    Some((score_from_key(&sub[1..9])?, &sub[9..]))
}

pub fn list_sub(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub fn list_seq(sub: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(sub.try_into().ok()?))
}

pub fn list_payload(head: u64) -> Bytes {
    Bytes::copy_from_slice(&head.to_be_bytes())
}

pub fn list_head(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.get(..8)?.try_into().ok()?))
}

/// The HSCAN/SSCAN/ZSCAN cursor that resumes at sub-key `sub`: its first 8
/// bytes (zero-padded) as a big-endian number. The map from sub-keys to
/// cursors is monotonic, so resuming at [`scan_resume_key`] never skips an
/// element; callers must not end a batch between two sub-keys that share a
/// cursor. A cursor is never 0 after the first batch (0 means "done").
pub fn scan_cursor(sub: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = sub.len().min(8);
    buf[..n].copy_from_slice(&sub[..n]);
    u64::from_be_bytes(buf)
}

/// The smallest sub-key whose [`scan_cursor`] is >= `cursor`.
pub fn scan_resume_key(cursor: u64) -> Vec<u8> {
    let mut out = cursor.to_be_bytes().to_vec();
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_key_orders_edge_values() {
        let scores = [
            f64::NEG_INFINITY,
            f64::MIN,
            -1.5,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            f64::MAX,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(score_key(w[0]) < score_key(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(score_key(-0.0), score_key(0.0));
        for s in scores {
            assert_eq!(score_from_key(&score_key(s)), Some(s));
        }
    }

    #[test]
    fn scan_cursor_resume_key_roundtrip() {
        assert_eq!(scan_resume_key(scan_cursor(b"ab")), b"ab".to_vec());
        assert_eq!(scan_cursor(b"ab"), scan_cursor(b"ab\0"));
        assert_eq!(scan_resume_key(0), Vec::<u8>::new());
    }
}
