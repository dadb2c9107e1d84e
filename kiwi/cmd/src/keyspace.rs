//! Generic key commands (DEL, EXPIRE, SCAN, RENAME, ...) for every type.

use bytes::Bytes;
use kiwi_resp::Frame;
use kiwi_storage::{Batch, KeyKind, Meta, DATABASES};

use crate::args::{int, is, lower};
use crate::error::{
    db_out_of_range, err, invalid_expire, no_such_key, same_object, syntax, unknown_subcommand,
    CmdResult,
};
use crate::exec::Ctx;
use crate::glob;
use crate::notify;

pub fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut b = ctx.engine.batch();
    let mut removed = Vec::new();
    for key in &args[1..] {
        let live = ctx.peek(key)?.is_some();
        // An expired record is removed too, but not counted (lazy expiry).
        if ctx.engine.delete(&mut b, ctx.db, key)? && live {
            removed.push(key);
        }
    }
    ctx.commit(b, removed.len() as u64)?;
    for key in &removed {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(Frame::Integer(removed.len() as i64))
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for key in &args[1..] {
        // A read, as in Redis: it counts hits and misses (and `keymiss`).
        if ctx.lookup(key)?.is_some() {
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

pub fn type_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let name = ctx
        .lookup(&args[1])?
        .map(|m| m.kind.type_name())
        .unwrap_or("none");
    Ok(Frame::simple(name))
}

fn has_glob(p: &[u8]) -> bool {
    p.iter().any(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pattern = &args[1];
    if !has_glob(pattern) {
        let found = ctx.peek(pattern)?.is_some();
        return Ok(Frame::Array(if found {
            vec![Frame::Bulk(pattern.clone())]
        } else {
            vec![]
        }));
    }
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        cursor = ctx
            .engine
            .scan(ctx.db, cursor, 4096, ctx.now_ms, |key, _| {
                if all || glob::matches(pattern, key, false) {
                    out.push(Frame::Bulk(Bytes::copy_from_slice(key)));
                }
            })?;
        if cursor == 0 {
            break;
        }
    }
    Ok(Frame::Array(out))
}

/// Most keys one SCAN call visits, whatever COUNT asks (bounds the reply).
const SCAN_MAX_VISITS: i64 = 100_000;

pub fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = crate::args::scan_cursor(&args[1])?;
    let mut count = 10i64;
    let mut pattern: Option<&Bytes> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        let has_next = i + 1 < args.len();
        if is(&args[i], "COUNT") && has_next {
            count = int(&args[i + 1])?;
            if count < 1 {
                return Err(syntax());
            }
        } else if is(&args[i], "MATCH") && has_next {
            pattern = Some(&args[i + 1]);
        } else if is(&args[i], "TYPE") && has_next {
            type_filter = Some(lower(&args[i + 1]));
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    let pattern = pattern.filter(|p| p.as_ref() != b"*");
    let mut keys = Vec::new();
    let next = ctx.engine.scan(
        ctx.db,
        cursor,
        count.min(SCAN_MAX_VISITS) as usize,
        ctx.now_ms,
        |key, meta| {
            if let Some(t) = &type_filter {
                if meta.kind.type_name() != t {
                    return;
                }
            }
            if let Some(p) = pattern {
                if !glob::matches(p, key, false) {
                    return;
                }
            }
            keys.push(Frame::Bulk(Bytes::copy_from_slice(key)));
        },
    )?;
    Ok(Frame::Array(vec![
        Frame::bulk(next.to_string()),
        Frame::Array(keys),
    ]))
}

pub fn randomkey(ctx: &mut Ctx<'_>) -> CmdResult {
    let hash = ctx.rng.u64();
    Ok(Frame::bulk_opt(
        ctx.engine.random_key(ctx.db, hash, ctx.now_ms)?,
    ))
}

/// Writes a copy of `meta` (the value of `src_key` in `src_db`) as
/// `dst_key` in `dst_db`. Collections get a fresh version and their elements
/// are copied (O(N), unlike Redis's O(1) RENAME; see docs/compatibility.md).
fn write_copy(
    ctx: &mut Ctx<'_>,
    b: &mut Batch,
    src_db: usize,
    src_key: &[u8],
    meta: &Meta,
    dst_db: usize,
    dst_key: &[u8],
) -> CmdResult<()> {
    if !meta.kind.is_collection() {
        ctx.engine.put_meta(b, dst_db, dst_key, meta)?;
        return Ok(());
    }
    let version = ctx.engine.next_version(b);
    let mut copy = meta.clone();
    copy.version = version;
    ctx.engine.put_meta(b, dst_db, dst_key, &copy)?;
    for (sub, value) in ctx
        .engine
        .sub_keys(src_db, src_key, meta.version, usize::MAX)?
    {
        ctx.engine
            .put_sub_key(b, dst_db, dst_key, version, &sub, &value)?;
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    // Writes look keys up without counting hits or misses, as Redis does.
    let Some(meta) = ctx.peek(src)? else {
        return Err(no_such_key());
    };
    if src == dst {
        return Ok(if nx { Frame::Integer(0) } else { Frame::ok() });
    }
    let dst_existed = ctx.peek(dst)?.is_some();
    if nx && dst_existed {
        return Ok(Frame::Integer(0));
    }
    let mut b = ctx.engine.batch();
    ctx.engine.delete(&mut b, ctx.db, dst)?;
    let db = ctx.db;
    write_copy(ctx, &mut b, db, src, &meta, db, dst)?;
    ctx.engine.delete(&mut b, ctx.db, src)?;
    ctx.commit(b, 1)?;
    // Redis deletes the old destination and adds the key anew: always `new`.
    ctx.notify_new(false, dst);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    Ok(if nx { Frame::Integer(1) } else { Frame::ok() })
}

fn parse_db(arg: &[u8]) -> CmdResult<usize> {
    let n = int(arg)?;
    if n < 0 || n >= DATABASES as i64 {
        return Err(db_out_of_range());
    }
    Ok(n as usize)
}

pub fn move_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let dst_db = parse_db(&args[2])?;
    if dst_db == ctx.db {
        return Err(same_object());
    }
    let Some(meta) = ctx.peek(key)? else {
        return Ok(Frame::Integer(0));
    };
    if ctx.peek_in(dst_db, key)?.is_some() {
        return Ok(Frame::Integer(0));
    }
    let mut b = ctx.engine.batch();
    ctx.engine.delete(&mut b, dst_db, key)?;
    let db = ctx.db;
    write_copy(ctx, &mut b, db, key, &meta, dst_db, key)?;
    ctx.engine.delete(&mut b, ctx.db, key)?;
    ctx.commit(b, 1)?;
    ctx.notify_in(dst_db, notify::NEW, "new", key);
    ctx.notify(notify::GENERIC, "move_from", key);
    ctx.notify_in(dst_db, notify::GENERIC, "move_to", key);
    Ok(Frame::Integer(1))
}

pub fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    let mut dst_db = ctx.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            dst_db = parse_db(&args[i + 1])?;
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if src == dst && dst_db == ctx.db {
        return Err(same_object());
    }
    let Some(meta) = ctx.lookup(src)? else {
        return Ok(Frame::Integer(0));
    };
    let dst_existed = ctx.peek_in(dst_db, dst)?.is_some();
    if dst_existed && !replace {
        return Ok(Frame::Integer(0));
    }
    let mut b = ctx.engine.batch();
    ctx.engine.delete(&mut b, dst_db, dst)?;
    let db = ctx.db;
    write_copy(ctx, &mut b, db, src, &meta, dst_db, dst)?;
    ctx.commit(b, 1)?;
    // COPY ... REPLACE deletes the old destination first: always `new`.
    ctx.notify_in(dst_db, notify::NEW, "new", dst);
    ctx.notify_in(dst_db, notify::GENERIC, "copy_to", dst);
    Ok(Frame::Integer(1))
}

pub fn expire(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(err(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = int(&args[2])?;
    if unit_ms == 1000 {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid_expire(cmd));
        }
        when *= 1000;
    }
    if !absolute {
        when = when
            .checked_add(ctx.now_ms as i64)
            .ok_or_else(|| invalid_expire(cmd))?;
    }
    let key = &args[1];
    let Some(meta) = ctx.peek(key)? else {
        return Ok(Frame::Integer(0));
    };
    let current = (meta.expire_at_ms != 0).then_some(meta.expire_at_ms as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return Ok(Frame::Integer(0));
    }
    let mut b = ctx.engine.batch();
    let event = if when <= ctx.now_ms as i64 {
        ctx.engine.delete(&mut b, ctx.db, key)?;
        "del"
    } else {
        let mut updated = meta;
        updated.expire_at_ms = when as u64;
        ctx.engine.put_meta(&mut b, ctx.db, key, &updated)?;
        "expire"
    };
    ctx.commit(b, 1)?;
    ctx.notify(notify::GENERIC, event, key);
    Ok(Frame::Integer(1))
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes], unit_ms: i64, absolute: bool) -> CmdResult {
    let Some(meta) = ctx.lookup(&args[1])? else {
        return Ok(Frame::Integer(-2));
    };
    if meta.expire_at_ms == 0 {
        return Ok(Frame::Integer(-1));
    }
    let at = meta.expire_at_ms as i64;
    let ttl = if absolute {
        at
    } else {
        (at - ctx.now_ms as i64).max(0)
    };
    Ok(Frame::Integer(if unit_ms == 1 {
        ttl
    } else {
        (ttl + 500) / 1000
    }))
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(mut meta) = ctx.peek(&args[1])? else {
        return Ok(Frame::Integer(0));
    };
    if meta.expire_at_ms == 0 {
        return Ok(Frame::Integer(0));
    }
    meta.expire_at_ms = 0;
    let mut b = ctx.engine.batch();
    ctx.engine.put_meta(&mut b, ctx.db, &args[1], &meta)?;
    ctx.commit(b, 1)?;
    ctx.notify(notify::GENERIC, "persist", &args[1]);
    Ok(Frame::Integer(1))
}

