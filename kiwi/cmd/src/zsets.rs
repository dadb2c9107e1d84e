//! Sorted-set commands (ZADD, ZRANGE in all its forms, ZUNION/ZINTER/ZDIFF,
//! ZPOP*, ZSCAN, ...) with Redis 7.0 semantics.
//!
//! A sorted set is a header plus two records per member
//! (`kiwi_storage::encoding`): member -> score for O(1) ZSCORE, and a score
//! index ordered by (score, member), Redis's skiplist order, so score ranges
//! are range scans and ranks are counted scans from the nearer end.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::encoding::{
    parse_zset_score_sub, score_from_value, score_value, zset_member_sub, zset_score_seek,
    zset_score_sub, ZSET_MEMBER_TAG, ZSET_SCORE_TAG,
};
use kiwi_storage::{Batch, KeyKind, Meta, StorageError};

use crate::args::{int, int_or, is, strtod};
use crate::coll::{self, parse_random_count, parse_scan, scan_batch, scan_reply};
use crate::error::{err, not_float, syntax, wrongtype, CmdResult};
use crate::exec::Ctx;
use crate::lists::clamp_range;
use crate::notify;

const ZSET: KeyKind = KeyKind::ZSet;

// ---- parsing ---------------------------------------------------------------

/// Parses a score like Redis's `getDoubleFromObject`: `strtod` on the whole
/// string, no leading space, no NaN, no overflow or underflow to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(u8::is_ascii_whitespace) {
        return None;
    }
    match strtod(arg)? {
        (v, false) => Some(v),
        (_, true) => None,
    }
}

fn score_arg(arg: &[u8]) -> CmdResult<f64> {
    parse_score(arg).ok_or_else(not_float)
}

/// A score interval of ZRANGEBYSCORE & co (`(` makes a bound exclusive).
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Parses like `zslParseRange` (lenient `strtod`: out-of-range values
    /// saturate; NaN and trailing garbage are errors).
    pub fn parse(min: &[u8], max: &[u8]) -> CmdResult<ScoreRange> {
        let bad = || err("ERR min or max is not a float");
        let (min, minex) = parse_bound(min).ok_or_else(bad)?;
        let (max, maxex) = parse_bound(max).ok_or_else(bad)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a score range as `zslParseRange` reads it: plain `strtod`
/// (out-of-range values saturate; an empty string is 0).
fn parse_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (ex, body) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    if body.is_empty() {
        return Some((0.0, ex));
    }
    strtod(body).map(|(v, _)| (v, ex))
}

/// One end of a lexicographic range (ZRANGEBYLEX & co).
#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> CmdResult<LexRange> {
        let item = |a: &[u8]| -> Option<LexBound> {
            match a.first()? {
                b'+' if a.len() == 1 => Some(LexBound::Max),
                b'-' if a.len() == 1 => Some(LexBound::Min),
                b'(' => Some(LexBound::Excl(Bytes::copy_from_slice(&a[1..]))),
                b'[' => Some(LexBound::Incl(Bytes::copy_from_slice(&a[1..]))),
                _ => None,
            }
        };
        let bad = || err("ERR min or max not valid string range item");
        Ok(LexRange {
            min: item(min).ok_or_else(bad)?,
            max: item(max).ok_or_else(bad)?,
        })
    }

    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(m) => v >= m.as_ref(),
            LexBound::Excl(m) => v > m.as_ref(),
        }
    }

    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(m) => v <= m.as_ref(),
            LexBound::Excl(m) => v < m.as_ref(),
        }
    }
}

// ---- storage access --------------------------------------------------------

/// One member with its score.
pub type Scored = (Bytes, f64);

