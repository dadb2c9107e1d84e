//! Set commands (SADD, SINTER, SPOP, SSCAN, ...) with Redis 7.0 semantics.
//! A set is a header plus one empty-valued sub-key per member.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use kiwi_resp::Frame;
use kiwi_storage::{KeyKind, Meta};

use crate::args::{int, int_or, is};
use crate::coll::{self, parse_random_count, parse_scan, scan_batch, scan_reply};
use crate::error::{err, syntax, CmdResult};
use crate::exec::Ctx;
use crate::notify;

const SET: KeyKind = KeyKind::Set;

/// Members of the set at `key` (none if missing), WRONGTYPE checked.
fn members(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult<Option<BTreeSet<Bytes>>> {
    let Some(meta) = ctx.get_coll(key, SET)? else {
        return Ok(None);
    };
    Ok(Some(member_set(ctx, key, &meta)?))
}

fn member_set(ctx: &Ctx<'_>, key: &[u8], meta: &Meta) -> CmdResult<BTreeSet<Bytes>> {
    Ok(ctx.elems(key, meta)?.into_iter().map(|(m, _)| m).collect())
}

fn set_frame(items: impl IntoIterator<Item = Bytes>) -> Frame {
    Frame::Set(items.into_iter().map(Frame::Bulk).collect())
}

/// Adds `new` members to the set at `key` in `b`; returns how many were new.
fn add_members<'m>(
    ctx: &mut Ctx<'_>,
    b: &mut kiwi_storage::Batch,
    key: &[u8],
    existing: Option<Meta>,
    new: impl Iterator<Item = &'m [u8]>,
) -> CmdResult<u64> {
    let is_new = existing.is_none();
    let mut meta = coll::open(ctx, b, SET, existing);
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut added = 0;
    for m in new {
        if seen.insert(m) && (is_new || ctx.elem(&meta, key, m)?.is_none()) {
            coll::put_elem(ctx, b, key, &meta, m, b"")?;
            added += 1;
        }
    }
    meta.size += added;
    coll::store(ctx, b, ctx.db, key, &meta)?;
    Ok(added)
}

pub fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let existing = ctx.peek_coll(&args[1], SET)?;
    let existed = existing.is_some();
    let mut b = ctx.engine.batch();
    let added = add_members(
        ctx,
        &mut b,
        &args[1],
        existing,
        args[2..].iter().map(|m| m.as_ref()),
    )?;
    if added > 0 {
        ctx.commit(b, added)?;
        ctx.notify_new(existed, &args[1]);
        ctx.notify(notify::SET, "sadd", &args[1]);
    }
    Ok(Frame::Integer(added as i64))
}

pub fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(meta) = ctx.peek_coll(&args[1], SET)? else {
        return Ok(Frame::Integer(0));
    };
    let removed = coll::remove_elems(ctx, &args[1], meta, &args[2..], notify::SET, "srem")?;
    Ok(Frame::Integer(removed as i64))
}

pub fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(set_frame(members(ctx, &args[1])?.unwrap_or_default()))
}

pub fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let found = match ctx.get_coll(&args[1], SET)? {
        Some(m) => ctx.elem(&m, &args[1], &args[2])?.is_some(),
        None => false,
    };
    Ok(Frame::Integer(found as i64))
}

pub fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let meta = ctx.get_coll(&args[1], SET)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for m in &args[2..] {
        let found = match &meta {
            Some(meta) => ctx.elem(meta, &args[1], m)?.is_some(),
            None => false,
        };
        out.push(Frame::Integer(found as i64));
    }
    Ok(Frame::Array(out))
}

pub fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let size = ctx.get_coll(&args[1], SET)?.map_or(0, |m| m.size);
    Ok(Frame::Integer(size as i64))
}

