//! What every collection command shares: typed lookups (WRONGTYPE), a new
//! incarnation with a fresh version, writing the header back (an emptied
//! collection disappears, as in Redis), the HSCAN/SSCAN/ZSCAN walk and
//! random picks (HRANDFIELD, SRANDMEMBER, SPOP, ZRANDMEMBER).

use bytes::{Bytes, BytesMut};
use kiwi_resp::Frame;
use kiwi_storage::encoding::{
    element_cursor, element_of, element_seek, element_sub, list_payload, LIST_INITIAL_HEAD,
};
use kiwi_storage::{Batch, KeyKind, Meta};

use crate::args::{int, is};
use crate::error::{err, syntax, wrongtype, CmdResult};
use crate::exec::Ctx;
use crate::glob;
use crate::rng::CmdRng;

impl Ctx<'_> {
    /// Live collection of `kind` at `key` (hit/miss counted); WRONGTYPE otherwise.
    pub fn get_coll(&mut self, key: &[u8], kind: KeyKind) -> CmdResult<Option<Meta>> {
        match self.lookup(key)? {
            Some(m) if m.kind != kind => Err(wrongtype()),
            other => Ok(other),
        }
    }

    /// [`Ctx::get_coll`] without hit/miss accounting (writes).
    pub fn peek_coll(&mut self, key: &[u8], kind: KeyKind) -> CmdResult<Option<Meta>> {
        self.peek_coll_in(self.db, key, kind)
    }

    pub fn peek_coll_in(
        &mut self,
        db: usize,
        key: &[u8],
        kind: KeyKind,
    ) -> CmdResult<Option<Meta>> {
        match self.peek_in(db, key)? {
            Some(m) if m.kind != kind => Err(wrongtype()),
            other => Ok(other),
        }
    }

    /// Value of one element (hash field, set member) of a collection.
    pub fn elem(&self, meta: &Meta, key: &[u8], element: &[u8]) -> CmdResult<Option<Bytes>> {
        Ok(self
            .engine
            .get_sub_key(self.db, key, meta.version, &element_sub(element))?)
    }

    /// Every (element, value) of a hash or set, in hash order.
    pub fn elems(&self, key: &[u8], meta: &Meta) -> CmdResult<Vec<(Bytes, Bytes)>> {
        let mut out = self.subs(self.db, key, meta, b"", None)?;
        for (sub, _) in out.iter_mut() {
            if sub.len() < 8 {
                return Err(kiwi_storage::StorageError::Corrupt("element sub-key").into());
            }
            *sub = sub.slice(8..);
        }
        Ok(out)
    }

    /// Every (sub-key, value) of a collection in `[lower, upper)`, in order.
    pub fn subs(
        &self,
        db: usize,
        key: &[u8],
        meta: &Meta,
        lower: &[u8],
        upper: Option<&[u8]>,
    ) -> CmdResult<Vec<(Bytes, Bytes)>> {
        let mut arena = Arena::with_capacity(meta.size);
        self.engine
            .visit_sub_keys(db, key, meta.version, lower, upper, false, |s, v| {
                arena.push(s);
                arena.push(v);
                true
            })?;
        let mut parts = arena.finish().into_iter();
        let mut out = Vec::with_capacity(parts.len() / 2);
        while let (Some(s), Some(v)) = (parts.next(), parts.next()) {
            out.push((s, v));
        }
        Ok(out)
    }
}

/// Gathers many small values into one buffer: each becomes a slice of a
/// single allocation, so a 100-element reply costs one malloc on the storage
/// thread and one free on the network thread, not a hundred of each.
pub struct Arena {
    buf: BytesMut,
    spans: Vec<(usize, usize)>,
}