impl Ctx<'_> {
    pub fn get_zset(&mut self, key: &[u8]) -> CmdResult<Option<Meta>> {
        self.get_coll(key, ZSET)
    }

    /// Score of `member`, from its O(1) member record.
    fn zscore_of(&self, key: &[u8], meta: &Meta, member: &[u8]) -> CmdResult<Option<f64>> {
        match self
            .engine
            .get_sub_key(self.db, key, meta.version, &zset_member_sub(member))?
        {
            Some(raw) => Ok(Some(
                score_from_value(&raw).ok_or(StorageError::Corrupt("zset score"))?,
            )),
            None => Ok(None),
        }
    }

    /// Visits the score index from `lower` to `upper` (sub-keys), forwards or
    /// backwards, until `visit` returns false.
    fn visit_index(
        &self,
        key: &[u8],
        meta: &Meta,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
        mut visit: impl FnMut(&[u8], f64) -> bool,
    ) -> CmdResult<()> {
        let mut bad = false;
        self.engine.visit_sub_keys(
            self.db,
            key,
            meta.version,
            lower,
            Some(upper),
            reverse,
            |sub, value| match (parse_zset_score_sub(sub), score_from_value(value)) {
                (Some((_, member)), Some(score)) => visit(member, score),
                _ => {
                    bad = true;
                    false
                }
            },
        )?;
        if bad {
            return Err(StorageError::Corrupt("zset index").into());
        }
        Ok(())
    }

    /// Visits the whole score index, forwards or backwards.
    fn visit_whole_index(
        &self,
        key: &[u8],
        meta: &Meta,
        reverse: bool,
        visit: impl FnMut(&[u8], f64) -> bool,
    ) -> CmdResult<()> {
        let (lower, upper) = ([ZSET_SCORE_TAG], [ZSET_SCORE_TAG + 1]);
        self.visit_index(key, meta, &lower, &upper, reverse, visit)
    }

    /// Every member in (score, member) order.
    fn zset_all(&self, key: &[u8], meta: &Meta) -> CmdResult<Vec<Scored>> {
        let mut out = Vec::with_capacity(meta.size.min(1 << 16) as usize);
        self.visit_whole_index(key, meta, false, |m, s| {
            out.push((Bytes::copy_from_slice(m), s));
            true
        })?;
        Ok(out)
    }
}

/// Members of a sorted set in score order (SORT's input).
pub fn members_by_score(ctx: &Ctx<'_>, key: &[u8], meta: &Meta) -> CmdResult<Vec<Bytes>> {
    Ok(ctx
        .zset_all(key, meta)?
        .into_iter()
        .map(|(m, _)| m)
        .collect())
}

/// Writes `member` with `score`, replacing its index entry at `old`.
fn put_member(
    ctx: &Ctx<'_>,
    b: &mut Batch,
    key: &[u8],
    meta: &Meta,
    member: &[u8],
    score: f64,
    old: Option<f64>,
) -> CmdResult<()> {
    debug_assert!(!score.is_nan(), "NaN scores never reach storage");
    // Redis stores -0 as 0 (ZADD z -0 m; ZSCORE z m is "0"), though the
    // ZINCRBY/ZADD INCR reply shows the computed -0.
    let score = if score == 0.0 { 0.0 } else { score };
    if let Some(old) = old {
        ctx.engine
            .delete_sub_key(b, ctx.db, key, meta.version, &zset_score_sub(old, member))?;
    }
    let value = score_value(score);
    ctx.engine.put_sub_key(
        b,
        ctx.db,
        key,
        meta.version,
        &zset_member_sub(member),
        &value,
    )?;
    ctx.engine.put_sub_key(
        b,
        ctx.db,
        key,
        meta.version,
        &zset_score_sub(score, member),
        &value,
    )?;
    Ok(())
}

fn del_member(
    ctx: &Ctx<'_>,
    b: &mut Batch,
    key: &[u8],
    meta: &Meta,
    member: &[u8],
    score: f64,
) -> CmdResult<()> {
    ctx.engine
        .delete_sub_key(b, ctx.db, key, meta.version, &zset_member_sub(member))?;
    ctx.engine
        .delete_sub_key(b, ctx.db, key, meta.version, &zset_score_sub(score, member))?;
    Ok(())
}

/// Index bounds covering every score in `r` (exclusivity is checked per element).
fn score_bounds(r: &ScoreRange) -> (Vec<u8>, Vec<u8>) {
    let mut upper = zset_score_seek(r.max);
    // Past every member with score == max.
    while let Some(last) = upper.pop() {
        if last < 0xff {
            upper.push(last + 1);
            break;
        }
    }
    (zset_score_seek(r.min), upper)
}

/// Members whose score is in `r`, in order (or reversed), after skipping
/// `offset` and taking at most `limit` (negative: no limit).
fn by_score(
    ctx: &Ctx<'_>,
    key: &[u8],
    meta: &Meta,
    r: &ScoreRange,
    reverse: bool,
    offset: i64,
    limit: i64,
) -> CmdResult<Vec<Scored>> {
    if r.is_empty() || offset < 0 || limit == 0 {
        return Ok(Vec::new());
    }
    let (lower, upper) = score_bounds(r);
    let mut window = Window::new(offset, limit);
    ctx.visit_index(key, meta, &lower, &upper, reverse, |m, s| {
        if !(r.gte_min(s) && r.lte_max(s)) {
            return true;
        }
        window.take(m, s)
    })?;
    Ok(window.out)
}