pub fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let count = match args.len() {
        2 => None,
        3 => {
            let n = int(&args[2])?;
            if n < 0 {
                return Err(err("ERR value is out of range, must be positive"));
            }
            Some(n as u64)
        }
        _ => return Err(syntax()),
    };
    let Some(mut meta) = ctx.peek_coll(key, SET)? else {
        return Ok(if count.is_some() {
            Frame::Set(vec![])
        } else {
            Frame::Null
        });
    };
    if count == Some(0) {
        return Ok(Frame::Set(vec![]));
    }
    let all: Vec<Bytes> = member_set(ctx, key, &meta)?.into_iter().collect();
    let want = count.unwrap_or(1).min(all.len() as u64) as usize;
    let picks = coll::random_picks(&mut ctx.rng, all.len(), want, false);
    let mut b = ctx.engine.batch();
    let mut popped = Vec::with_capacity(picks.len());
    for i in picks {
        coll::del_elem(ctx, &mut b, key, &meta, &all[i])?;
        popped.push(all[i].clone());
    }
    meta.size -= popped.len() as u64;
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, popped.len() as u64)?;
    ctx.notify(notify::SET, "spop", key);
    ctx.notify_emptied(meta.size, key);
    Ok(match count {
        None => Frame::bulk_opt(popped.pop()),
        Some(_) => set_frame(popped),
    })
}

pub fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let count = match args.len() {
        2 => None,
        3 => Some(parse_random_count(&args[2])?),
        _ => return Err(syntax()),
    };
    let Some(meta) = ctx.get_coll(key, SET)? else {
        return Ok(if count.is_some() {
            Frame::Array(vec![])
        } else {
            Frame::Null
        });
    };
    let all: Vec<Bytes> = member_set(ctx, key, &meta)?.into_iter().collect();
    let Some((count, repeats)) = count else {
        let i = ctx.rng.index(all.len());
        return Ok(Frame::bulk_opt(all.get(i).cloned()));
    };
    let picks = coll::random_picks(&mut ctx.rng, all.len(), count, repeats);
    Ok(Frame::Array(
        picks
            .into_iter()
            .map(|i| Frame::Bulk(all[i].clone()))
            .collect(),
    ))
}

pub fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let Some(mut src_meta) = ctx.peek(src)? else {
        return Ok(Frame::Integer(0));
    };
    let dst_meta = ctx.peek(dst)?;
    if src_meta.kind != SET || dst_meta.as_ref().is_some_and(|m| m.kind != SET) {
        return Err(crate::error::wrongtype());
    }
    let present = ctx.elem(&src_meta, src, member)?.is_some();
    if src == dst || !present {
        return Ok(Frame::Integer(present as i64));
    }
    let mut b = ctx.engine.batch();
    coll::del_elem(ctx, &mut b, src, &src_meta, member)?;
    src_meta.size -= 1;
    coll::store(ctx, &mut b, ctx.db, src, &src_meta)?;
    let dst_existed = dst_meta.is_some();
    let added = add_members(ctx, &mut b, dst, dst_meta, std::iter::once(member.as_ref()))?;
    ctx.commit(b, 1)?;
    ctx.notify(notify::SET, "srem", src);
    ctx.notify_emptied(src_meta.size, src);
    ctx.notify_new(dst_existed, dst);
    if added > 0 {
        ctx.notify(notify::SET, "sadd", dst);
    }
    Ok(Frame::Integer(1))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// Reads every input set (all types checked first, as Redis does; a missing
/// key is an empty set) and combines them.
fn combine(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Algebra) -> CmdResult<BTreeSet<Bytes>> {
    let mut metas = Vec::with_capacity(keys.len());
    for k in keys {
        metas.push(ctx.get_coll(k, SET)?);
    }
    if op == Algebra::Inter && metas.iter().any(Option::is_none) {
        return Ok(BTreeSet::new());
    }
    let mut result: Option<BTreeSet<Bytes>> = None;
    for (k, meta) in keys.iter().zip(&metas) {
        let set = match meta {
            Some(m) => member_set(ctx, k, m)?,
            None => BTreeSet::new(),
        };
        result = Some(match (result, op) {
            (None, _) => set,
            (Some(acc), Algebra::Inter) => acc.intersection(&set).cloned().collect(),
            (Some(mut acc), Algebra::Union) => {
                acc.extend(set);
                acc
            }
            (Some(acc), Algebra::Diff) => acc.difference(&set).cloned().collect(),
        });
        if op != Algebra::Union && result.as_ref().is_some_and(BTreeSet::is_empty) {
            break;
        }
    }
    Ok(result.unwrap_or_default())
}

