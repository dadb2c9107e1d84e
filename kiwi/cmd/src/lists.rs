//! List commands (LPUSH, LRANGE, LMOVE, LPOS, ...) with Redis 7.0 semantics.
//!
//! A list is a header holding `head` (the seq of element 0) and `size`, and
//! one sub-key per element at seq `head + index`. Pushes and pops at either
//! end touch one sub-key, LINDEX/LSET are point reads and writes, LRANGE is
//! one range scan; only LINSERT and LREM rewrite (the shorter side of) the list.

use bytes::Bytes;
use kiwi_resp::Frame;
use kiwi_storage::encoding::{list_head, list_payload, list_sub};
use kiwi_storage::{Batch, KeyKind, Meta, StorageError};

use crate::args::{int, int_or, is};
use crate::coll;
use crate::error::{err, no_such_key, syntax, wrongtype, CmdResult};
use crate::exec::Ctx;
use crate::notify;

const LIST: KeyKind = KeyKind::List;

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub fn parse(arg: &[u8]) -> CmdResult<End> {
        if is(arg, "LEFT") {
            Ok(End::Left)
        } else if is(arg, "RIGHT") {
            Ok(End::Right)
        } else {
            Err(syntax())
        }
    }

    /// The keyspace event of a push at this end.
    pub fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    /// The keyspace event of a pop at this end.
    pub fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

/// A list header being read or modified by one command.
pub struct List {
    pub meta: Meta,
    pub head: u64,
}

impl List {
    pub fn from_meta(meta: Meta) -> CmdResult<List> {
        let head = list_head(&meta.payload).ok_or(StorageError::Corrupt("list header"))?;
        Ok(List { meta, head })
    }

    pub fn len(&self) -> u64 {
        self.meta.size
    }

    pub fn is_empty(&self) -> bool {
        self.meta.size == 0
    }

    fn seq(&self, index: u64) -> [u8; 8] {
        debug_assert!(index <= self.meta.size, "list index {index} beyond its end");
        list_sub(self.head.wrapping_add(index))
    }

    /// The element at `index` (< len).
    pub fn get(&self, ctx: &Ctx<'_>, db: usize, key: &[u8], index: u64) -> CmdResult<Bytes> {
        ctx.engine
            .get_sub_key(db, key, self.meta.version, &self.seq(index))?
            .ok_or_else(|| StorageError::Corrupt("list element missing").into())
    }

    /// Elements `start..=stop` (both < len) in order, or reversed.
    pub fn range(
        &self,
        ctx: &Ctx<'_>,
        db: usize,
        key: &[u8],
        start: u64,
        stop: u64,
        reverse: bool,
    ) -> CmdResult<Vec<Bytes>> {
        if start > stop {
            return Ok(Vec::new());
        }
        let mut arena = crate::coll::Arena::with_capacity(stop - start + 1);
        let upper = self.seq(stop + 1);
        ctx.engine.visit_sub_keys(
            db,
            key,
            self.meta.version,
            &self.seq(start),
            Some(&upper),
            reverse,
            |_, v| {
                arena.push(v);
                true
            },
        )?;
        if arena.len() as u64 != stop - start + 1 {
            return Err(StorageError::Corrupt("list elements missing").into());
        }
        Ok(arena.finish())
    }

    pub fn push(
        &mut self,
        ctx: &Ctx<'_>,
        b: &mut Batch,
        db: usize,
        key: &[u8],
        end: End,
        value: &[u8],
    ) -> CmdResult<()> {
        let index = match end {
            End::Left => {
                self.head = self.head.wrapping_sub(1);
                0
            }
            End::Right => self.meta.size,
        };
        self.meta.size += 1;
        ctx.engine
            .put_sub_key(b, db, key, self.meta.version, &self.seq(index), value)?;
        Ok(())
    }