/// The LIMIT offset/count window of a range walk.
struct Window {
    skip: i64,
    /// Negative: no limit.
    limit: i64,
    out: Vec<Scored>,
}

impl Window {
    fn new(offset: i64, limit: i64) -> Window {
        Window {
            skip: offset,
            limit,
            out: Vec::new(),
        }
    }

    /// Offers the next member in range; returns whether the walk goes on.
    fn take(&mut self, member: &[u8], score: f64) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return true;
        }
        self.out.push((Bytes::copy_from_slice(member), score));
        self.limit < 0 || (self.out.len() as i64) < self.limit
    }
}

/// Members in a lex range, scanning like Redis's listpack code: from the
/// start, skip members below min, then take members up to max.
fn by_lex(
    ctx: &Ctx<'_>,
    key: &[u8],
    meta: &Meta,
    r: &LexRange,
    reverse: bool,
    offset: i64,
    limit: i64,
) -> CmdResult<Vec<Scored>> {
    if offset < 0 || limit == 0 {
        return Ok(Vec::new());
    }
    let mut started = false;
    let mut window = Window::new(offset, limit);
    ctx.visit_whole_index(key, meta, reverse, |m, s| {
        let (before, within) = if reverse {
            (!r.lte_max(m), r.gte_min(m))
        } else {
            (!r.gte_min(m), r.lte_max(m))
        };
        if !started {
            if before {
                return true;
            }
            started = true;
        }
        if !within {
            return false;
        }
        window.take(m, s)
    })?;
    Ok(window.out)
}

/// Members at ranks `start..=stop` (< size), forwards or from the top.
fn by_rank(
    ctx: &Ctx<'_>,
    key: &[u8],
    meta: &Meta,
    start: u64,
    stop: u64,
    reverse: bool,
) -> CmdResult<Vec<Scored>> {
    let mut out = Vec::with_capacity((stop - start + 1).min(1 << 16) as usize);
    let mut index = 0u64;
    ctx.visit_whole_index(key, meta, reverse, |m, s| {
        if index >= start {
            out.push((Bytes::copy_from_slice(m), s));
        }
        index += 1;
        index <= stop
    })?;
    Ok(out)
}

/// Removes `items` (present members) from the zset at `key` and writes its
/// header; `event` is the command's keyspace event.
fn remove_all(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    mut meta: Meta,
    items: &[Scored],
    event: &'static str,
) -> CmdResult<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    let mut b = ctx.engine.batch();
    for (m, s) in items {
        del_member(ctx, &mut b, key, &meta, m, *s)?;
    }
    meta.size -= items.len() as u64;
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, items.len() as u64)?;
    ctx.notify(notify::ZSET, event, key);
    ctx.notify_emptied(meta.size, key);
    Ok(items.len() as u64)
}

/// Replaces whatever is at `dst` with a zset of `items` (STORE forms, whose
/// keyspace event is `event`); an empty result deletes `dst`.
fn store_zset(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    items: &[Scored],
    event: &'static str,
) -> CmdResult<()> {
    let existed = ctx.peek(dst)?.is_some();
    let mut b = ctx.engine.batch();
    ctx.engine.delete(&mut b, ctx.db, dst)?;
    let mut meta = coll::open(ctx, &mut b, ZSET, None);
    for (m, s) in items {
        put_member(ctx, &mut b, dst, &meta, m, *s, None)?;
    }
    meta.size = items.len() as u64;
    coll::store(ctx, &mut b, ctx.db, dst, &meta)?;
    ctx.commit(b, 1)?;
    if !items.is_empty() {
        ctx.notify_new(existed, dst);
        ctx.notify(notify::ZSET, event, dst);
    } else if existed {
        ctx.notify(notify::GENERIC, "del", dst);
    }
    Ok(())
}

// ---- replies ---------------------------------------------------------------

/// Members, with scores if asked: RESP3 `[[member, score], ...]`, RESP2 flat.
fn scored_reply(proto: Protocol, items: Vec<Scored>, withscores: bool) -> Frame {
    let mut out = Vec::with_capacity(items.len() * (1 + withscores as usize));
    for (m, s) in items {
        if !withscores {
            out.push(Frame::Bulk(m));
        } else if proto == Protocol::Resp3 {
            out.push(Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]));
        } else {
            out.push(Frame::Bulk(m));
            out.push(Frame::Double(s));
        }
    }
    Frame::Array(out)
}

