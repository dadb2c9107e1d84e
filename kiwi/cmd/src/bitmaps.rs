//! Bitmap commands on string values (SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP, BITFIELD, BITFIELD_RO) with Redis 7.0's semantics (`bitops.c`):
//! bit 0 is the most significant bit of byte 0, strings grow with zero
//! bytes, offsets are bounded by `proto-max-bulk-len`.

use bytes::{Bytes, BytesMut};
use kiwi_resp::Frame;

use crate::args::{int, is};
use crate::error::{err, syntax, CmdError, CmdResult};
use crate::exec::Ctx;
use crate::notify;
use crate::strings::{put_string, Ttl};

fn bit_offset_error() -> CmdError {
    err("ERR bit offset is not an integer or out of range")
}

/// A bit offset argument (`#N` = N * `bits` when `bits` is given, as
/// BITFIELD allows), below 8 * proto-max-bulk-len.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], hash_bits: Option<u64>) -> CmdResult<u64> {
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let v = int(digits).map_err(|_| bit_offset_error())?;
    let v = v.checked_mul(mul).ok_or_else(bit_offset_error)?;
    if v < 0 || (v as u64 >> 3) >= ctx.max_bulk_len() {
        return Err(bit_offset_error());
    }
    Ok(v as u64)
}

/// Writes the string a bit command (SETBIT, BITFIELD) produced, keeping
/// its TTL. Redis sends `setbit` only if the command created the string,
/// grew it or flipped a bit.
fn store_bits(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    bits: BytesMut,
    existing: Option<&kiwi_storage::Meta>,
) -> CmdResult<()> {
    let bits = bits.freeze();
    let changed = existing.is_none_or(|m| m.payload != bits);
    put_string(ctx, key, bits, Ttl::Keep, existing)?;
    ctx.notify_new(existing.is_some(), key);
    if changed {
        ctx.notify(notify::STRING, "setbit", key);
    }
    Ok(())
}

/// The string at `key` grown with zero bytes to hold bit `max_bit`
/// (Redis's `lookupStringForBitCommand`), with its TTL.
fn grown(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    max_bit: u64,
) -> CmdResult<(BytesMut, Option<kiwi_storage::Meta>)> {
    let existing = ctx.peek_string(key)?;
    let mut v = BytesMut::from(existing.as_ref().map(|m| &m.payload[..]).unwrap_or(b""));
    let need = (max_bit >> 3) as usize + 1;
    if v.len() < need {
        v.resize(need, 0);
    }
    Ok((v, existing))
}

fn get_bit(v: &[u8], bit: u64) -> u8 {
    v.get((bit >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (bit & 7))) & 1)
}

fn set_bit(v: &mut [u8], bit: u64, on: bool) {
    let mask = 1u8 << (7 - (bit & 7));
    let byte = &mut v[(bit >> 3) as usize];
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

pub fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let on = match int(&args[3]) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(err("ERR bit is not an integer or out of range")),
    };
    let (mut v, existing) = grown(ctx, &args[1], offset)?;
    let old = get_bit(&v, offset);
    set_bit(&mut v, offset, on);
    store_bits(ctx, &args[1], v, existing.as_ref())?;
    Ok(Frame::Integer(old as i64))
}

pub fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let value = ctx
        .get_string(&args[1])?
        .map(|m| m.payload)
        .unwrap_or_default();
    Ok(Frame::Integer(get_bit(&value, offset) as i64))
}

