//! String commands (GET, SET and friends) with Redis 7.0 semantics.

use bytes::{Bytes, BytesMut};
use kiwi_resp::Frame;
use kiwi_storage::Meta;

use crate::args::{int, is, lower};
use crate::error::{
    err, invalid_expire, not_float, not_integer, overflow, string_too_long, syntax, wrong_arity,
    CmdResult,
};
use crate::exec::Ctx;
use crate::longdouble::LongDouble;
use crate::notify;

/// How a command changes the TTL of the key it writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the existing TTL (KEEPTTL, INCR, APPEND, SETRANGE).
    Keep,
    /// Absolute expiry in Unix ms.
    At(u64),
}

/// Parses an expiry amount as Redis's `getExpireMillisecondsOrReply`:
/// `unit_ms` is 1000 for seconds; `absolute` for EXAT/PXAT. Returns the
/// absolute expiry in ms.
pub fn expire_at(
    ctx: &Ctx<'_>,
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> CmdResult<u64> {
    let v = int(arg)?;
    if v <= 0 || (unit_ms == 1000 && v > i64::MAX / 1000) {
        return Err(invalid_expire(cmd));
    }
    let mut ms = v * unit_ms;
    if !absolute {
        ms = ms
            .checked_add(ctx.now_ms as i64)
            .ok_or_else(|| invalid_expire(cmd))?;
    }
    Ok(ms as u64)
}

pub(crate) fn put_string(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: Bytes,
    ttl: Ttl,
    existing: Option<&Meta>,
) -> CmdResult<()> {
    let expire_at_ms = match ttl {
        Ttl::Clear => 0,
        Ttl::Keep => existing.map(|m| m.expire_at_ms).unwrap_or(0),
        Ttl::At(at) => at,
    };
    let mut b = ctx.engine.batch();
    ctx.engine
        .put_meta(&mut b, ctx.db, key, &Meta::string(value, expire_at_ms))?;
    ctx.commit(b, 1)
}

pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::bulk_opt(
        ctx.get_string(&args[1])?.map(|m| m.payload),
    ))
}

/// An expiry option as written (EX/PX/EXAT/PXAT and its argument), parsed
/// after all options were accepted, as Redis does.
struct ExpireOpt<'a> {
    kind: &'static str,
    arg: &'a [u8],
}

impl ExpireOpt<'_> {
    fn parse(a: &[u8]) -> Option<&'static str> {
        ["EX", "PX", "EXAT", "PXAT"].into_iter().find(|k| is(a, k))
    }

    /// Accepts EX/PX/EXAT/PXAT at `args[*i]` (advancing past its argument).
    /// Repeating the same unit is allowed (the last wins), as in Redis; mixing
    /// units, or combining with `blocked` (KEEPTTL/PERSIST), is a syntax error.
    fn take<'a>(
        args: &'a [Bytes],
        i: &mut usize,
        blocked: bool,
        expire: &mut Option<ExpireOpt<'a>>,
    ) -> CmdResult<bool> {
        let Some(kind) = Self::parse(&args[*i]) else {
            return Ok(false);
        };
        if *i + 1 >= args.len() {
            return Ok(false);
        }
        if blocked || expire.as_ref().is_some_and(|e| e.kind != kind) {
            return Err(syntax());
        }
        *expire = Some(ExpireOpt {
            kind,
            arg: &args[*i + 1],
        });
        *i += 1;
        Ok(true)
    }

    fn resolve(&self, ctx: &Ctx<'_>, cmd: &str) -> CmdResult<u64> {
        let unit = if self.kind == "EX" || self.kind == "EXAT" {
            1000
        } else {
            1
        };
        expire_at(ctx, self.arg, unit, self.kind.ends_with("AT"), cmd)
    }
}

pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, value) = (&args[1], args[2].clone());
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expire: Option<ExpireOpt<'_>> = None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "NX") && !xx {
            nx = true;
        } else if is(a, "XX") && !nx {
            xx = true;
        } else if is(a, "GET") {
            get = true;
        } else if is(a, "KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else if !ExpireOpt::take(args, &mut i, keepttl, &mut expire)? {
            return Err(syntax());
        }
        i += 1;
    }
    let expire = match &expire {
        Some(e) => Some(e.resolve(ctx, "set")?),
        None => None,
    };
    let existing = if get {
        ctx.get_string(key)?
    } else {
        ctx.peek(key)?
    };
    let exists = existing.is_some();
    if (nx && exists) || (xx && !exists) {
        return Ok(if get {
            Frame::bulk_opt(existing.map(|m| m.payload))
        } else {
            Frame::Null
        });
    }
    let ttl = match (expire, keepttl) {
        (Some(at), _) => Ttl::At(at),
        (None, true) => Ttl::Keep,
        (None, false) => Ttl::Clear,
    };
    put_string(ctx, key, value, ttl, existing.as_ref())?;
    ctx.notify_new(exists, key);
    ctx.notify(notify::STRING, "set", key);
    if expire.is_some() {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    Ok(if get {
        Frame::bulk_opt(existing.map(|m| m.payload))
    } else {
        Frame::ok()
    })
}