    /// Removes up to `count` elements from `end`, returned in pop order.
    pub fn pop(
        &mut self,
        ctx: &Ctx<'_>,
        b: &mut Batch,
        db: usize,
        key: &[u8],
        end: End,
        count: u64,
    ) -> CmdResult<Vec<Bytes>> {
        let n = count.min(self.meta.size);
        if n == 0 {
            return Ok(Vec::new());
        }
        let (start, stop) = match end {
            End::Left => (0, n - 1),
            End::Right => (self.meta.size - n, self.meta.size - 1),
        };
        // A single pop is a point read; a seek costs more than a get.
        let items = if n == 1 {
            vec![self.get(ctx, db, key, start)?]
        } else {
            self.range(ctx, db, key, start, stop, end == End::Right)?
        };
        for i in start..=stop {
            ctx.engine
                .delete_sub_key(b, db, key, self.meta.version, &self.seq(i))?;
        }
        if end == End::Left {
            self.head = self.head.wrapping_add(n);
        }
        self.meta.size -= n;
        Ok(items)
    }

    /// Replaces the whole content with `items` (LREM, LINSERT), rewriting only
    /// the positions that changed and deleting the surplus.
    fn rewrite(
        &mut self,
        ctx: &Ctx<'_>,
        b: &mut Batch,
        db: usize,
        key: &[u8],
        old: &[Bytes],
        items: &[Bytes],
    ) -> CmdResult<()> {
        for (i, item) in items.iter().enumerate() {
            if old.get(i) != Some(item) {
                ctx.engine
                    .put_sub_key(b, db, key, self.meta.version, &self.seq(i as u64), item)?;
            }
        }
        for i in items.len()..old.len() {
            ctx.engine
                .delete_sub_key(b, db, key, self.meta.version, &self.seq(i as u64))?;
        }
        self.meta.size = items.len() as u64;
        Ok(())
    }

    /// Writes the header back (deleting the key if the list is empty).
    pub fn store(&mut self, ctx: &Ctx<'_>, b: &mut Batch, db: usize, key: &[u8]) -> CmdResult<()> {
        self.meta.payload = list_payload(self.head);
        coll::store(ctx, b, db, key, &self.meta)
    }
}

impl Ctx<'_> {
    /// The live list at `key` (hit/miss counted), WRONGTYPE otherwise.
    pub fn get_list(&mut self, key: &[u8]) -> CmdResult<Option<List>> {
        self.get_coll(key, LIST)?.map(List::from_meta).transpose()
    }

    pub fn peek_list(&mut self, key: &[u8]) -> CmdResult<Option<List>> {
        self.peek_coll(key, LIST)?.map(List::from_meta).transpose()
    }
}

/// Normalizes Redis's (start, stop) range with negative indexes against
/// `len`; `None` if it selects nothing.
pub fn clamp_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as u64, stop.min(len - 1) as u64))
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX.
pub fn push(ctx: &mut Ctx<'_>, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let key = &args[1];
    let existing = ctx.peek_coll(key, LIST)?;
    if only_existing && existing.is_none() {
        return Ok(Frame::Integer(0));
    }
    let existed = existing.is_some();
    let mut b = ctx.engine.batch();
    let mut list = List::from_meta(coll::open(ctx, &mut b, LIST, existing))?;
    for v in &args[2..] {
        list.push(ctx, &mut b, ctx.db, key, end, v)?;
    }
    list.store(ctx, &mut b, ctx.db, key)?;
    ctx.commit(b, args.len() as u64 - 2)?;
    ctx.notify_new(existed, key);
    ctx.notify(notify::LIST, end.push_event(), key);
    Ok(Frame::Integer(list.len() as i64))
}

