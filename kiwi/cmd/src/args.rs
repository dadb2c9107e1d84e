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