fn nested_pairs(items: Vec<Scored>) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]))
            .collect(),
    )
}

// ---- commands --------------------------------------------------------------

/// ZADD with all its flags; ZINCRBY is ZADD INCR.
pub fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        match () {
            _ if is(a, "NX") => nx = true,
            _ if is(a, "XX") => xx = true,
            _ if is(a, "GT") => gt = true,
            _ if is(a, "LT") => lt = true,
            _ if is(a, "CH") => ch = true,
            _ if is(a, "INCR") => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(syntax());
    }
    if nx && xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (gt || lt) && (nx || (gt && lt)) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| score_arg(&p[0]))
        .collect::<CmdResult<Vec<f64>>>()?;
    let flags = AddFlags {
        nx,
        xx,
        gt,
        lt,
        incr,
    };
    zadd_apply(ctx, &args[1], pairs, &scores, flags, ch)
}

#[derive(Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

fn zadd_apply(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    pairs: &[Bytes],
    scores: &[f64],
    f: AddFlags,
    ch: bool,
) -> CmdResult {
    let existing = ctx.peek_coll(key, ZSET)?;
    if existing.is_none() && f.xx {
        return Ok(if f.incr {
            Frame::Null
        } else {
            Frame::Integer(0)
        });
    }
    let is_new = existing.is_none();
    let mut b = ctx.engine.batch();
    let mut meta = coll::open(ctx, &mut b, ZSET, existing);
    // Scores as of this command, so repeated members see earlier pairs.
    let mut current: HashMap<&[u8], Option<f64>> = HashMap::new();
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last_score = 0.0;
    for (pair, &score) in pairs.chunks(2).zip(scores) {
        let member: &[u8] = &pair[1];
        let cur = match current.get(member) {
            Some(c) => *c,
            None if is_new => None,
            None => ctx.zscore_of(key, &meta, member)?,
        };
        let new = match cur {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    return Err(err("ERR resulting score is not a number (NaN)"));
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                if new != cur {
                    put_member(ctx, &mut b, key, &meta, member, new, Some(cur))?;
                    updated += 1;
                }
                new
            }
            None => {
                if f.xx {
                    continue;
                }
                put_member(ctx, &mut b, key, &meta, member, score, None)?;
                added += 1;
                score
            }
        };
        processed += 1;
        last_score = new;
        current.insert(member, Some(new));
    }
    meta.size += added;
    coll::store(ctx, &mut b, ctx.db, key, &meta)?;
    ctx.commit(b, added + updated)?;
    if added + updated > 0 {
        ctx.notify_new(!is_new, key);
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    Ok(if f.incr {
        if processed > 0 {
            Frame::Double(last_score)
        } else {
            Frame::Null
        }
    } else {
        Frame::Integer((if ch { added + updated } else { added }) as i64)
    })
}

pub fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = score_arg(&args[2])?;
    let flags = AddFlags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        incr: true,
    };
    zadd_apply(ctx, &args[1], &args[2..4], &[by], flags, false)
}

pub fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(meta) = ctx.peek_coll(key, ZSET)? else {
        return Ok(Frame::Integer(0));
    };
    let mut found: BTreeMap<Bytes, f64> = BTreeMap::new();
    for m in &args[2..] {
        if found.contains_key(m) {
            continue;
        }
        if let Some(s) = ctx.zscore_of(key, &meta, m)? {
            found.insert(m.clone(), s);
        }
    }
    let items: Vec<Scored> = found.into_iter().collect();
    Ok(Frame::Integer(
        remove_all(ctx, key, meta, &items, "zrem")? as i64
    ))
}

pub fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.get_zset(&args[1])?.map_or(0, |m| m.size) as i64,
    ))
}

pub fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(meta) = ctx.get_zset(&args[1])? else {
        return Ok(Frame::Null);
    };
    Ok(ctx
        .zscore_of(&args[1], &meta, &args[2])?
        .map_or(Frame::Null, Frame::Double))
}

pub fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let meta = ctx.get_zset(&args[1])?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for m in &args[2..] {
        let s = match &meta {
            Some(meta) => ctx.zscore_of(&args[1], meta, m)?,
            None => None,
        };
        out.push(s.map_or(Frame::Null, Frame::Double));
    }
    Ok(Frame::Array(out))
}