pub fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.peek(&args[1])?.is_some() {
        return Ok(Frame::Integer(0));
    }
    put_string(ctx, &args[1], args[2].clone(), Ttl::Clear, None)?;
    ctx.notify_new(false, &args[1]);
    ctx.notify(notify::STRING, "set", &args[1]);
    Ok(Frame::Integer(1))
}

pub fn setex(ctx: &mut Ctx<'_>, args: &[Bytes], unit_ms: i64, cmd: &str) -> CmdResult {
    let at = expire_at(ctx, &args[2], unit_ms, false, cmd)?;
    // Only events need to know what was there (a read saved otherwise).
    let existed = ctx.notifying() && ctx.peek(&args[1])?.is_some();
    put_string(ctx, &args[1], args[3].clone(), Ttl::At(at), None)?;
    ctx.notify_new(existed, &args[1]);
    ctx.notify(notify::STRING, "set", &args[1]);
    ctx.notify(notify::GENERIC, "expire", &args[1]);
    Ok(Frame::ok())
}

pub fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let old = ctx.get_string(&args[1])?;
    put_string(ctx, &args[1], args[2].clone(), Ttl::Clear, old.as_ref())?;
    ctx.notify_new(old.is_some(), &args[1]);
    ctx.notify(notify::STRING, "set", &args[1]);
    Ok(Frame::bulk_opt(old.map(|m| m.payload)))
}

pub fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(old) = ctx.get_string(&args[1])? else {
        return Ok(Frame::Null);
    };
    let mut b = ctx.engine.batch();
    ctx.engine.delete(&mut b, ctx.db, &args[1])?;
    ctx.commit(b, 1)?;
    ctx.notify(notify::GENERIC, "del", &args[1]);
    Ok(Frame::Bulk(old.payload))
}

pub fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut persist = false;
    let mut expire: Option<ExpireOpt<'_>> = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "PERSIST") && expire.is_none() {
            persist = true;
        } else if !ExpireOpt::take(args, &mut i, persist, &mut expire)? {
            return Err(syntax());
        }
        i += 1;
    }
    // Redis looks the key up (and checks its type) before validating the expiry.
    let Some(meta) = ctx.get_string(key)? else {
        return Ok(Frame::Null);
    };
    let ttl = match &expire {
        Some(e) => Some(Ttl::At(e.resolve(ctx, "getex")?)),
        None if persist => Some(Ttl::Clear),
        None => None,
    };
    match ttl {
        Some(Ttl::At(at)) if at <= ctx.now_ms => {
            let mut b = ctx.engine.batch();
            ctx.engine.delete(&mut b, ctx.db, key)?;
            ctx.commit(b, 1)?;
            ctx.notify(notify::GENERIC, "del", key);
        }
        Some(Ttl::At(at)) => {
            put_string(ctx, key, meta.payload.clone(), Ttl::At(at), Some(&meta))?;
            ctx.notify(notify::GENERIC, "expire", key);
        }
        Some(Ttl::Clear) if meta.expire_at_ms != 0 => {
            put_string(ctx, key, meta.payload.clone(), Ttl::Clear, Some(&meta))?;
            ctx.notify(notify::GENERIC, "persist", key);
        }
        _ => {}
    }
    Ok(Frame::Bulk(meta.payload))
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        let v = ctx
            .lookup(key)?
            .filter(|m| m.kind == kiwi_storage::KeyKind::String);
        out.push(Frame::bulk_opt(v.map(|m| m.payload)));
    }
    Ok(Frame::Array(out))
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(wrong_arity(&lower(&args[0])));
    }
    // Which keys are new matters only to events (a read saved otherwise).
    let mut existed = Vec::new();
    if ctx.notifying() {
        for pair in args[1..].chunks(2) {
            existed.push(ctx.peek(&pair[0])?.is_some());
        }
    }
    let mut b = ctx.engine.batch();
    for pair in args[1..].chunks(2) {
        ctx.engine
            .put_meta(&mut b, ctx.db, &pair[0], &Meta::string(pair[1].clone(), 0))?;
    }
    ctx.commit(b, (args.len() / 2) as u64)?;
    for (i, pair) in args[1..].chunks(2).enumerate() {
        // A key named twice is new only the first time.
        let new = existed.get(i).is_some_and(|e| !e)
            && !args[1..].chunks(2).take(i).any(|p| p[0] == pair[0]);
        ctx.notify_new(!new, &pair[0]);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    Ok(Frame::ok())
}

