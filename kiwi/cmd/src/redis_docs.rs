//! Redis's own COMMAND INFO and COMMAND DOCS entries for Kiwi's commands.
//!
//! `ci/gen-command-data.sh` captures them (RESP3) from the real
//! redis-server that Kiwi is tested against; Kiwi serves them verbatim so
//! redis-cli's argument hints, key specs and ACL categories are exactly
//! Redis's. The table in [`crate::table`] stays the source of truth for
//! dispatch; a test checks the two agree on arity and key positions.

use std::collections::HashMap;
use std::sync::OnceLock;

use kiwi_resp::{decode_frame, Frame};

static INFO_RAW: &[u8] = include_bytes!("../data/redis-7.0-command-info.resp");
static DOCS_RAW: &[u8] = include_bytes!("../data/redis-7.0-command-docs.resp");

struct Data {
    info: HashMap<String, Frame>,
    docs: HashMap<String, Frame>,
}

fn name_of(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => Some(String::from_utf8_lossy(b).to_ascii_lowercase()),
        _ => None,
    }
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut info = HashMap::new();
        if let Ok(Some((Frame::Array(entries), _))) = decode_frame(INFO_RAW) {
            for entry in entries {
                if let Frame::Array(fields) = &entry {
                    if let Some(name) = fields.first().and_then(name_of) {
                        info.insert(name, entry);
                    }
                }
            }
        }
        let mut docs = HashMap::new();
        if let Ok(Some((Frame::Map(pairs), _))) = decode_frame(DOCS_RAW) {
            for (k, v) in pairs {
                if let Some(name) = name_of(&k) {
                    docs.insert(name, v);
                }
            }
        }
        Data { info, docs }
    })
}

/// Redis's COMMAND INFO entry for `name`, if Redis has the command.
pub fn info(name: &str) -> Option<Frame> {
    data().info.get(name).cloned()
}

/// Redis's COMMAND DOCS entry (the value part) for `name`.
pub fn docs(name: &str) -> Option<Frame> {
    data().docs.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::COMMANDS;

    fn int(f: &Frame) -> i64 {
        match f {
            Frame::Integer(n) => *n,
            other => panic!("expected integer, got {other:?}"),
        }
    }

    #[test]
    fn every_command_has_redis_data_and_agrees_with_it() {
        for spec in COMMANDS {
            let Some(Frame::Array(fields)) = info(spec.name) else {
                panic!(
                    "no Redis COMMAND INFO for {}; run ci/gen-command-data.sh",
                    spec.name
                );
            };
            assert!(
                docs(spec.name).is_some(),
                "no Redis COMMAND DOCS for {}",
                spec.name
            );
            assert_eq!(int(&fields[1]), spec.arity as i64, "arity of {}", spec.name);
            let keys = (int(&fields[3]), int(&fields[4]), int(&fields[5]));
            assert_eq!(
                keys,
                (
                    spec.first_key as i64,
                    spec.last_key as i64,
                    spec.step as i64
                ),
                "key positions of {}",
                spec.name
            );
            // Subcommands Kiwi implements must exist in Redis with the same arity.
            if let Frame::Array(subs) = &fields[9] {
                for (sub, arity, ..) in spec.subcommands {
                    let full = format!("{}|{}", spec.name, sub);
                    let found = subs.iter().find_map(|s| match s {
                        Frame::Array(f) if name_of(&f[0]).as_deref() == Some(full.as_str()) => {
                            Some(int(&f[1]))
                        }
                        _ => None,
                    });
                    assert_eq!(found, Some(*arity as i64), "subcommand {full}");
                }
            }
        }
    }
}