pub fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    let Some(meta) = ctx.get_zset(&args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let n = by_score(ctx, &args[1], &meta, &r, false, 0, -1)?.len();
    Ok(Frame::Integer(n as i64))
}

pub fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    let Some(meta) = ctx.get_zset(&args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let n = by_lex(ctx, &args[1], &meta, &r, false, 0, -1)?.len();
    Ok(Frame::Integer(n as i64))
}

/// ZRANK and ZREVRANK: counts index entries before the member from the
/// nearer end.
pub fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    let key = &args[1];
    let Some(meta) = ctx.get_zset(key)? else {
        return Ok(Frame::Null);
    };
    let Some(score) = ctx.zscore_of(key, &meta, &args[2])? else {
        return Ok(Frame::Null);
    };
    let target = zset_score_sub(score, &args[2]);
    let mut below = 0u64;
    ctx.visit_index(key, &meta, &[ZSET_SCORE_TAG], &target, false, |_, _| {
        below += 1;
        true
    })?;
    debug_assert!(below < meta.size, "rank within the set");
    let rank = if reverse {
        meta.size - 1 - below
    } else {
        below
    };
    Ok(Frame::Integer(rank as i64))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The shared engine of ZRANGE, ZRANGESTORE, ZREVRANGE, Z[REV]RANGEBYSCORE
/// and Z[REV]RANGEBYLEX (Redis's `zrangeGenericCommand`). `at` is the index
/// of the source key; `dst` is set for ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    at: usize,
    dst: Option<&Bytes>,
    mut kind: RangeKind,
    mut reverse: Option<bool>,
) -> CmdResult {
    let key = &args[at];
    let (mut withscores, mut offset, mut limit, mut limited) = (false, 0i64, -1i64, false);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if dst.is_none() && is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            offset = int(&args[j + 1])?;
            limit = int(&args[j + 2])?;
            limited = true;
            j += 2;
        } else if reverse.is_none() && is(a, "REV") {
            reverse = Some(true);
        } else if kind == RangeKind::Auto && is(a, "BYLEX") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is(a, "BYSCORE") {
            kind = RangeKind::Score;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limited && kind == RangeKind::Rank {
        return Err(err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[at + 1], &args[at + 2]);
    if reverse && kind != RangeKind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match kind {
        RangeKind::Score => Parsed::Score(ScoreRange::parse(lo, hi)?),
        RangeKind::Lex => Parsed::Lex(LexRange::parse(lo, hi)?),
        _ => Parsed::Rank(int(lo)?, int(hi)?),
    };
    let Some(meta) = ctx.get_zset(key)? else {
        return match dst {
            Some(d) => {
                store_zset(ctx, d, &[], "zrangestore")?;
                Ok(Frame::Integer(0))
            }
            None => Ok(Frame::Array(vec![])),
        };
    };
    let items = match parsed {
        Parsed::Rank(start, stop) => match clamp_range(start, stop, meta.size) {
            Some((s, e)) => by_rank(ctx, key, &meta, s, e, reverse)?,
            None => Vec::new(),
        },
        Parsed::Score(r) => by_score(ctx, key, &meta, &r, reverse, offset, limit)?,
        Parsed::Lex(r) => by_lex(ctx, key, &meta, &r, reverse, offset, limit)?,
    };
    match dst {
        Some(d) => {
            store_zset(ctx, d, &items, "zrangestore")?;
            Ok(Frame::Integer(items.len() as i64))
        }
        None => Ok(scored_reply(ctx.proto, items, withscores)),
    }
}

pub fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeKind::Auto, None)
}

pub fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeKind::Auto, None)
}

pub fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeKind::Rank, Some(true))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeKind::Score, Some(reverse))
}

pub fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    zrange_generic(ctx, args, 1, None, RangeKind::Lex, Some(reverse))
}