pub fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(wrong_arity(&lower(&args[0])));
    }
    for pair in args[1..].chunks(2) {
        if ctx.peek(&pair[0])?.is_some() {
            return Ok(Frame::Integer(0));
        }
    }
    mset(ctx, args)?;
    Ok(Frame::Integer(1))
}

pub fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let existing = ctx.peek_string(&args[1])?;
    let old = existing
        .as_ref()
        .map(|m| m.payload.clone())
        .unwrap_or_default();
    let total = old.len() as u64 + args[2].len() as u64;
    if existing.is_some() && total > ctx.max_bulk_len() {
        return Err(string_too_long());
    }
    let mut v = BytesMut::with_capacity(total as usize);
    v.extend_from_slice(&old);
    v.extend_from_slice(&args[2]);
    put_string(ctx, &args[1], v.freeze(), Ttl::Keep, existing.as_ref())?;
    ctx.notify_new(existing.is_some(), &args[1]);
    ctx.notify(notify::STRING, "append", &args[1]);
    Ok(Frame::Integer(total as i64))
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.get_string(&args[1])?
            .map(|m| m.payload.len() as i64)
            .unwrap_or(0),
    ))
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes], negate: bool) -> CmdResult {
    let by = int(&args[2])?;
    let by = if negate {
        by.checked_neg()
            .ok_or_else(|| err("ERR decrement would overflow"))?
    } else {
        by
    };
    incr_by(ctx, &args[1], by)
}

pub fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let existing = ctx.peek_string(key)?;
    let current = match &existing {
        Some(m) => int(&m.payload).map_err(|_| not_integer())?,
        None => 0,
    };
    let next = current.checked_add(by).ok_or_else(overflow)?;
    put_string(
        ctx,
        key,
        Bytes::from(next.to_string()),
        Ttl::Keep,
        existing.as_ref(),
    )?;
    ctx.notify_new(existing.is_some(), key);
    ctx.notify(notify::STRING, "incrby", key);
    Ok(Frame::Integer(next))
}

pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let existing = ctx.peek_string(&args[1])?;
    let parse = |v: &[u8]| LongDouble::parse(v).ok_or_else(not_float);
    let nan_or_inf = || err("ERR increment would produce NaN or Infinity");
    let current = match &existing {
        Some(m) => parse(&m.payload)?,
        None => Ok(LongDouble::parse(b"0")
            .and_then(|r| r.ok())
            .ok_or_else(not_float)?),
    };
    let by = parse(&args[2])?;
    // An infinite operand makes an infinite (or NaN) sum, which Redis refuses.
    let (Ok(current), Ok(by)) = (current, by) else {
        return Err(nan_or_inf());
    };
    let next = current.plus(by).ok_or_else(nan_or_inf)?;
    let text = Bytes::from(next.to_human_string());
    put_string(ctx, &args[1], text.clone(), Ttl::Keep, existing.as_ref())?;
    ctx.notify_new(existing.is_some(), &args[1]);
    ctx.notify(notify::STRING, "incrbyfloat", &args[1]);
    Ok(Frame::Bulk(text))
}

pub fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int(&args[2])?;
    let end = int(&args[3])?;
    let value = ctx
        .get_string(&args[1])?
        .map(|m| m.payload)
        .unwrap_or_default();
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Frame::bulk(""));
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Frame::bulk(""));
    }
    Ok(Frame::Bulk(value.slice(start as usize..=end as usize)))
}

pub fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = int(&args[2])?;
    if offset < 0 {
        return Err(err("ERR offset is out of range"));
    }
    let value = &args[3];
    let existing = ctx.peek_string(&args[1])?;
    let old = existing
        .as_ref()
        .map(|m| m.payload.clone())
        .unwrap_or_default();
    if value.is_empty() {
        return Ok(Frame::Integer(old.len() as i64));
    }
    let needed = offset as u64 + value.len() as u64;
    if needed > ctx.max_bulk_len() {
        return Err(string_too_long());
    }
    let offset = offset as usize;
    let mut v = BytesMut::from(&old[..]);
    if v.len() < offset + value.len() {
        v.resize(offset + value.len(), 0);
    }
    v[offset..offset + value.len()].copy_from_slice(value);
    let len = v.len();
    put_string(ctx, &args[1], v.freeze(), Ttl::Keep, existing.as_ref())?;
    ctx.notify_new(existing.is_some(), &args[1]);
    ctx.notify(notify::STRING, "setrange", &args[1]);
    Ok(Frame::Integer(len as i64))
}

