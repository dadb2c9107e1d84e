//! The metadata record stored in the `meta` column family.
//!
//! ```text
//! [kind u8][format u8][expire_at_ms u64 BE]           common header (10 bytes)
//! string     : [value ...]
//! collection : [version u64 BE][size u64 BE][extra ...]  (list: head, tail)
//! ```
//! `expire_at_ms == 0` means no TTL. TTLs are absolute, so replicas applying
//! the same record agree on them regardless of when they apply it.

use bytes::Bytes;

use crate::error::{StorageError, StorageResult};

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 10;

/// The Redis type of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyKind {
    String = 1,
    Hash = 2,
    List = 3,
    Set = 4,
    ZSet = 5,
}

impl KeyKind {
    fn from_u8(b: u8) -> Option<KeyKind> {
        Some(match b {
            1 => KeyKind::String,
            2 => KeyKind::Hash,
            3 => KeyKind::List,
            4 => KeyKind::Set,
            5 => KeyKind::ZSet,
            _ => return None,
        })
    }

    /// The name `TYPE` replies with.
    pub fn type_name(self) -> &'static str {
        match self {
            KeyKind::String => "string",
            KeyKind::Hash => "hash",
            KeyKind::List => "list",
            KeyKind::Set => "set",
            KeyKind::ZSet => "zset",
        }
    }

    pub fn is_collection(self) -> bool {
        self != KeyKind::String
    }
}

/// A decoded metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: KeyKind,
    /// Absolute expiry (Unix ms); 0 = persistent.
    pub expire_at_ms: u64,
    /// Collections: the version their sub-keys carry. Strings: 0.
    pub version: u64,
    /// Collections: element count. Strings: value length.
    pub size: u64,
    /// Strings: the value. Collections: type-specific header bytes.
    pub payload: Bytes,
}

impl Meta {
    pub fn string(value: Bytes, expire_at_ms: u64) -> Meta {
        Meta {
            kind: KeyKind::String,
            expire_at_ms,
            version: 0,
            size: value.len() as u64,
            payload: value,
        }
    }

    pub fn collection(
        kind: KeyKind,
        version: u64,
        size: u64,
        extra: Bytes,
        expire_at_ms: u64,
    ) -> Meta {
        debug_assert!(kind.is_collection());
        Meta {
            kind,
            expire_at_ms,
            version,
            size,
            payload: extra,
        }
    }

    /// Live means present and not past its expiry at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms == 0 || self.expire_at_ms > now_ms
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 + self.payload.len());
        out.push(self.kind as u8);
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.expire_at_ms.to_be_bytes());
        if self.kind.is_collection() {
            out.extend_from_slice(&self.version.to_be_bytes());
            out.extend_from_slice(&self.size.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn decode(raw: &[u8]) -> StorageResult<Meta> {
        if raw.len() < HEADER_LEN {
            return Err(StorageError::Corrupt("meta record too short"));
        }
        let kind = KeyKind::from_u8(raw[0]).ok_or(StorageError::Corrupt("unknown key kind"))?;
        if raw[1] != FORMAT_V1 {
            return Err(StorageError::Corrupt("unknown meta format"));
        }
        let expire_at_ms = read_u64(&raw[2..10]);
        if kind.is_collection() {
            if raw.len() < HEADER_LEN + 16 {
                return Err(StorageError::Corrupt("collection meta too short"));
            }
            Ok(Meta {
                kind,
                expire_at_ms,
                version: read_u64(&raw[10..18]),
                size: read_u64(&raw[18..26]),
                payload: Bytes::copy_from_slice(&raw[26..]),
            })
        } else {
            let payload = Bytes::copy_from_slice(&raw[HEADER_LEN..]);
            Ok(Meta {
                kind,
                expire_at_ms,
                version: 0,
                size: payload.len() as u64,
                payload,
            })
        }
    }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut arr = [0u8; 8];
    arr.copy_from_slice(&b[..8]);
    u64::from_be_bytes(arr)
}

/// Whether an encoded record carries a TTL (without decoding it).
pub fn has_ttl(raw: &[u8]) -> bool {
    raw.get(2..10).is_some_and(|e| e != [0u8; 8])
}

/// Reads just the version and kind of an encoded record (compaction filter hot path).
pub fn peek_version(raw: &[u8]) -> Option<(KeyKind, u64)> {
    let kind = KeyKind::from_u8(*raw.first()?)?;
    if !kind.is_collection() {
        return Some((kind, 0));
    }
    Some((kind, read_u64(raw.get(10..18)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let s = Meta::string(Bytes::from_static(b"hello"), 123);
        assert_eq!(Meta::decode(&s.encode()).unwrap(), s);
        let h = Meta::collection(KeyKind::List, 9, 3, Bytes::from_static(&[1, 2]), 0);
        assert_eq!(Meta::decode(&h.encode()).unwrap(), h);
        assert_eq!(peek_version(&h.encode()), Some((KeyKind::List, 9)));
        assert!(Meta::decode(&[9, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Meta::decode(&[2, 1, 0]).is_err());
    }
}