/// ZREMRANGEBYRANK / BYSCORE / BYLEX.
pub fn zremrange(ctx: &mut Ctx<'_>, args: &[Bytes], by: &str) -> CmdResult {
    let key = &args[1];
    enum R {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let r = match by {
        "rank" => R::Rank(int(&args[2])?, int(&args[3])?),
        "score" => R::Score(ScoreRange::parse(&args[2], &args[3])?),
        _ => R::Lex(LexRange::parse(&args[2], &args[3])?),
    };
    let Some(meta) = ctx.peek_coll(key, ZSET)? else {
        return Ok(Frame::Integer(0));
    };
    let items = match r {
        R::Rank(start, stop) => match clamp_range(start, stop, meta.size) {
            Some((s, e)) => by_rank(ctx, key, &meta, s, e, false)?,
            None => Vec::new(),
        },
        R::Score(r) => by_score(ctx, key, &meta, &r, false, 0, -1)?,
        R::Lex(r) => by_lex(ctx, key, &meta, &r, false, 0, -1)?,
    };
    let event = match by {
        "rank" => "zremrangebyrank",
        "score" => "zremrangebyscore",
        _ => "zremrangebylex",
    };
    Ok(Frame::Integer(
        remove_all(ctx, key, meta, &items, event)? as i64
    ))
}

/// Pops up to `count` members from the low (`max == false`) or high end.
pub fn pop_members(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    meta: Meta,
    max: bool,
    count: u64,
) -> CmdResult<Vec<Scored>> {
    if count == 0 || meta.size == 0 {
        return Ok(Vec::new());
    }
    let stop = count.min(meta.size) - 1;
    let items = by_rank(ctx, key, &meta, 0, stop, max)?;
    let event = if max { "zpopmax" } else { "zpopmin" };
    remove_all(ctx, key, meta, &items, event)?;
    Ok(items)
}

/// ZPOPMIN and ZPOPMAX.
pub fn zpop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(syntax());
    }
    let count = match args.get(2) {
        Some(a) => {
            let bad = || err("ERR value is out of range, must be positive");
            let n = int_or(a, bad)?;
            if n < 0 {
                return Err(bad());
            }
            Some(n as u64)
        }
        None => None,
    };
    let Some(meta) = ctx.peek_coll(&args[1], ZSET)? else {
        return Ok(Frame::Array(vec![]));
    };
    if count == Some(0) {
        return Ok(Frame::Array(vec![]));
    }
    let items = pop_members(ctx, &args[1], meta, max, count.unwrap_or(1))?;
    Ok(match count {
        // Without COUNT the reply is flat in both protocols.
        None => scored_reply(Protocol::Resp2, items, true),
        Some(_) => scored_reply(ctx.proto, items, true),
    })
}

/// Parses ZMPOP's `MIN|MAX`: true for MAX.
pub fn parse_min_max(arg: &[u8]) -> CmdResult<bool> {
    if is(arg, "MIN") {
        Ok(false)
    } else if is(arg, "MAX") {
        Ok(true)
    } else {
        Err(syntax())
    }
}

/// Pops from the first non-empty zset of `keys`: `[key, [[member, score]...]]`.
pub fn zmpop_first(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: u64,
) -> CmdResult<Option<Frame>> {
    for key in keys {
        let Some(meta) = ctx.peek_coll(key, ZSET)? else {
            continue;
        };
        let items = pop_members(ctx, key, meta, max, count)?;
        return Ok(Some(Frame::Array(vec![
            Frame::Bulk(key.clone()),
            nested_pairs(items),
        ])));
    }
    Ok(None)
}

pub fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = coll::parse_mpop(args, 1, parse_min_max)?;
    Ok(zmpop_first(ctx, a.keys, a.from, a.count)?.unwrap_or(Frame::NullArray))
}

pub fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    if args.len() == 2 {
        let Some(meta) = ctx.get_zset(key)? else {
            return Ok(Frame::Null);
        };
        let all = ctx.zset_all(key, &meta)?;
        let i = ctx.rng.index(all.len());
        return Ok(Frame::bulk_opt(all.into_iter().nth(i).map(|(m, _)| m)));
    }
    let (count, repeats) = parse_random_count(&args[2])?;
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "WITHSCORES") => true,
        _ => return Err(syntax()),
    };
    if repeats && withscores && count as u64 > i64::MAX as u64 / 2 {
        return Err(err("ERR value is out of range"));
    }
    let Some(meta) = ctx.get_zset(key)? else {
        return Ok(Frame::Array(vec![]));
    };
    let all = ctx.zset_all(key, &meta)?;
    let picks = coll::random_picks(&mut ctx.rng, all.len(), count, repeats);
    Ok(scored_reply(
        ctx.proto,
        picks.into_iter().map(|i| all[i].clone()).collect(),
        withscores,
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => acc.min(v),
            Aggregate::Max => acc.max(v),
        }
    }
}

