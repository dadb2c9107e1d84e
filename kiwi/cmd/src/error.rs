//! Command errors and Redis's exact error texts.

use kiwi_resp::Frame;
use kiwi_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// A reply error; the text includes its code (`ERR ...`, `WRONGTYPE ...`).
    #[error("{0}")]
    Reply(String),
    /// The disk failed. Reported to the client, logged, never a panic.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

pub type CmdResult<T = Frame> = Result<T, CmdError>;

impl CmdError {
    pub fn into_frame(self) -> Frame {
        match self {
            CmdError::Reply(msg) => Frame::error(msg),
            CmdError::Storage(e) => {
                tracing::error!(error = %e, "storage error");
                Frame::error(format!("ERR storage error: {e}"))
            }
        }
    }
}

pub fn err(msg: impl Into<String>) -> CmdError {
    CmdError::Reply(msg.into())
}

pub fn syntax() -> CmdError {
    err("ERR syntax error")
}

pub fn not_integer() -> CmdError {
    err("ERR value is not an integer or out of range")
}

pub fn not_float() -> CmdError {
    err("ERR value is not a valid float")
}

pub fn wrongtype() -> CmdError {
    err("WRONGTYPE Operation against a key holding the wrong kind of value")
}

pub fn overflow() -> CmdError {
    err("ERR increment or decrement would overflow")
}

pub fn no_such_key() -> CmdError {
    err("ERR no such key")
}

pub fn db_out_of_range() -> CmdError {
    err("ERR DB index is out of range")
}

pub fn same_object() -> CmdError {
    err("ERR source and destination objects are the same")
}

pub fn invalid_expire(cmd: &str) -> CmdError {
    err(format!("ERR invalid expire time in '{cmd}' command"))
}

pub fn string_too_long() -> CmdError {
    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

pub fn wrong_arity(name: &str) -> CmdError {
    err(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
    err(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        cmd.to_ascii_uppercase()
    ))
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, as Redis words it.
pub fn unknown_command(args: &[bytes::Bytes]) -> CmdError {
    let name = args
        .first()
        .map(|a| lossy_prefix(a, 128))
        .unwrap_or_default();
    let mut rest = String::new();
    for a in args.iter().skip(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push_str(&format!("'{}' ", lossy_prefix(a, room)));
    }
    err(format!(
        "ERR unknown command '{name}', with args beginning with: {rest}"
    ))
}

fn lossy_prefix(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}
