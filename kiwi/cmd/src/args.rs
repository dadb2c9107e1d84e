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
