//! MONITOR's lines: every command a client runs, as Redis prints it
//! (`+<unix seconds>.<micros> [<db> <addr>] "arg" ...`), fed to the
//! MONITOR clients registered in `kiwi_cmd::pubsub`.
//!
//! A command is fed once it is accepted (looked up, arity and auth checked),
//! before it runs, so commands queued in MULTI appear when queued, not when
//! EXEC runs them (see docs/compatibility.md). Administrative commands
//! (CONFIG SET, CLIENT LIST, MONITOR, ...) are not shown, and passwords
//! given to AUTH or HELLO are redacted, as in Redis.

use bytes::Bytes;
use kiwi_cmd::{CommandSpec, Shared};

use crate::connection::ConnState;

/// Sends the MONITOR line of `args` (accepted as `spec`) to every monitor.
pub fn feed(shared: &Shared, state: &ConnState, spec: &CommandSpec, args: &[Bytes]) {
    if is_admin(spec, args) {
        return;
    }
    // Redis feeds a command after it ran: a SELECT shows its new database.
    let db = match (spec.name, args.get(1)) {
        ("select", Some(arg)) => std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&d| d < kiwi_storage::DATABASES)
            .unwrap_or(state.db),
        _ => state.db,
    };
    let line = line(
        kiwi_runtime::time::now_us(),
        db,
        &state.client.addr,
        &redacted(spec.name, args),
    );
    let limit = shared.config().monitor_output_limit_bytes();
    shared.pubsub.feed_monitors(&Bytes::from(line), limit);
}

/// Whether Redis keeps `args` out of MONITOR: the command, or for a
/// container command its subcommand, is flagged `admin`.
fn is_admin(spec: &CommandSpec, args: &[Bytes]) -> bool {
    let admin = |flags: &str| flags.split(' ').any(|f| f == "admin");
    if admin(spec.flags) {
        return true;
    }
    args.get(1).is_some_and(|sub| {
        spec.subcommands
            .iter()
            .any(|(name, _, flags, _)| sub.eq_ignore_ascii_case(name.as_bytes()) && admin(flags))
    })
}

/// `args` with passwords replaced by `(redacted)`: every argument of AUTH,
/// and the two after HELLO's AUTH.
fn redacted(name: &str, args: &[Bytes]) -> Vec<Bytes> {
    let hidden = Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    match name {
        "auth" => out[1..].iter_mut().for_each(|a| *a = hidden.clone()),
        "hello" => {
            if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"AUTH")) {
                for a in out.iter_mut().skip(at + 1).take(2) {
                    *a = hidden.clone();
                }
            }
        }
        _ => {}
    }
    out
}

/// One MONITOR line (without the `+` and CRLF the status frame adds).
fn line(unix_us: u64, db: usize, addr: &str, args: &[Bytes]) -> String {
    let mut out = format!(
        "{}.{:06} [{db} {addr}]",
        unix_us / 1_000_000,
        unix_us % 1_000_000
    );
    for a in args {
        out.push(' ');
        quote_into(&mut out, a);
    }
    out
}

/// Redis's `sdscatrepr`: the bytes in double quotes, escaped.
fn quote_into(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_like_redis() {
        let args = [
            Bytes::from_static(b"set"),
            Bytes::from_static(b"k\"ey\\"),
            Bytes::from_static(b"a\r\n\t\x07\x08\x00\xff b"),
        ];
        assert_eq!(
            line(1_700_000_000_000_042, 3, "127.0.0.1:5000", &args),
            r#"1700000000.000042 [3 127.0.0.1:5000] "set" "k\"ey\\" "a\r\n\t\a\b\x00\xff b""#
        );
    }

    #[test]
    fn passwords_are_redacted() {
        let hello: Vec<Bytes> = ["hello", "3", "AUTH", "default", "secret", "SETNAME", "x"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        let out = redacted("hello", &hello);
        let shown: Vec<&[u8]> = out.iter().map(|b| &b[..]).collect();
        assert_eq!(
            shown,
            [
                &b"hello"[..],
                b"3",
                b"AUTH",
                b"(redacted)",
                b"(redacted)",
                b"SETNAME",
                b"x"
            ]
        );
    }
}