/// Members of a zset or a set input (sets score 1), or none if missing.
fn read_input(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult<Option<(Meta, KeyKind)>> {
    match ctx.lookup(key)? {
        Some(m) if m.kind == ZSET || m.kind == KeyKind::Set => {
            let kind = m.kind;
            Ok(Some((m, kind)))
        }
        Some(_) => Err(wrongtype()),
        None => Ok(None),
    }
}

fn input_members(ctx: &Ctx<'_>, key: &[u8], meta: &Meta, kind: KeyKind) -> CmdResult<Vec<Scored>> {
    if kind == ZSET {
        let mut out = Vec::new();
        for (sub, v) in ctx.subs(
            ctx.db,
            key,
            meta,
            &[ZSET_MEMBER_TAG],
            Some(&[ZSET_MEMBER_TAG + 1]),
        )? {
            let s = score_from_value(&v).ok_or(StorageError::Corrupt("zset score"))?;
            if sub.len() < 9 {
                return Err(StorageError::Corrupt("zset member record").into());
            }
            // 'm' + hash + member
            out.push((sub.slice(9..), s));
        }
        Ok(out)
    } else {
        Ok(ctx
            .elems(key, meta)?
            .into_iter()
            .map(|(m, _)| (m, 1.0))
            .collect())
    }
}

/// What a ZUNION-style command does with its result.
#[derive(Clone, Copy)]
enum Output<'a> {
    Reply,
    Store(&'a Bytes),
    /// ZINTERCARD: only the size (with an optional LIMIT).
    Cardinality,
}

/// ZUNION/ZINTER/ZDIFF, their STORE forms and ZINTERCARD (Redis's
/// `zunionInterDiffGenericCommand`). `numkeys_at` indexes numkeys.
fn zsetop(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    numkeys_at: usize,
    out: Output<'_>,
    op: SetOp,
    name: &str,
) -> CmdResult {
    let card = matches!(out, Output::Cardinality);
    let n = int(&args[numkeys_at])?;
    if n < 1 {
        return Err(err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - numkeys_at - 1) as u64 {
        return Err(syntax());
    }
    let n = n as usize;
    let keys = &args[numkeys_at + 1..numkeys_at + 1 + n];
    let mut inputs = Vec::with_capacity(n);
    for k in keys {
        inputs.push(read_input(ctx, k)?);
    }
    let mut weights = vec![1.0f64; n];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0u64;
    let mut j = numkeys_at + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        if card && remaining >= 2 && is(&args[j], "LIMIT") {
            limit = coll::parse_card_limit(&args[j + 1])?;
            j += 2;
        } else if op != SetOp::Diff && !card && remaining > n && is(&args[j], "WEIGHTS") {
            for (w, a) in weights.iter_mut().zip(&args[j + 1..j + 1 + n]) {
                *w = parse_score(a).ok_or_else(|| err("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && !card && remaining >= 2 && is(&args[j], "AGGREGATE") {
            let a = &args[j + 1];
            aggregate = if is(a, "SUM") {
                Aggregate::Sum
            } else if is(a, "MIN") {
                Aggregate::Min
            } else if is(a, "MAX") {
                Aggregate::Max
            } else {
                return Err(syntax());
            };
            j += 2;
        } else if matches!(out, Output::Reply) && is(&args[j], "WITHSCORES") {
            withscores = true;
            j += 1;
        } else {
            return Err(syntax());
        }
    }
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut result: BTreeMap<Bytes, f64> = BTreeMap::new();
    match op {
        SetOp::Union => {
            for (i, input) in inputs.iter().enumerate() {
                let Some((meta, kind)) = input else { continue };
                for (m, s) in input_members(ctx, &keys[i], meta, *kind)? {
                    let v = weighted(s, weights[i]);
                    result
                        .entry(m)
                        .and_modify(|acc| *acc = aggregate.apply(*acc, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if inputs.iter().all(Option::is_some) {
                let (meta, kind) = inputs[0].as_ref().ok_or(StorageError::Corrupt("input"))?;
                for (m, s) in input_members(ctx, &keys[0], meta, *kind)? {
                    result.insert(m, weighted(s, weights[0]));
                }
                for i in 1..n {
                    let (meta, kind) = inputs[i].as_ref().ok_or(StorageError::Corrupt("input"))?;
                    let other: HashMap<Bytes, f64> = input_members(ctx, &keys[i], meta, *kind)?
                        .into_iter()
                        .collect();
                    result.retain(|m, _| other.contains_key(m));
                    for (m, acc) in result.iter_mut() {
                        let v = weighted(other[m], weights[i]);
                        *acc = aggregate.apply(*acc, v);
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Some((meta, kind)) = &inputs[0] {
                for (m, s) in input_members(ctx, &keys[0], meta, *kind)? {
                    result.insert(m, s);
                }
                for i in 1..n {
                    let Some((meta, kind)) = &inputs[i] else {
                        continue;
                    };
                    for (m, _) in input_members(ctx, &keys[i], meta, *kind)? {
                        result.remove(&m);
                    }
                }
            }
        }
    }
    let mut items: Vec<Scored> = result.into_iter().collect();
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    match out {
        Output::Store(d) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_zset(ctx, d, &items, event)?;
            Ok(Frame::Integer(items.len() as i64))
        }
        Output::Reply => Ok(scored_reply(ctx.proto, items, withscores)),
        Output::Cardinality => {
            let n = items.len() as u64;
            Ok(Frame::Integer(
                if limit > 0 { n.min(limit) } else { n } as i64
            ))
        }
    }
}

pub fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(ctx, args, 1, Output::Reply, SetOp::Union, "zunion")
}
pub fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(ctx, args, 1, Output::Reply, SetOp::Inter, "zinter")
}
pub fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(ctx, args, 1, Output::Reply, SetOp::Diff, "zdiff")
}
pub fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(
        ctx,
        args,
        2,
        Output::Store(&args[1]),
        SetOp::Union,
        "zunionstore",
    )
}
pub fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(
        ctx,
        args,
        2,
        Output::Store(&args[1]),
        SetOp::Inter,
        "zinterstore",
    )
}
pub fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(
        ctx,
        args,
        2,
        Output::Store(&args[1]),
        SetOp::Diff,
        "zdiffstore",
    )
}

pub fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop(
        ctx,
        args,
        1,
        Output::Cardinality,
        SetOp::Inter,
        "zintercard",
    )
}

pub fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sa = parse_scan(args)?;
    let Some(meta) = ctx.get_zset(&args[1])? else {
        return Ok(scan_reply(0, vec![]));
    };
    let mut items = Vec::new();
    let mut bad = false;
    let next =
        scan_batch(
            ctx,
            &args[1],
            &meta,
            &[ZSET_MEMBER_TAG],
            &sa,
            |m, v| match score_from_value(v) {
                Some(s) => {
                    items.push(Frame::Bulk(Bytes::copy_from_slice(m)));
                    items.push(Frame::bulk(kiwi_resp::double::format_g17(s)));
                }
                None => bad = true,
            },
        )?;
    if bad {
        return Err(StorageError::Corrupt("zset score").into());
    }
    Ok(scan_reply(next, items))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("zadd", zadd);
    r.handle("zincrby", zincrby);
    r.handle("zrem", zrem);
    r.handle("zcard", zcard);
    r.handle("zscore", zscore);
    r.handle("zmscore", zmscore);
    r.handle("zcount", zcount);
    r.handle("zlexcount", zlexcount);
    r.handle("zrank", |ctx, args| zrank(ctx, args, false));
    r.handle("zrevrank", |ctx, args| zrank(ctx, args, true));
    r.handle("zrange", zrange);
    r.handle("zrangestore", zrangestore);
    r.handle("zrevrange", zrevrange);
    r.handle("zrangebyscore", |ctx, args| zrangebyscore(ctx, args, false));
    r.handle("zrevrangebyscore", |ctx, args| {
        zrangebyscore(ctx, args, true)
    });
    r.handle("zrangebylex", |ctx, args| zrangebylex(ctx, args, false));
    r.handle("zrevrangebylex", |ctx, args| zrangebylex(ctx, args, true));
    r.handle("zremrangebyrank", |ctx, args| zremrange(ctx, args, "rank"));
    r.handle("zremrangebyscore", |ctx, args| {
        zremrange(ctx, args, "score")
    });
    r.handle("zremrangebylex", |ctx, args| zremrange(ctx, args, "lex"));
    r.handle("zpopmin", |ctx, args| zpop(ctx, args, false));
    r.handle("zpopmax", |ctx, args| zpop(ctx, args, true));
    r.handle("zmpop", zmpop);
    r.handle("zrandmember", zrandmember);
    r.handle("zunion", zunion);
    r.handle("zinter", zinter);
    r.handle("zdiff", zdiff);
    r.handle("zunionstore", zunionstore);
    r.handle("zinterstore", zinterstore);
    r.handle("zdiffstore", zdiffstore);
    r.handle("zintercard", zintercard);
    r.handle("zscan", zscan);
}