/// LPOP and RPOP.
pub fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    let key = &args[1];
    let count = match args.len() {
        2 => None,
        3 => {
            let bad = || err("ERR value is out of range, must be positive");
            let n = int_or(&args[2], bad)?;
            if n < 0 {
                return Err(bad());
            }
            Some(n as u64)
        }
        _ => return Err(syntax()),
    };
    let Some(mut list) = ctx.peek_list(key)? else {
        return Ok(if count.is_some() {
            Frame::NullArray
        } else {
            Frame::Null
        });
    };
    if count == Some(0) {
        return Ok(Frame::Array(vec![]));
    }
    let mut b = ctx.engine.batch();
    let items = list.pop(ctx, &mut b, ctx.db, key, end, count.unwrap_or(1))?;
    list.store(ctx, &mut b, ctx.db, key)?;
    ctx.commit(b, items.len() as u64)?;
    ctx.notify(notify::LIST, end.pop_event(), key);
    ctx.notify_emptied(list.len(), key);
    Ok(match count {
        None => Frame::bulk_opt(items.into_iter().next()),
        Some(_) => Frame::Array(items.into_iter().map(Frame::Bulk).collect()),
    })
}

pub fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.get_list(&args[1])?.map_or(0, |l| l.len()) as i64,
    ))
}

/// Resolves a possibly negative index; `None` if out of range.
fn index_of(index: i64, len: u64) -> Option<u64> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as u64)
}

pub fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(list) = ctx.get_list(&args[1])? else {
        return Ok(Frame::Null);
    };
    let index = int(&args[2])?;
    Ok(match index_of(index, list.len()) {
        Some(i) => Frame::Bulk(list.get(ctx, ctx.db, &args[1], i)?),
        None => Frame::Null,
    })
}

pub fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int(&args[2])?, int(&args[3])?);
    let Some(list) = ctx.get_list(&args[1])? else {
        return Ok(Frame::Array(vec![]));
    };
    let Some((start, stop)) = clamp_range(start, stop, list.len()) else {
        return Ok(Frame::Array(vec![]));
    };
    let items = list.range(ctx, ctx.db, &args[1], start, stop, false)?;
    Ok(Frame::Array(items.into_iter().map(Frame::Bulk).collect()))
}

pub fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(list) = ctx.peek_list(key)? else {
        return Err(no_such_key());
    };
    let index = int(&args[2])?;
    let i = index_of(index, list.len()).ok_or_else(|| err("ERR index out of range"))?;
    let mut b = ctx.engine.batch();
    ctx.engine.put_sub_key(
        &mut b,
        ctx.db,
        key,
        list.meta.version,
        &list.seq(i),
        &args[3],
    )?;
    ctx.commit(b, 1)?;
    ctx.notify(notify::LIST, "lset", key);
    Ok(Frame::ok())
}

pub fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (start, stop) = (int(&args[2])?, int(&args[3])?);
    let Some(mut list) = ctx.peek_list(key)? else {
        return Ok(Frame::ok());
    };
    let len = list.len();
    let (left, right) = match clamp_range(start, stop, len) {
        Some((s, e)) => (s, len - e - 1),
        None => (len, 0),
    };
    let mut b = ctx.engine.batch();
    list.pop(ctx, &mut b, ctx.db, key, End::Left, left)?;
    list.pop(ctx, &mut b, ctx.db, key, End::Right, right)?;
    list.store(ctx, &mut b, ctx.db, key)?;
    ctx.commit(b, left + right)?;
    ctx.notify(notify::LIST, "ltrim", key);
    ctx.notify_emptied(list.len(), key);
    Ok(Frame::ok())
}

pub fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let count = int(&args[2])?;
    let target = &args[3];
    let Some(mut list) = ctx.peek_list(key)? else {
        return Ok(Frame::Integer(0));
    };
    let old = list.range(ctx, ctx.db, key, 0, list.len() - 1, false)?;
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut drop = vec![false; old.len()];
    let mut removed = 0u64;
    let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
        Box::new((0..old.len()).rev())
    } else {
        Box::new(0..old.len())
    };
    for i in order {
        if removed == limit {
            break;
        }
        if old[i] == *target {
            drop[i] = true;
            removed += 1;
        }
    }
    if removed == 0 {
        return Ok(Frame::Integer(0));
    }
    let kept: Vec<Bytes> = old
        .iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(v, _)| v.clone())
        .collect();
    let mut b = ctx.engine.batch();
    list.rewrite(ctx, &mut b, ctx.db, key, &old, &kept)?;
    list.store(ctx, &mut b, ctx.db, key)?;
    ctx.commit(b, removed)?;
    ctx.notify(notify::LIST, "lrem", key);
    ctx.notify_emptied(list.len(), key);
    Ok(Frame::Integer(removed as i64))
}