/// The encoding OBJECT ENCODING reports: Redis's choice for a value of this
/// shape (Kiwi stores everything in RocksDB; the names keep tools happy).
pub fn encoding_name(meta: &Meta) -> &'static str {
    match meta.kind {
        KeyKind::String => {
            let v = &meta.payload;
            if v.len() <= 20 && kiwi_resp::request::parse_i64(v).is_some() {
                "int"
            } else if v.len() <= 44 {
                "embstr"
            } else {
                "raw"
            }
        }
        KeyKind::Hash => "hashtable",
        KeyKind::List => "quicklist",
        KeyKind::Set => "hashtable",
        KeyKind::ZSet => "skiplist",
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Print this help.",
];

pub fn help_frame(lines: &[&str]) -> Frame {
    Frame::Array(
        lines
            .iter()
            .map(|l| Frame::Simple(Bytes::copy_from_slice(l.as_bytes())))
            .collect(),
    )
}

pub fn object(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = lower(&args[1]);
    let spec = crate::table::lookup(b"object");
    if let Some(arity) = spec.and_then(|s| crate::table::subcommand_arity(s, &args[1])) {
        if !crate::table::arity_ok(arity, args.len()) {
            return Err(crate::error::wrong_arity(&format!("object|{sub}")));
        }
    }
    match sub.as_str() {
        "help" => Ok(help_frame(OBJECT_HELP)),
        "encoding" | "freq" | "idletime" | "refcount" => {
            let Some(meta) = ctx.peek(&args[2])? else {
                return Ok(Frame::Null);
            };
            match sub.as_str() {
                "encoding" => Ok(Frame::bulk(encoding_name(&meta))),
                "freq" => Err(err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
                "idletime" => Ok(Frame::Integer(0)),
                _ => {
                    let shared_int = encoding_name(&meta) == "int"
                        && kiwi_resp::request::parse_i64(&meta.payload).is_some_and(|v| (0..10_000).contains(&v));
                    Ok(Frame::Integer(if shared_int { i32::MAX as i64 } else { 1 }))
                }
            }
        }
        _ => Err(unknown_subcommand(&args[1], "OBJECT")),
    }
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Bytes MEMORY USAGE adds per key for its bookkeeping: the header record
/// Kiwi keeps and roughly what Redis's dict entry and object cost.
const KEY_OVERHEAD_BYTES: u64 = 56;
/// Bytes added per collection element (its sub-key prefix and record).
const ELEMENT_OVERHEAD_BYTES: u64 = 16;
/// Elements MEMORY USAGE samples by default (Redis's default).
const USAGE_DEFAULT_SAMPLES: u64 = 5;

pub fn memory(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = lower(&args[1]);
    if let Some(spec) = crate::table::lookup(b"memory") {
        if let Some(arity) = crate::table::subcommand_arity(spec, &args[1]) {
            if !crate::table::arity_ok(arity, args.len()) {
                return Err(crate::error::wrong_arity(&format!("memory|{sub}")));
            }
        }
    }
    match sub.as_str() {
        "usage" => memory_usage(ctx, args),
        "doctor" => Ok(Frame::bulk(
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
        )),
        "malloc-stats" => Ok(Frame::bulk("Stats not supported for the current allocator")),
        "purge" => Ok(Frame::ok()),
        "help" => Ok(help_frame(MEMORY_HELP)),
        _ => Err(unknown_subcommand(&args[1], "MEMORY")),
    }
}

/// MEMORY USAGE: an estimate of the bytes `key` takes, from its stored
/// sizes (see docs/compatibility.md): the key, its value or, for a
/// collection, the average of up to SAMPLES elements times its size.
fn memory_usage(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut samples = USAGE_DEFAULT_SAMPLES;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "SAMPLES") && i + 1 < args.len() {
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(syntax());
            }
            samples = n as u64;
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let key = &args[2];
    let Some(meta) = ctx.peek(key)? else {
        return Ok(Frame::Null);
    };
    let mut bytes = key.len() as u64 + KEY_OVERHEAD_BYTES + meta.payload.len() as u64;
    if meta.kind.is_collection() && meta.size > 0 {
        let limit = if samples == 0 {
            meta.size
        } else {
            samples.min(meta.size)
        };
        let seen = ctx
            .engine
            .sub_keys(ctx.db, key, meta.version, limit as usize)?;
        if !seen.is_empty() {
            let sampled: u64 = seen
                .iter()
                .map(|(sub, value)| (sub.len() + value.len()) as u64 + ELEMENT_OVERHEAD_BYTES)
                .sum();
            bytes += sampled * meta.size / seen.len() as u64;
        }
    }
    Ok(Frame::Integer(bytes as i64))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("del", del);
    r.handle("unlink", del);
    r.handle("exists", exists);
    r.handle("touch", exists);
    r.handle("type", type_);
    r.handle("keys", keys);
    r.handle("scan", scan);
    r.handle("randomkey", |ctx, _| randomkey(ctx));
    r.handle("rename", |ctx, args| rename(ctx, args, false));
    r.handle("renamenx", |ctx, args| rename(ctx, args, true));
    r.handle("move", move_);
    r.handle("copy", copy);
    r.handle("expire", |ctx, args| {
        expire(ctx, args, 1000, false, "expire")
    });
    r.handle("pexpire", |ctx, args| {
        expire(ctx, args, 1, false, "pexpire")
    });
    r.handle("expireat", |ctx, args| {
        expire(ctx, args, 1000, true, "expireat")
    });
    r.handle("pexpireat", |ctx, args| {
        expire(ctx, args, 1, true, "pexpireat")
    });
    r.handle("ttl", |ctx, args| ttl(ctx, args, 1000, false));
    r.handle("pttl", |ctx, args| ttl(ctx, args, 1, false));
    r.handle("expiretime", |ctx, args| ttl(ctx, args, 1000, true));
    r.handle("pexpiretime", |ctx, args| ttl(ctx, args, 1, true));
    r.handle("persist", persist);
    r.handle("object", object);
    r.handle("memory", memory);
}
