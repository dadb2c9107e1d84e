//! Sub-key and payload encodings of the collection types, chosen so that
//! RocksDB's byte order is the order Redis commands need.
//!
//! ```text
//! hash   : sub = xxh3(field) field            value = field value
//! set    : sub = xxh3(member) member          value = ""
//! list   : sub = seq u64 BE                   value = element
//!          meta payload = head seq u64 BE; element i lives at seq head + i
//! zset   : sub = 'm' xxh3(member) member      value = score (f64 bits BE)
//!          sub = 's' score_key(score) member  value = score (f64 bits BE)
//! ```
//! Hash fields, set members and zset member records are ordered by a stable
//! 64-bit hash of the element (the same `xxh3` as the meta keys), so an
//! HSCAN/SSCAN/ZSCAN cursor is simply a position in hash order: stateless,
//! valid across writes, and never stuck on elements sharing a long prefix.
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

/// Sub-key of a hash field or set member: its hash, then the element.
pub fn element_sub(element: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + element.len());
    out.extend_from_slice(&crate::keys::key_hash(element).to_be_bytes());
    out.extend_from_slice(element);
    out
}

/// The element of an [`element_sub`] sub-key.
pub fn element_of(sub: &[u8]) -> Option<&[u8]> {
    sub.get(8..)
}

/// The scan cursor of an [`element_sub`] sub-key: its hash.
pub fn element_cursor(sub: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(sub.get(..8)?.try_into().ok()?))
}

/// Where a scan resumes: the first element whose hash is >= `cursor`.
pub fn element_seek(cursor: u64) -> [u8; 8] {
    cursor.to_be_bytes()
}

pub fn zset_member_sub(member: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + member.len());
    out.push(ZSET_MEMBER_TAG);
    out.extend_from_slice(&element_sub(member));
    out
}

/// The member of a zset member record.
pub fn zset_member_of(sub: &[u8]) -> Option<&[u8]> {
    if sub.first() != Some(&ZSET_MEMBER_TAG) {
        return None;
    }
    element_of(&sub[1..])
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
    fn element_sub_roundtrip() {
        let sub = element_sub(b"field");
        assert_eq!(element_of(&sub), Some(&b"field"[..]));
        assert_eq!(element_cursor(&sub), Some(crate::keys::key_hash(b"field")));
        assert!(element_seek(element_cursor(&sub).unwrap()).as_slice() <= sub.as_slice());
        assert_eq!(zset_member_of(&zset_member_sub(b"m")), Some(&b"m"[..]));
    }
}