/// A normalized range of bits (inclusive), or `None` if empty. `start` and
/// `end` are in bytes or bits (`in_bits`), negative from the end, clamped.
fn bit_range(len_bytes: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits {
        len_bytes as i64 * 8
    } else {
        len_bytes as i64
    };
    let norm = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (norm(start), norm(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

fn unit(arg: &[u8]) -> CmdResult<bool> {
    if is(arg, "BIT") {
        Ok(true)
    } else if is(arg, "BYTE") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

/// Set bits in the inclusive bit range; `v` holds it.
fn count_ones(v: &[u8], lo: u64, hi: u64) -> i64 {
    let ones =
        |range: std::ops::RangeInclusive<u64>| range.filter(|&b| get_bit(v, b) == 1).count() as i64;
    let (first, last) = (lo >> 3, hi >> 3);
    if first == last {
        return ones(lo..=hi);
    }
    let middle: i64 = v[(first + 1) as usize..last as usize]
        .iter()
        .map(|b| b.count_ones() as i64)
        .sum();
    ones(lo..=first * 8 + 7) + middle + ones(last * 8..=hi)
}

pub fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(meta) = ctx.get_string(&args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let v = meta.payload;
    let range = match args.len() {
        2 => bit_range(v.len(), 0, -1, false),
        4 | 5 => {
            let (start, end) = (int(&args[2])?, int(&args[3])?);
            if start < 0 && end < 0 && start > end {
                return Ok(Frame::Integer(0));
            }
            let in_bits = match args.get(4) {
                Some(u) => unit(u)?,
                None => false,
            };
            bit_range(v.len(), start, end, in_bits)
        }
        _ => return Err(syntax()),
    };
    Ok(Frame::Integer(match range {
        Some((lo, hi)) => count_ones(&v, lo, hi),
        None => 0,
    }))
}

pub fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bit = int(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(err("ERR The bit argument must be 1 or 0."));
    }
    let Some(meta) = ctx.get_string(&args[1])? else {
        return Ok(Frame::Integer(if bit == 1 { -1 } else { 0 }));
    };
    let v = meta.payload;
    let (range, end_given) = match args.len() {
        3 => (bit_range(v.len(), 0, -1, false), false),
        4..=6 => {
            let start = int(&args[3])?;
            let in_bits = match args.get(5) {
                Some(u) => unit(u)?,
                None => false,
            };
            let end = match args.get(4) {
                Some(e) => int(e)?,
                None => -1,
            };
            (bit_range(v.len(), start, end, in_bits), args.len() >= 5)
        }
        _ => return Err(syntax()),
    };
    let Some((lo, hi)) = range else {
        return Ok(Frame::Integer(-1));
    };
    let want = bit as u8;
    // Bytes that cannot hold the bit sought are skipped whole.
    let skip = if want == 1 { 0x00 } else { 0xFF };
    let mut found = None;
    let mut b = lo;
    while b <= hi {
        if b & 7 == 0 && b + 7 <= hi && v[(b >> 3) as usize] == skip {
            b += 8;
            continue;
        }
        if get_bit(&v, b) == want {
            found = Some(b);
            break;
        }
        b += 1;
    }
    Ok(Frame::Integer(match found {
        Some(pos) => pos as i64,
        // Past the end the string reads as zeros, unless an end was given.
        None if want == 0 && !end_given => hi as i64 + 1,
        None => -1,
    }))
}

pub fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = &args[1];
    let kind = if is(op, "AND") {
        b'&'
    } else if is(op, "OR") {
        b'|'
    } else if is(op, "XOR") {
        b'^'
    } else if is(op, "NOT") {
        b'~'
    } else {
        return Err(syntax());
    };
    if kind == b'~' && args.len() != 4 {
        return Err(err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        sources.push(ctx.get_string(key)?.map(|m| m.payload).unwrap_or_default());
    }
    let max_len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    if max_len == 0 {
        let existed = ctx.peek(&args[2])?.is_some();
        let mut b = ctx.engine.batch();
        let removed = ctx.engine.delete(&mut b, ctx.db, &args[2])?;
        ctx.commit(b, removed as u64)?;
        if existed {
            ctx.notify(notify::GENERIC, "del", &args[2]);
        }
        return Ok(Frame::Integer(0));
    }
    let byte = |s: &Bytes, i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = BytesMut::with_capacity(max_len);
    for i in 0..max_len {
        let first = byte(&sources[0], i);
        let v = sources[1..].iter().fold(first, |acc, s| match kind {
            b'&' => acc & byte(s, i),
            b'|' => acc | byte(s, i),
            _ => acc ^ byte(s, i),
        });
        out.extend_from_slice(&[if kind == b'~' { !first } else { v }]);
    }
    let existed = ctx.notifying() && ctx.peek(&args[2])?.is_some();
    put_string(ctx, &args[2], out.freeze(), Ttl::Clear, None)?;
    ctx.notify_new(existed, &args[2]);
    ctx.notify(notify::STRING, "set", &args[2]);
    Ok(Frame::Integer(max_len as i64))
}

// ---- BITFIELD ---------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

fn field_type(arg: &[u8]) -> CmdResult<(bool, u32)> {
    let bad = || {
        err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    };
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(bad()),
    };
    let bits = int(&arg[1..]).map_err(|_| bad())?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// Reads `bits` bits at `offset` (zeros past the end) as an unsigned number.
fn read_field(v: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |acc, j| (acc << 1) | get_bit(v, offset + j) as u64)
}

fn write_field(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let on = (value >> (bits as u64 - 1 - j)) & 1 == 1;
        set_bit(v, offset + j, on);
    }
}

/// The field's value range.
fn field_range(signed: bool, bits: u32) -> (i128, i128) {
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

/// `value` after overflow handling: `None` when FAIL refuses it.
fn fit(value: i128, signed: bool, bits: u32, overflow: Overflow) -> Option<i128> {
    let (min, max) = field_range(signed, bits);
    if (min..=max).contains(&value) {
        return Some(value);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if value > max { max } else { min }),
        Overflow::Wrap => {
            let modulus = 1i128 << bits;
            let wrapped = value.rem_euclid(modulus);
            Some(if signed && wrapped > max {
                wrapped - modulus
            } else {
                wrapped
            })
        }
    }
}

fn as_number(raw: u64, signed: bool, bits: u32) -> i128 {
    if signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
        raw as i128 - (1i128 << bits)
    } else if signed {
        raw as i64 as i128
    } else {
        raw as i128
    }
}