impl Arena {
    /// An arena expecting about `elements` values (capped; it grows as needed).
    pub fn with_capacity(elements: u64) -> Arena {
        let n = elements.min(1 << 16) as usize;
        Arena {
            buf: BytesMut::with_capacity(n * 16),
            spans: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, value: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(value);
        self.spans.push((start, self.buf.len()));
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The values, in push order.
    pub fn finish(self) -> Vec<Bytes> {
        let buf = self.buf.freeze();
        self.spans
            .into_iter()
            .map(|(s, e)| buf.slice(s..e))
            .collect()
    }
}

/// The header to write `key` with: the live one, or a new empty incarnation
/// with a fresh version (so sub-keys of any dead incarnation stay invisible).
pub fn open(ctx: &Ctx<'_>, b: &mut Batch, kind: KeyKind, existing: Option<Meta>) -> Meta {
    match existing {
        Some(m) => {
            debug_assert_eq!(m.kind, kind, "callers check the type first");
            m
        }
        None => {
            let version = ctx.engine.next_version(b);
            let payload = match kind {
                KeyKind::List => list_payload(LIST_INITIAL_HEAD),
                _ => Bytes::new(),
            };
            Meta::collection(kind, version, 0, payload, 0)
        }
    }
}

/// Writes one element (hash field, set member) of the collection `meta`.
pub fn put_elem(
    ctx: &Ctx<'_>,
    b: &mut Batch,
    key: &[u8],
    meta: &Meta,
    element: &[u8],
    value: &[u8],
) -> CmdResult<()> {
    ctx.engine
        .put_sub_key(b, ctx.db, key, meta.version, &element_sub(element), value)?;
    Ok(())
}

pub fn del_elem(
    ctx: &Ctx<'_>,
    b: &mut Batch,
    key: &[u8],
    meta: &Meta,
    element: &[u8],
) -> CmdResult<()> {
    ctx.engine
        .delete_sub_key(b, ctx.db, key, meta.version, &element_sub(element))?;
    Ok(())
}

/// Writes the header of `key` back; an empty collection is deleted, as Redis
/// never keeps empty aggregates.
pub fn store(ctx: &Ctx<'_>, b: &mut Batch, db: usize, key: &[u8], meta: &Meta) -> CmdResult<()> {
    if meta.size == 0 {
        ctx.engine.delete(b, db, key)?;
    } else {
        ctx.engine.put_meta(b, db, key, meta)?;
    }
    Ok(())
}

/// Collections up to this size are returned by one *SCAN call with cursor 0,
/// as Redis does for its small (listpack/intset) encodings.
const SCAN_ALL_AT_ONCE_MAX: u64 = 128;
/// Most elements one *SCAN call visits, whatever COUNT says (bounds the reply).
const SCAN_MAX_VISITS: usize = 100_000;

/// Parsed `<cursor> [MATCH pattern] [COUNT count]` of HSCAN/SSCAN/ZSCAN.
pub struct ScanArgs {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
}

/// Parses `args[2..]` of a collection SCAN.
pub fn parse_scan(args: &[Bytes]) -> CmdResult<ScanArgs> {
    let cursor = crate::args::scan_cursor(&args[2])?;
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut i = 3;
    while i < args.len() {
        let has_next = i + 1 < args.len();
        if is(&args[i], "COUNT") && has_next {
            let n = int(&args[i + 1])?;
            if n < 1 {
                return Err(syntax());
            }
            out.count = (n as u64).min(SCAN_MAX_VISITS as u64) as usize;
        } else if is(&args[i], "MATCH") && has_next {
            out.pattern = Some(args[i + 1].clone()).filter(|p| p.as_ref() != b"*");
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    Ok(out)
}

/// One batch of a collection SCAN over the hash-ordered element records
/// that follow `tag` (empty for hashes and sets, `'m'` for zset members).
/// `emit` gets (element, value) for elements matching the pattern. Returns
/// the next cursor (0 when done). The cursor is the element hash to resume
/// at, exactly like SCAN over keys: no server state, valid across writes,
/// and an element present for the whole iteration is never missed.
pub fn scan_batch(
    ctx: &Ctx<'_>,
    key: &[u8],
    meta: &Meta,
    tag: &[u8],
    sa: &ScanArgs,
    mut emit: impl FnMut(&[u8], &[u8]),
) -> CmdResult<u64> {
    // Like Redis's small encodings: everything at once, whatever the cursor.
    let small = meta.size <= SCAN_ALL_AT_ONCE_MAX;
    let (limit, start) = if small {
        (usize::MAX, 0)
    } else {
        (sa.count, sa.cursor)
    };
    let mut lower = tag.to_vec();
    lower.extend_from_slice(&element_seek(start));
    let upper = tag_successor(tag);
    let mut visited = 0usize;
    let mut last_cursor: Option<u64> = None;
    let mut next = 0u64;
    let mut corrupt = false;
    ctx.engine.visit_sub_keys(
        ctx.db,
        key,
        meta.version,
        &lower,
        upper.as_deref(),
        false,
        |sub, value| {
            let record = &sub[tag.len()..];
            let (Some(cursor), Some(element)) = (element_cursor(record), element_of(record)) else {
                corrupt = true;
                return false;
            };
            // Never split elements sharing a hash across two calls.
            if visited >= limit && last_cursor != Some(cursor) {
                next = cursor;
                return false;
            }
            visited += 1;
            last_cursor = Some(cursor);
            if sa
                .pattern
                .as_ref()
                .is_none_or(|p| glob::matches(p, element, false))
            {
                emit(element, value);
            }
            true
        },
    )?;
    if corrupt {
        return Err(kiwi_storage::StorageError::Corrupt("element sub-key").into());
    }
    debug_assert!(next == 0 || next > start, "scan cursors only move forward");
    Ok(next)
}

/// The smallest byte string above every string starting with `tag`, or
/// `None` for the empty tag (no bound).
fn tag_successor(tag: &[u8]) -> Option<Vec<u8>> {
    let mut out = tag.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// The `[cursor, [elements...]]` reply of a collection SCAN.
pub fn scan_reply(next: u64, items: Vec<Frame>) -> Frame {
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(items)])
}

/// Largest |count| HRANDFIELD/SRANDMEMBER/ZRANDMEMBER accept with a negative
/// count: Redis streams any amount; Kiwi builds replies in memory, so it
/// bounds them (docs/compatibility.md).
pub const RANDOM_COUNT_MAX: u64 = 1 << 24;

/// Indexes below `len` for a random pick of `count` elements: with
/// repetition (a negative COUNT), or distinct (all of them when `count >= len`).
pub fn random_picks(rng: &mut CmdRng, len: usize, count: usize, repeats: bool) -> Vec<usize> {
    if repeats {
        (0..count).map(|_| rng.index(len)).collect()
    } else if count >= len {
        (0..len).collect()
    } else {
        random_distinct_indexes(rng, len, count)
    }
}

/// `count` distinct indexes below `len` (`count < len`), in ascending order.
fn random_distinct_indexes(rng: &mut CmdRng, len: usize, count: usize) -> Vec<usize> {
    debug_assert!(count < len);
    // Floyd's algorithm: exactly `count` draws, no rejection loop.
    let mut chosen = std::collections::BTreeSet::new();
    for j in (len - count)..len {
        let t = rng.index(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// Parses the count of HRANDFIELD/SRANDMEMBER/ZRANDMEMBER: (count, allow repeats).
pub fn parse_random_count(arg: &[u8]) -> CmdResult<(usize, bool)> {
    let n = int(arg)?;
    if n == i64::MIN {
        return Err(err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let abs = n.unsigned_abs();
    if n < 0 && abs > RANDOM_COUNT_MAX {
        return Err(err("ERR value is out of range"));
    }
    Ok((abs.min(usize::MAX as u64) as usize, n < 0))
}

/// Removes the present, distinct `elements` of a hash or set (HDEL, SREM,
/// whose keyspace event is `event` of `class`); returns how many were
/// removed. An emptied collection disappears.
pub fn remove_elems(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    mut meta: Meta,
    elements: &[Bytes],
    class: u32,
    event: &'static str,
) -> CmdResult<u64> {
    let mut b = ctx.engine.batch();
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    let mut removed = 0u64;
    for e in elements {
        if seen.insert(e) && ctx.elem(&meta, key, e)?.is_some() {
            del_elem(ctx, &mut b, key, &meta, e)?;
            removed += 1;
        }
    }
    if removed > 0 {
        meta.size -= removed;
        store(ctx, &mut b, ctx.db, key, &meta)?;
        ctx.commit(b, removed)?;
        ctx.notify(class, event, key);
        ctx.notify_emptied(meta.size, key);
    }
    Ok(removed)
}

/// Parsed `numkeys key... <where> [COUNT n]` of LMPOP/ZMPOP and their
/// blocking forms; `W` is the parsed `<where>` (LEFT|RIGHT, MIN|MAX).
pub struct MpopArgs<'a, W> {
    pub keys: &'a [Bytes],
    pub from: W,
    pub count: u64,
}

/// Parses MPOP arguments with numkeys at `args[numkeys_at]`, as Redis's
/// `mpopGenericCommand` does (errors and their order included).
pub fn parse_mpop<W>(
    args: &[Bytes],
    numkeys_at: usize,
    parse_where: impl FnOnce(&[u8]) -> CmdResult<W>,
) -> CmdResult<MpopArgs<'_, W>> {
    let bad = || err("ERR numkeys should be greater than 0");
    let n = crate::args::int_or(&args[numkeys_at], bad)?;
    if n <= 0 {
        return Err(bad());
    }
    let where_at = (numkeys_at as u64 + 1).saturating_add(n as u64);
    if where_at >= args.len() as u64 {
        return Err(syntax());
    }
    let where_at = where_at as usize;
    let from = parse_where(&args[where_at])?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && is(&args[i], "COUNT") && i + 1 < args.len() {
            let bad = || err("ERR count should be greater than 0");
            let c = crate::args::int_or(&args[i + 1], bad)?;
            if c <= 0 {
                return Err(bad());
            }
            count = Some(c as u64);
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    Ok(MpopArgs {
        keys: &args[numkeys_at + 1..where_at],
        from,
        count: count.unwrap_or(1),
    })
}

/// Parses the argument of a `LIMIT` option of SINTERCARD/ZINTERCARD.
pub fn parse_card_limit(arg: &[u8]) -> CmdResult<u64> {
    let bad = || err("ERR LIMIT can't be negative");
    let n = crate::args::int_or(arg, bad)?;
    if n < 0 {
        return Err(bad());
    }
    Ok(n as u64)
}