/// SINTER, SUNION, SDIFF (`store`: their STORE forms, destination in args[1]).
fn algebra(ctx: &mut Ctx<'_>, args: &[Bytes], op: Algebra, store: bool) -> CmdResult {
    let keys = if store { &args[2..] } else { &args[1..] };
    let result = combine(ctx, keys, op)?;
    if !store {
        return Ok(set_frame(result));
    }
    let dst = &args[1];
    let mut b = ctx.engine.batch();
    let existed = ctx.peek(dst)?.is_some();
    ctx.engine.delete(&mut b, ctx.db, dst)?;
    let n = result.len() as u64;
    if n > 0 {
        add_members(ctx, &mut b, dst, None, result.iter().map(|m| m.as_ref()))?;
    }
    ctx.commit(b, 1)?;
    if n > 0 {
        ctx.notify_new(existed, dst);
        let event = match op {
            Algebra::Inter => "sinterstore",
            Algebra::Union => "sunionstore",
            Algebra::Diff => "sdiffstore",
        };
        ctx.notify(notify::SET, event, dst);
    } else if existed {
        ctx.notify(notify::GENERIC, "del", dst);
    }
    Ok(Frame::Integer(n as i64))
}

pub fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Inter, false)
}
pub fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Inter, true)
}
pub fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Union, false)
}
pub fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Union, true)
}
pub fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Diff, false)
}
pub fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    algebra(ctx, args, Algebra::Diff, true)
}

/// Parses `numkeys key [key ...]` starting at `args[at]`; returns the keys
/// and the index after them.
pub fn numkeys(args: &[Bytes], at: usize) -> CmdResult<(&[Bytes], usize)> {
    let bad = || err("ERR numkeys should be greater than 0");
    let n = int_or(&args[at], bad)?;
    if n <= 0 {
        return Err(bad());
    }
    let end = (at as u64 + 1).saturating_add(n as u64);
    if end > args.len() as u64 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok((&args[at + 1..end as usize], end as usize))
}

pub fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, mut i) = numkeys(args, 1)?;
    let mut limit = 0u64;
    while i < args.len() {
        if is(&args[i], "LIMIT") && i + 1 < args.len() {
            limit = coll::parse_card_limit(&args[i + 1])?;
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let n = combine(ctx, keys, Algebra::Inter)?.len() as u64;
    Ok(Frame::Integer(
        if limit > 0 { n.min(limit) } else { n } as i64
    ))
}

pub fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sa = parse_scan(args)?;
    let Some(meta) = ctx.get_coll(&args[1], SET)? else {
        return Ok(scan_reply(0, vec![]));
    };
    let mut items = Vec::new();
    let next = scan_batch(ctx, &args[1], &meta, b"", &sa, |m, _| {
        items.push(Frame::Bulk(Bytes::copy_from_slice(m)));
    })?;
    Ok(scan_reply(next, items))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("sadd", sadd);
    r.handle("srem", srem);
    r.handle("smembers", smembers);
    r.handle("sismember", sismember);
    r.handle("smismember", smismember);
    r.handle("scard", scard);
    r.handle("spop", spop);
    r.handle("srandmember", srandmember);
    r.handle("smove", smove);
    r.handle("sinter", sinter);
    r.handle("sintercard", sintercard);
    r.handle("sinterstore", sinterstore);
    r.handle("sunion", sunion);
    r.handle("sunionstore", sunionstore);
    r.handle("sdiff", sdiff);
    r.handle("sdiffstore", sdiffstore);
    r.handle("sscan", sscan);
}
