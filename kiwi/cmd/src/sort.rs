//! SORT and SORT_RO over lists, sets and sorted sets, with Redis 7.0's
//! semantics (`sortCommandGeneric`): BY patterns (`*` substitution, `->field`
//! hash dereference, no `*` = don't sort), LIMIT, GET (`#` = the element),
//! ASC/DESC, ALPHA, STORE.

use std::cmp::Ordering;

use bytes::Bytes;
use kiwi_resp::Frame;
use kiwi_storage::KeyKind;

use crate::args::{int, is, strtod};
use crate::coll;
use crate::error::{err, syntax, wrongtype, CmdResult};
use crate::exec::Ctx;
use crate::lists::{End, List};
use crate::notify;

struct SortArgs<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    dontsort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a Bytes>,
}

fn parse(args: &[Bytes], readonly: bool) -> CmdResult<SortArgs<'_>> {
    let mut a = SortArgs {
        desc: false,
        alpha: false,
        limit: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let opt = &args[j];
        if is(opt, "ASC") {
            a.desc = false;
        } else if is(opt, "DESC") {
            a.desc = true;
        } else if is(opt, "ALPHA") {
            a.alpha = true;
        } else if is(opt, "LIMIT") && left >= 2 {
            a.limit = Some((int(&args[j + 1])?, int(&args[j + 2])?));
            j += 2;
        } else if !readonly && is(opt, "STORE") && left >= 1 {
            a.store = Some(&args[j + 1]);
            j += 1;
        } else if is(opt, "BY") && left >= 1 {
            let p: &[u8] = &args[j + 1];
            a.by = Some(p);
            a.dontsort = !p.contains(&b'*');
            j += 1;
        } else if is(opt, "GET") && left >= 1 {
            a.gets.push(&args[j + 1]);
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(a)
}

/// Resolves a BY/GET pattern for `element` like Redis's `lookupKeyByPattern`:
/// `#` is the element itself; the first `*` is replaced by the element; a
/// `->field` suffix reads a hash field. Strings and hash fields only.
fn lookup_by_pattern(
    ctx: &mut Ctx<'_>,
    pattern: &[u8],
    element: &Bytes,
) -> CmdResult<Option<Bytes>> {
    if pattern == b"#" {
        return Ok(Some(element.clone()));
    }
    // Redis works on C strings here: nothing past a NUL byte counts.
    let pattern = &pattern[..pattern
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(pattern.len())];
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let (postfix, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    let Some(meta) = ctx.peek(&key)? else {
        return Ok(None);
    };
    match field {
        Some(f) if meta.kind == KeyKind::Hash => ctx.elem(&meta, &key, f),
        None if meta.kind == KeyKind::String => Ok(Some(meta.payload)),
        _ => Ok(None),
    }
}

/// What one element sorts by.
enum SortKey {
    Score(f64),
    Text(Option<Bytes>),
    None,
}

pub fn sort(ctx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut a = parse(args, readonly)?;
    let key = &args[1];
    let meta = ctx.lookup(key)?;
    let kind = match &meta {
        Some(m) if !matches!(m.kind, KeyKind::List | KeyKind::Set | KeyKind::ZSet) => {
            return Err(wrongtype())
        }
        Some(m) => m.kind,
        None => KeyKind::List,
    };
    // Unsorted sets come out in a stable order when stored, as Redis forces.
    if a.dontsort && kind == KeyKind::Set && a.store.is_some() {
        a.dontsort = false;
        a.alpha = true;
        a.by = None;
    }
    let mut elements: Vec<Bytes> = match &meta {
        None => Vec::new(),
        Some(m) => match kind {
            KeyKind::List => {
                let list = List::from_meta(m.clone())?;
                if list.is_empty() {
                    Vec::new()
                } else {
                    list.range(ctx, ctx.db, key, 0, list.len() - 1, false)?
                }
            }
            KeyKind::Set => ctx
                .elems(key, m)?
                .into_iter()
                .map(|(member, _)| member)
                .collect(),
            _ => crate::zsets::members_by_score(ctx, key, m)?,
        },
    };
    // Redis's LIMIT arithmetic, clamped to the element count.
    let len = elements.len() as i64;
    let (limit_start, limit_count) = a.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    if a.dontsort {
        // Native order (lists, sorted sets: DESC walks it backwards).
        if a.desc && kind != KeyKind::Set {
            elements.reverse();
        }
    } else {
        let mut keyed = Vec::with_capacity(elements.len());
        let mut bad_score = false;
        for e in elements {
            let by_value = match a.by {
                Some(p) => lookup_by_pattern(ctx, p, &e)?,
                None => Some(e.clone()),
            };
            let k = if a.alpha {
                if a.by.is_some() {
                    SortKey::Text(by_value)
                } else {
                    SortKey::None
                }
            } else {
                // strtod on the whole value; "" reads as 0, as in C.
                match by_value {
                    Some(v) if v.is_empty() => SortKey::Score(0.0),
                    Some(v) => match strtod(&v) {
                        Some((score, false)) => SortKey::Score(score),
                        _ => {
                            bad_score = true;
                            SortKey::Score(0.0)
                        }
                    },
                    None => SortKey::Score(0.0),
                }
            };
            keyed.push((e, k));
        }
        if bad_score {
            return Err(err("ERR One or more scores can't be converted into double"));
        }
        keyed.sort_by(|(e1, k1), (e2, k2)| {
            let cmp = match (k1, k2) {
                (SortKey::Score(s1), SortKey::Score(s2)) => s1
                    .partial_cmp(s2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| e1.cmp(e2)),
                (SortKey::Text(t1), SortKey::Text(t2)) => t1.cmp(t2),
                _ => e1.cmp(e2),
            };
            if a.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        elements = keyed.into_iter().map(|(e, _)| e).collect();
    }
    let selected: Vec<Bytes> = if start <= end && end >= 0 {
        elements[start as usize..=end as usize].to_vec()
    } else {
        Vec::new()
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for e in &selected {
        if a.gets.is_empty() {
            out.push(Some(e.clone()));
        }
        for g in &a.gets {
            out.push(lookup_by_pattern(ctx, g, e)?);
        }
    }
    match a.store {
        None => Ok(Frame::Array(out.into_iter().map(Frame::bulk_opt).collect())),
        Some(dst) => {
            let existed = ctx.peek(dst)?.is_some();
            let mut b = ctx.engine.batch();
            ctx.engine.delete(&mut b, ctx.db, dst)?;
            if !out.is_empty() {
                let mut list = List::from_meta(coll::open(ctx, &mut b, KeyKind::List, None))?;
                for v in &out {
                    list.push(
                        ctx,
                        &mut b,
                        ctx.db,
                        dst,
                        End::Right,
                        v.as_deref().unwrap_or(b""),
                    )?;
                }
                list.store(ctx, &mut b, ctx.db, dst)?;
            }
            ctx.commit(b, 1)?;
            if !out.is_empty() {
                ctx.notify_new(existed, dst);
                ctx.notify(notify::LIST, "sortstore", dst);
            } else if existed {
                ctx.notify(notify::GENERIC, "del", dst);
            }
            Ok(Frame::Integer(out.len() as i64))
        }
    }
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("sort", |ctx, args| sort(ctx, args, false));
    r.handle("sort_ro", |ctx, args| sort(ctx, args, true));
}