pub fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let after = if is(&args[2], "AFTER") {
        true
    } else if is(&args[2], "BEFORE") {
        false
    } else {
        return Err(syntax());
    };
    let (pivot, value) = (&args[3], &args[4]);
    let Some(mut list) = ctx.peek_list(key)? else {
        return Ok(Frame::Integer(0));
    };
    let old = list.range(ctx, ctx.db, key, 0, list.len() - 1, false)?;
    let Some(at) = old.iter().position(|v| v == pivot) else {
        return Ok(Frame::Integer(-1));
    };
    let at = at + after as usize;
    let mut b = ctx.engine.batch();
    if at < old.len() / 2 {
        // Closer to the head: move the head part one slot left.
        list.head = list.head.wrapping_sub(1);
        list.meta.size += 1;
        for (i, v) in old[..at].iter().enumerate() {
            ctx.engine.put_sub_key(
                &mut b,
                ctx.db,
                key,
                list.meta.version,
                &list.seq(i as u64),
                v,
            )?;
        }
        ctx.engine.put_sub_key(
            &mut b,
            ctx.db,
            key,
            list.meta.version,
            &list.seq(at as u64),
            value,
        )?;
    } else {
        let mut items = old.clone();
        items.insert(at, value.clone());
        list.rewrite(ctx, &mut b, ctx.db, key, &old, &items)?;
    }
    list.store(ctx, &mut b, ctx.db, key)?;
    ctx.commit(b, 1)?;
    ctx.notify(notify::LIST, "linsert", key);
    Ok(Frame::Integer(list.len() as i64))
}

