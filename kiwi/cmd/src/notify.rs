//! Keyspace notifications (`notify-keyspace-events`), as Redis 7.0 sends them.
//!
//! Commands report what they did with [`crate::Ctx::notify`]: an event class
//! (the letter in `notify-keyspace-events`), Redis's event name and the key.
//! The context keeps the events of the running command only when their class
//! is switched on, and the executor publishes them once the command is done,
//! on `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key), through the ordinary
//! pub/sub registry. Notifications are fire-and-forget like PUBLISH: they are
//! never stored and a slow subscriber is cut off at its output-buffer limit.
//!
//! In cluster mode every replica publishes the events of the entries it
//! applies to its own subscribers, so a subscriber on any node sees every
//! write (see docs/compatibility.md).

use bytes::Bytes;

use crate::state::Shared;

/// `g`: type-independent commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted-set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key deleted because its TTL passed.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key evicted under maxmemory (Kiwi never evicts).
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands (Kiwi has no streams).
pub const STREAM: u32 = 1 << 10;
/// `m`: a read that found no key.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (Kiwi has no modules).
pub const MODULE: u32 = 1 << 12;
/// `n`: a key added to a database.
pub const NEW: u32 = 1 << 13;
/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: Redis's alias for `g$lshzxetd` (not `m` or `n`).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Redis's error text for a bad class letter (after its CONFIG SET prefix).
pub const INVALID_CLASS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Parses a `notify-keyspace-events` value; `None` on a letter Redis rejects.
pub fn parse_flags(classes: &str) -> Option<u32> {
    classes.chars().try_fold(0u32, |flags, c| {
        let class = match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
        Some(flags | class)
    })
}

/// The flags as CONFIG GET shows them (Redis's `keyspaceEventsFlagsToString`:
/// `A` when every class of the alias is on, and then `n` is not shown).
pub fn flags_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for (class, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & class != 0 {
                s.push(c);
            }
        }
    }
    for (class, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & class != 0 {
            s.push(c);
        }
    }
    s
}

/// Whether events of `class` are published at all under `flags`: the class
/// must be on, and at least one of the two channel families.
pub fn wanted(flags: u32, class: u32) -> bool {
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

/// One event a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub event: &'static str,
    /// The logical database (what SELECT chose), as the channel names it.
    pub db: usize,
    pub key: Bytes,
}

/// Publishes `events` in order to the keyspace and keyevent channels that
/// `flags` switch on.
pub fn publish(shared: &Shared, flags: u32, events: &[KeyEvent]) {
    if events.is_empty() {
        return;
    }
    let limit = shared.config().pubsub_output_limit_bytes();
    for e in events {
        let event = Bytes::from_static(e.event.as_bytes());
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{}__:", e.db).into_bytes();
            channel.extend_from_slice(&e.key);
            shared.pubsub.publish(&Bytes::from(channel), &event, limit);
        }
        if flags & KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@{}__:{}", e.db, e.event));
            shared.pubsub.publish(&channel, &e.key, limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_like_redis() {
        // What redis-server 7.0 answers to CONFIG GET after CONFIG SET.
        for (set, get) in [
            ("KEA", "AKE"),
            ("Kx", "xK"),
            ("gE", "gE"),
            ("", ""),
            ("AKEmn", "AKEm"),
            ("g$lshzxetdn", "A"),
            ("Elshn", "lshnE"),
        ] {
            let flags = parse_flags(set).unwrap_or_else(|| panic!("{set} rejected"));
            assert_eq!(flags_to_string(flags), get, "CONFIG SET {set}");
        }
        assert_eq!(parse_flags("KEQ"), None);
        assert_eq!(parse_flags("K E"), None);
    }

    #[test]
    fn events_need_a_channel_family() {
        let flags = parse_flags("g").unwrap_or(0);
        assert!(!wanted(flags, GENERIC));
        let flags = parse_flags("gK").unwrap_or(0);
        assert!(wanted(flags, GENERIC));
        assert!(!wanted(flags, STRING));
    }
}
