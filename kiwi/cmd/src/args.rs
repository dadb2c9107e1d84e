//! Argument parsing with Redis's rules and error texts.

use bytes::Bytes;

use crate::error::{not_float, not_integer, CmdError};

/// Strict integer parse (`string2ll`), else `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    kiwi_resp::request::parse_i64(arg).ok_or_else(not_integer)
}

/// Like [`int`] but with a custom error.
pub fn int_or(arg: &[u8], e: impl FnOnce() -> CmdError) -> Result<i64, CmdError> {
    kiwi_resp::request::parse_i64(arg).ok_or_else(e)
}

/// Parses a double as Redis's `string2d`/`strtold` would accept it: no
/// leading/trailing space, not empty, NaN rejected; `inf`, `+inf`, `-inf` allowed.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_float(arg).ok_or_else(not_float)
}

pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty()
        || s.len() > 5000
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts forms C does not ("1_0" no, but "1e" no either); both
            // reject junk. Hex floats are accepted by strtold but are rare.
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        return None;
    }
    Some(v)
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
