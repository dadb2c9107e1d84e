//! Argument parsing with Redis's rules and error texts.

use bytes::Bytes;

use crate::error::{not_integer, CmdError};

/// Strict integer parse (`string2ll`), else `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    kiwi_resp::request::parse_i64(arg).ok_or_else(not_integer)
}

/// Like [`int`] but with a custom error.
pub fn int_or(arg: &[u8], e: impl FnOnce() -> CmdError) -> Result<i64, CmdError> {
    kiwi_resp::request::parse_i64(arg).ok_or_else(e)
}

/// ASCII case-insensitive comparison with an upper-case literal.
pub fn is(arg: &[u8], upper: &str) -> bool {
    arg.eq_ignore_ascii_case(upper.as_bytes())
}

/// Lower-cased command or option name (for messages and lookups).
pub fn lower(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_lowercase()
}

/// Shorthand for a bulk reply of owned bytes.
pub fn bytes(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

/// A SCAN-family cursor as Redis's `parseScanCursorOrReply` reads it
/// (`strtoul`: an optional sign, decimal digits, a negative value wraps).
pub fn scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || crate::error::err("ERR invalid cursor");
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let value: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// C's `strtod` over a whole string (after optional leading whitespace):
/// decimal, hex (`0x1.8p3`) and `inf`/`infinity` spellings. Returns the
/// value and whether strtod would set ERANGE with an infinite or zero
/// result (overflow, or underflow to zero). `None` if any byte is left
/// over or the value is NaN.
pub fn strtod(text: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(text).ok()?.trim_start();
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let sign = if neg { -1.0 } else { 1.0 };
    if lower == "inf" || lower == "infinity" {
        return Some((sign * f64::INFINITY, false));
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return parse_hex_float(hex).map(|(v, erange)| (sign * v, erange));
    }
    // Rust's parser rounds like glibc's; restrict it to strtod's decimal grammar.
    let mut seen_digit = false;
    let mut seen_exp = false;
    let mut prev = b' ';
    for &c in lower.as_bytes() {
        match c {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_exp => {}
            b'e' if seen_digit && !seen_exp => seen_exp = true,
            b'+' | b'-' if prev == b'e' => {}
            _ => return None,
        }
        prev = c;
    }
    if !seen_digit {
        return None;
    }
    let v: f64 = lower.parse().ok()?;
    let mantissa_nonzero = lower
        .bytes()
        .take_while(|&b| b != b'e')
        .any(|b| (b'1'..=b'9').contains(&b));
    let erange = v.is_infinite() || (v == 0.0 && mantissa_nonzero);
    Some((sign * v, erange))
}

/// The part of a hex float after `0x`: `h[.h][p[+-]d]`.
fn parse_hex_float(hex: &str) -> Option<(f64, bool)> {
    let (digits, exp) = match hex.split_once('p') {
        Some((d, e)) => (d, e.parse::<i64>().ok()?),
        None => (hex, 0),
    };
    let (int_part, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    let mut mant: u64 = 0;
    let mut shift: i64 = 0;
    let mut sticky = false;
    for (i, c) in int_part.chars().chain(frac.chars()).enumerate() {
        let d = c.to_digit(16)? as u64;
        if mant >> 60 == 0 {
            mant = mant << 4 | d;
            if i >= int_part.len() {
                shift -= 4;
            }
        } else {
            sticky |= d != 0;
            if i < int_part.len() {
                shift += 4;
            }
        }
    }
    if sticky {
        mant |= 1;
    }
    let e = exp.saturating_add(shift).clamp(-2000, 2000) as i32;
    let v = (mant as f64) * 2f64.powi(e.max(-1000)) * 2f64.powi((e - e.max(-1000)).max(-1000));
    Some((v, v.is_infinite() || (v == 0.0 && mant != 0)))
}