/// LCS working memory cap (cells), like Redis's transient-memory check.
const LCS_MAX_CELLS: u64 = 512 * 1024 * 1024 / 4;

pub fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "IDX") {
            want_idx = true;
        } else if is(a, "LEN") {
            want_len = true;
        } else if is(a, "WITHMATCHLEN") {
            with_match_len = true;
        } else if is(a, "MINMATCHLEN") && i + 1 < args.len() {
            min_match_len = int(&args[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    let mut values = Vec::with_capacity(2);
    for key in &args[1..3] {
        match ctx.lookup(key)? {
            Some(m) if m.kind != kiwi_storage::KeyKind::String => {
                return Err(err("ERR The specified keys must contain string values"))
            }
            m => values.push(m.map(|m| m.payload).unwrap_or_default()),
        }
    }
    if want_len && want_idx {
        return Err(err(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (a, b) = (&values[0], &values[1]);
    if (a.len() as u64 + 1) * (b.len() as u64 + 1) > LCS_MAX_CELLS {
        return Err(err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // dp[i][j] = LCS length of a[..i], b[..j].
    let w = b.len() + 1;
    let mut dp = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[a.len() * w + b.len()] as usize;
    if want_len {
        return Ok(Frame::Integer(total as i64));
    }
    // Walk back from the end, collecting the LCS and (for IDX) match ranges.
    let mut out = vec![0u8; total];
    let mut idx = total;
    let (mut i, mut j) = (a.len(), b.len());
    let mut matches = Vec::new();
    let mut current: Option<(usize, usize, usize, usize)> = None; // a_start, a_end, b_start, b_end
    let emit = |m: (usize, usize, usize, usize), matches: &mut Vec<Frame>| {
        let len = m.1 - m.0 + 1;
        if len as i64 >= min_match_len {
            let mut item = vec![
                Frame::Array(vec![Frame::Integer(m.0 as i64), Frame::Integer(m.1 as i64)]),
                Frame::Array(vec![Frame::Integer(m.2 as i64), Frame::Integer(m.3 as i64)]),
            ];
            if with_match_len {
                item.push(Frame::Integer(len as i64));
            }
            matches.push(Frame::Array(item));
        }
    };
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            out[idx] = a[i - 1];
            let (ai, bj) = (i - 1, j - 1);
            current = match current {
                Some((s, e, bs, be)) if s == ai + 1 && bs == bj + 1 => Some((ai, e, bj, be)),
                Some(m) => {
                    emit(m, &mut matches);
                    Some((ai, ai, bj, bj))
                }
                None => Some((ai, ai, bj, bj)),
            };
            i -= 1;
            j -= 1;
        } else if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(m) = current {
        emit(m, &mut matches);
    }
    if want_idx {
        return Ok(Frame::Map(vec![
            (Frame::bulk("matches"), Frame::Array(matches)),
            (Frame::bulk("len"), Frame::Integer(total as i64)),
        ]));
    }
    Ok(Frame::bulk(out))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("get", get);
    r.handle("set", set);
    r.handle("setnx", setnx);
    r.handle("setex", |ctx, args| setex(ctx, args, 1000, "setex"));
    r.handle("psetex", |ctx, args| setex(ctx, args, 1, "psetex"));
    r.handle("getset", getset);
    r.handle("getdel", getdel);
    r.handle("getex", getex);
    r.handle("mget", mget);
    r.handle("mset", mset);
    r.handle("msetnx", msetnx);
    r.handle("append", append);
    r.handle("strlen", strlen);
    r.handle("incr", |ctx, args| incr_by(ctx, &args[1], 1));
    r.handle("decr", |ctx, args| incr_by(ctx, &args[1], -1));
    r.handle("incrby", |ctx, args| incrby(ctx, args, false));
    r.handle("decrby", |ctx, args| incrby(ctx, args, true));
    r.handle("incrbyfloat", incrbyfloat);
    r.handle("getrange", getrange);
    r.handle("substr", getrange);
    r.handle("setrange", setrange);
    r.handle("lcs", lcs);
}
