//! Byte layouts of the keys in each column family.
//!
//! ```text
//! meta   : [db u8][xxh3(key) u64 BE][key]
//! data   : [db u8][key_len u32 BE][key][version u64 BE][sub_key]
//! expire : [expire_at_ms u64 BE][db u8][key]
//! ```
//! `db` is the *physical* database slot; logical `SELECT` numbers map onto
//! slots through a table so that SWAPDB is O(1).

use xxhash_rust::xxh3::xxh3_64;

/// Stable hash that orders the meta column family. Never change it: SCAN
/// cursors held by clients and data on disk depend on it.
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

pub fn meta_key(db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.push(db);
    out.extend_from_slice(&key_hash(key).to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Position in a db's hash order: the first meta key with hash >= `hash`.
pub fn meta_seek(db: u8, hash: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(db);
    out.extend_from_slice(&hash.to_be_bytes());
    out
}

/// Splits a meta key into (db, hash, user key).
pub fn parse_meta_key(raw: &[u8]) -> Option<(u8, u64, &[u8])> {
    if raw.len() < 9 {
        return None;
    }
    let hash = u64::from_be_bytes(raw[1..9].try_into().ok()?);
    Some((raw[0], hash, &raw[9..]))
}

/// Prefix shared by every sub-key of one version of one key.
pub fn data_prefix(db: u8, key: &[u8], version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + key.len() + 8);
    out.push(db);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

pub fn data_key(db: u8, key: &[u8], version: u64, sub_key: &[u8]) -> Vec<u8> {
    let mut out = data_prefix(db, key, version);
    out.extend_from_slice(sub_key);
    out
}

/// Parsed form of a data key.
#[derive(Debug, PartialEq, Eq)]
pub struct DataKey<'a> {
    pub db: u8,
    pub key: &'a [u8],
    pub version: u64,
    pub sub_key: &'a [u8],
}

pub fn parse_data_key(raw: &[u8]) -> Option<DataKey<'_>> {
    if raw.len() < 5 {
        return None;
    }
    let key_len = u32::from_be_bytes(raw[1..5].try_into().ok()?) as usize;
    let key_end = 5usize.checked_add(key_len)?;
    let version_end = key_end.checked_add(8)?;
    if raw.len() < version_end {
        return None;
    }
    Some(DataKey {
        db: raw[0],
        key: &raw[5..key_end],
        version: u64::from_be_bytes(raw[key_end..version_end].try_into().ok()?),
        sub_key: &raw[version_end..],
    })
}

pub fn expire_key(expire_at_ms: u64, db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.extend_from_slice(&expire_at_ms.to_be_bytes());
    out.push(db);
    out.extend_from_slice(key);
    out
}

pub fn parse_expire_key(raw: &[u8]) -> Option<(u64, u8, &[u8])> {
    if raw.len() < 9 {
        return None;
    }
    Some((
        u64::from_be_bytes(raw[0..8].try_into().ok()?),
        raw[8],
        &raw[9..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips() {
        let mk = meta_key(3, b"user:1");
        assert_eq!(
            parse_meta_key(&mk),
            Some((3, key_hash(b"user:1"), &b"user:1"[..]))
        );
        let dk = data_key(2, b"h", 7, b"field");
        assert_eq!(
            parse_data_key(&dk),
            Some(DataKey {
                db: 2,
                key: b"h",
                version: 7,
                sub_key: b"field"
            })
        );
        assert_eq!(
            parse_expire_key(&expire_key(99, 1, b"k")),
            Some((99, 1, &b"k"[..]))
        );
        assert_eq!(parse_data_key(&[0, 255, 255, 255, 255, 1]), None);
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: on-disk order and client SCAN cursors depend on this value.
        assert_eq!(key_hash(b"foo"), 0xab6e5f64077e7d8a);
    }
}
