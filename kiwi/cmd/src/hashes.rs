//! Hash commands (HSET, HGET, HINCRBY, HSCAN, ...) with Redis 7.0 semantics.
//! A hash is a header plus one sub-key per field (`kiwi_storage::encoding`).

use std::collections::HashSet;

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::KeyKind;

use crate::args::is;
use crate::coll::{self, parse_random_count, parse_scan, scan_batch, scan_reply};
use crate::error::{err, not_float, overflow, syntax, wrong_arity, CmdResult};
use crate::exec::Ctx;
use crate::longdouble::LongDouble;
use crate::notify;

const HASH: KeyKind = KeyKind::Hash;

/// HSET and HMSET (`name` is the canonical command name, for the arity error).
pub fn hset(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(wrong_arity(name));
    }
    let key = &args[1];
    let existing = ctx.peek_coll(key, HASH)?;
    let is_new = existing.is_none();
    let mut b = ctx.engine.batch();
    let mut meta = coll::open(ctx, &mut b, HASH, existing);
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut added = 0i64;
    for pair in args[2..].chunks(2) {
        let (field, value) = (&pair[0], &pair[1]);
        if seen.insert(field) && (is_new || ctx.elem(&meta, key, field)?.is_none()) {
            added += 1;
        }
        coll::put_elem(ctx, &mut b, key, &meta, field, value)?;
    }
    meta.size += added as u64;
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, (args.len() as u64 - 2) / 2)?;
    ctx.notify_new(!is_new, key);
    ctx.notify(notify::HASH, "hset", key);
    Ok(if name == "hmset" {
        Frame::ok()
    } else {
        Frame::Integer(added)
    })
}

pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let existing = ctx.peek_coll(key, HASH)?;
    if let Some(m) = &existing {
        if ctx.elem(m, key, &args[2])?.is_some() {
            return Ok(Frame::Integer(0));
        }
    }
    let existed = existing.is_some();
    let mut b = ctx.engine.batch();
    let mut meta = coll::open(ctx, &mut b, HASH, existing);
    coll::put_elem(ctx, &mut b, key, &meta, &args[2], &args[3])?;
    meta.size += 1;
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, 1)?;
    ctx.notify_new(existed, key);
    ctx.notify(notify::HASH, "hset", key);
    Ok(Frame::Integer(1))
}

pub fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(meta) = ctx.get_coll(&args[1], HASH)? else {
        return Ok(Frame::Null);
    };
    Ok(Frame::bulk_opt(ctx.elem(&meta, &args[1], &args[2])?))
}

pub fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let meta = ctx.get_coll(&args[1], HASH)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for field in &args[2..] {
        let v = match &meta {
            Some(m) => ctx.elem(m, &args[1], field)?,
            None => None,
        };
        out.push(Frame::bulk_opt(v));
    }
    Ok(Frame::Array(out))
}

/// Every (field, value) of the hash at `key`, or none if it does not exist.
fn fields(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult<Vec<(Bytes, Bytes)>> {
    match ctx.get_coll(key, HASH)? {
        Some(m) => ctx.elems(key, &m),
        None => Ok(Vec::new()),
    }
}

pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = fields(ctx, &args[1])?;
    Ok(Frame::Map(
        pairs
            .into_iter()
            .map(|(f, v)| (Frame::Bulk(f), Frame::Bulk(v)))
            .collect(),
    ))
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = fields(ctx, &args[1])?;
    Ok(Frame::Array(
        pairs.into_iter().map(|(f, _)| Frame::Bulk(f)).collect(),
    ))
}

pub fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = fields(ctx, &args[1])?;
    Ok(Frame::Array(
        pairs.into_iter().map(|(_, v)| Frame::Bulk(v)).collect(),
    ))
}

pub fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let size = ctx.get_coll(&args[1], HASH)?.map_or(0, |m| m.size);
    Ok(Frame::Integer(size as i64))
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = match ctx.get_coll(&args[1], HASH)? {
        Some(m) => ctx.elem(&m, &args[1], &args[2])?.map_or(0, |v| v.len()),
        None => 0,
    };
    Ok(Frame::Integer(len as i64))
}

pub fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let found = match ctx.get_coll(&args[1], HASH)? {
        Some(m) => ctx.elem(&m, &args[1], &args[2])?.is_some(),
        None => false,
    };
    Ok(Frame::Integer(found as i64))
}

pub fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(meta) = ctx.peek_coll(&args[1], HASH)? else {
        return Ok(Frame::Integer(0));
    };
    let removed = coll::remove_elems(ctx, &args[1], meta, &args[2..], notify::HASH, "hdel")?;
    Ok(Frame::Integer(removed as i64))
}

/// Writes one field, creating the hash if needed (HINCRBY, HINCRBYFLOAT,
/// whose keyspace event is `event`).
fn put_field(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    existing: Option<kiwi_storage::Meta>,
    field_existed: bool,
    field: &[u8],
    value: &[u8],
    event: &'static str,
) -> CmdResult<()> {
    let existed = existing.is_some();
    let mut b = ctx.engine.batch();
    let mut meta = coll::open(ctx, &mut b, HASH, existing);
    coll::put_elem(ctx, &mut b, key, &meta, field, value)?;
    if !field_existed {
        meta.size += 1;
    }
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, 1)?;
    ctx.notify_new(existed, key);
    ctx.notify(notify::HASH, event, key);
    Ok(())
}

pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let by = crate::args::int(&args[3])?;
    let existing = ctx.peek_coll(key, HASH)?;
    let current = match &existing {
        Some(m) => ctx.elem(m, key, field)?,
        None => None,
    };
    let old = match &current {
        Some(v) => kiwi_resp::request::parse_i64(v)
            .ok_or_else(|| err("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = old.checked_add(by).ok_or_else(overflow)?;
    put_field(
        ctx,
        key,
        existing,
        current.is_some(),
        field,
        new.to_string().as_bytes(),
        "hincrby",
    )?;
    Ok(Frame::Integer(new))
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let by = match LongDouble::parse(&args[3]) {
        None => return Err(not_float()),
        Some(Err(_)) => return Err(err("ERR value is NaN or Infinity")),
        Some(Ok(v)) => v,
    };
    let existing = ctx.peek_coll(key, HASH)?;
    let current = match &existing {
        Some(m) => ctx.elem(m, key, field)?,
        None => None,
    };
    let old = match &current {
        Some(v) => match LongDouble::parse(v) {
            Some(Ok(v)) => v,
            _ => return Err(err("ERR hash value is not a float")),
        },
        None => LongDouble::parse(b"0")
            .and_then(|r| r.ok())
            .ok_or_else(not_float)?,
    };
    let new = old
        .plus(by)
        .ok_or_else(|| err("ERR increment would produce NaN or Infinity"))?;
    let text = Bytes::from(new.to_human_string());
    put_field(
        ctx,
        key,
        existing,
        current.is_some(),
        field,
        &text,
        "hincrbyfloat",
    )?;
    Ok(Frame::Bulk(text))
}

pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    if args.len() == 2 {
        let Some(meta) = ctx.get_coll(key, HASH)? else {
            return Ok(Frame::Null);
        };
        let all = ctx.elems(key, &meta)?;
        let i = ctx.rng.index(all.len());
        return Ok(Frame::bulk_opt(all.into_iter().nth(i).map(|(f, _)| f)));
    }
    let (count, repeats) = parse_random_count(&args[2])?;
    let with_values = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHVALUES") => true,
        _ => return Err(syntax()),
    };
    if repeats && with_values && count as u64 > i64::MAX as u64 / 2 {
        return Err(err("ERR value is out of range"));
    }
    let Some(meta) = ctx.get_coll(key, HASH)? else {
        return Ok(Frame::Array(vec![]));
    };
    let all = ctx.elems(key, &meta)?;
    let picks = coll::random_picks(&mut ctx.rng, all.len(), count, repeats);
    Ok(pairs_reply(
        ctx.proto,
        picks.into_iter().map(|i| all[i].clone()),
        with_values,
    ))
}

/// A list of (element, value) pairs as Redis replies them: elements only,
/// or with values flattened (RESP2) / as two-element arrays (RESP3).
pub fn pairs_reply(
    proto: Protocol,
    pairs: impl Iterator<Item = (Bytes, Bytes)>,
    with_values: bool,
) -> Frame {
    let mut out = Vec::new();
    for (f, v) in pairs {
        if !with_values {
            out.push(Frame::Bulk(f));
        } else if proto == Protocol::Resp3 {
            out.push(Frame::Array(vec![Frame::Bulk(f), Frame::Bulk(v)]));
        } else {
            out.push(Frame::Bulk(f));
            out.push(Frame::Bulk(v));
        }
    }
    Frame::Array(out)
}

pub fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sa = parse_scan(args)?;
    let Some(meta) = ctx.get_coll(&args[1], HASH)? else {
        return Ok(scan_reply(0, vec![]));
    };
    let mut items = Vec::new();
    let next = scan_batch(ctx, &args[1], &meta, b"", &sa, |f, v| {
        items.push(Frame::Bulk(Bytes::copy_from_slice(f)));
        items.push(Frame::Bulk(Bytes::copy_from_slice(v)));
    })?;
    Ok(scan_reply(next, items))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("hset", |ctx, args| hset(ctx, args, "hset"));
    r.handle("hmset", |ctx, args| hset(ctx, args, "hmset"));
    r.handle("hsetnx", hsetnx);
    r.handle("hget", hget);
    r.handle("hmget", hmget);
    r.handle("hgetall", hgetall);
    r.handle("hkeys", hkeys);
    r.handle("hvals", hvals);
    r.handle("hlen", hlen);
    r.handle("hstrlen", hstrlen);
    r.handle("hexists", hexists);
    r.handle("hdel", hdel);
    r.handle("hincrby", hincrby);
    r.handle("hincrbyfloat", hincrbyfloat);
    r.handle("hrandfield", hrandfield);
    r.handle("hscan", hscan);
}