fn to_raw(value: i128, bits: u32) -> u64 {
    (value.rem_euclid(1i128 << bits)) as u64
}

pub fn bitfield(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> CmdResult {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let op = if is(sub, "GET") && remaining >= 2 {
            FieldOp::Get
        } else if is(sub, "SET") && remaining >= 3 {
            FieldOp::Set(0)
        } else if is(sub, "INCRBY") && remaining >= 3 {
            FieldOp::IncrBy(0)
        } else if is(sub, "OVERFLOW") && remaining >= 1 {
            let kind = &args[j + 1];
            overflow = if is(kind, "WRAP") {
                Overflow::Wrap
            } else if is(kind, "SAT") {
                Overflow::Sat
            } else if is(kind, "FAIL") {
                Overflow::Fail
            } else {
                return Err(err("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(syntax());
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], Some(bits as u64))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(int(&args[j + 3])?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(int(&args[j + 3])?),
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let writes = fields.iter().filter(|f| f.op != FieldOp::Get);
    let highest = writes.map(|f| f.offset + f.bits as u64 - 1).max();
    let Some(highest) = highest else {
        // Reads only: a missing key reads as zeros.
        let v = ctx
            .get_string(&args[1])?
            .map(|m| m.payload)
            .unwrap_or_default();
        let replies = fields
            .iter()
            .map(|f| {
                Frame::Integer(as_number(read_field(&v, f.offset, f.bits), f.signed, f.bits) as i64)
            })
            .collect();
        return Ok(Frame::Array(replies));
    };
    if read_only {
        return Err(err("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let (mut v, existing) = grown(ctx, &args[1], highest)?;
    let mut replies = Vec::with_capacity(fields.len());
    for f in &fields {
        let old = as_number(read_field(&v, f.offset, f.bits), f.signed, f.bits);
        let (new, reply) = match f.op {
            FieldOp::Get => {
                replies.push(Frame::Integer(old as i64));
                continue;
            }
            FieldOp::IncrBy(by) => {
                let new = fit(old + by as i128, f.signed, f.bits, f.overflow);
                (new, new)
            }
            FieldOp::Set(value) => {
                // Unsigned fields take the argument's 64-bit pattern, as Redis.
                let value = if f.signed {
                    value as i128
                } else {
                    value as u64 as i128
                };
                (fit(value, f.signed, f.bits, f.overflow), Some(old))
            }
        };
        match (new, reply) {
            (Some(new), Some(reply)) => {
                write_field(&mut v, f.offset, f.bits, to_raw(new, f.bits));
                replies.push(Frame::Integer(reply as i64));
            }
            _ => replies.push(Frame::Null),
        }
    }
    store_bits(ctx, &args[1], v, existing.as_ref())?;
    Ok(Frame::Array(replies))
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("setbit", setbit);
    r.handle("getbit", getbit);
    r.handle("bitcount", bitcount);
    r.handle("bitpos", bitpos);
    r.handle("bitop", bitop);
    r.handle("bitfield", |ctx, args| bitfield(ctx, args, false));
    r.handle("bitfield_ro", |ctx, args| bitfield(ctx, args, true));
}