pub fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let target = &args[2];
    let (mut rank, mut count, mut maxlen) = (1i64, None::<u64>, 0u64);
    let mut i = 3;
    while i < args.len() {
        let has_next = i + 1 < args.len();
        if is(&args[i], "RANK") && has_next {
            rank = int(&args[i + 1])?;
            if rank == 0 {
                return Err(err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if is(&args[i], "COUNT") && has_next {
            let bad = || err("ERR COUNT can't be negative");
            let n = int_or(&args[i + 1], bad)?;
            if n < 0 {
                return Err(bad());
            }
            count = Some(n as u64);
        } else if is(&args[i], "MAXLEN") && has_next {
            let bad = || err("ERR MAXLEN can't be negative");
            let n = int_or(&args[i + 1], bad)?;
            if n < 0 {
                return Err(bad());
            }
            maxlen = n as u64;
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    let Some(list) = ctx.get_list(key)? else {
        return Ok(if count.is_some() {
            Frame::Array(vec![])
        } else {
            Frame::Null
        });
    };
    let len = list.len();
    let reverse = rank < 0;
    // Redis compares `matches >= rank` with the negated rank; LONG_MIN stays
    // negative there, so it matches from the first hit.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let want = match count {
        Some(0) => u64::MAX,
        Some(n) => n,
        None => 1,
    };
    let mut found = Vec::new();
    let mut matches = 0u64;
    let mut index = 0u64;
    let upper = list.seq(len);
    ctx.engine.visit_sub_keys(
        ctx.db,
        key,
        list.meta.version,
        &list.seq(0),
        Some(&upper),
        reverse,
        |_, v| {
            if maxlen != 0 && index >= maxlen {
                return false;
            }
            if v == target.as_ref() {
                matches += 1;
                if matches > skip {
                    found.push(if reverse { len - index - 1 } else { index });
                    if found.len() as u64 >= want {
                        return false;
                    }
                }
            }
            index += 1;
            true
        },
    )?;
    Ok(match count {
        Some(_) => Frame::Array(
            found
                .into_iter()
                .map(|i| Frame::Integer(i as i64))
                .collect(),
        ),
        None => found
            .first()
            .map_or(Frame::Null, |&i| Frame::Integer(i as i64)),
    })
}

/// Pops one element from `src` at `from` and pushes it on `dst` at `to` in
/// one batch (LMOVE, RPOPLPUSH and their blocking forms). `None` if `src`
/// is missing; WRONGTYPE if either key holds another type.
pub fn move_element(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> CmdResult<Option<Bytes>> {
    let Some(mut src_list) = ctx.peek_list(src)? else {
        return Ok(None);
    };
    let dst_meta = ctx.peek(dst)?;
    if dst_meta.as_ref().is_some_and(|m| m.kind != LIST) {
        return Err(wrongtype());
    }
    let dst_existed = dst_meta.is_some();
    let mut b = ctx.engine.batch();
    let item = src_list
        .pop(ctx, &mut b, ctx.db, src, from, 1)?
        .pop()
        .ok_or(StorageError::Corrupt("live list is empty"))?;
    if src == dst {
        src_list.push(ctx, &mut b, ctx.db, src, to, &item)?;
        src_list.store(ctx, &mut b, ctx.db, src)?;
    } else {
        src_list.store(ctx, &mut b, ctx.db, src)?;
        let mut dst_list = List::from_meta(coll::open(ctx, &mut b, LIST, dst_meta))?;
        dst_list.push(ctx, &mut b, ctx.db, dst, to, &item)?;
        dst_list.store(ctx, &mut b, ctx.db, dst)?;
    }
    ctx.commit(b, 1)?;
    // Redis pushes on the destination before it reports the pop.
    ctx.notify_new(dst_existed, dst);
    ctx.notify(notify::LIST, to.push_event(), dst);
    ctx.notify(notify::LIST, from.pop_event(), src);
    ctx.notify_emptied(src_list.len(), src);
    Ok(Some(item))
}

pub fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    Ok(Frame::bulk_opt(move_element(
        ctx, &args[1], &args[2], from, to,
    )?))
}

pub fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::bulk_opt(move_element(
        ctx,
        &args[1],
        &args[2],
        End::Right,
        End::Left,
    )?))
}

/// Pops from the first non-empty list of `keys`: `[key, [elements]]`, or
/// `None` if all are empty.
pub fn mpop_first(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: End,
    count: u64,
) -> CmdResult<Option<Frame>> {
    for key in keys {
        let Some(mut list) = ctx.peek_list(key)? else {
            continue;
        };
        let mut b = ctx.engine.batch();
        let items = list.pop(ctx, &mut b, ctx.db, key, end, count)?;
        list.store(ctx, &mut b, ctx.db, key)?;
        ctx.commit(b, items.len() as u64)?;
        ctx.notify(notify::LIST, end.pop_event(), key);
        ctx.notify_emptied(list.len(), key);
        return Ok(Some(Frame::Array(vec![
            Frame::Bulk(key.clone()),
            Frame::Array(items.into_iter().map(Frame::Bulk).collect()),
        ])));
    }
    Ok(None)
}

pub fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = coll::parse_mpop(args, 1, End::parse)?;
    Ok(mpop_first(ctx, a.keys, a.from, a.count)?.unwrap_or(Frame::NullArray))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("lpush", |ctx, args| push(ctx, args, End::Left, false));
    r.handle("rpush", |ctx, args| push(ctx, args, End::Right, false));
    r.handle("lpushx", |ctx, args| push(ctx, args, End::Left, true));
    r.handle("rpushx", |ctx, args| push(ctx, args, End::Right, true));
    r.handle("lpop", |ctx, args| pop(ctx, args, End::Left));
    r.handle("rpop", |ctx, args| pop(ctx, args, End::Right));
    r.handle("llen", llen);
    r.handle("lindex", lindex);
    r.handle("lrange", lrange);
    r.handle("lset", lset);
    r.handle("ltrim", ltrim);
    r.handle("lrem", lrem);
    r.handle("linsert", linsert);
    r.handle("lpos", lpos);
    r.handle("lmove", lmove);
    r.handle("rpoplpush", rpoplpush);
    r.handle("lmpop", lmpop);
}
