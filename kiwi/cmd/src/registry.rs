//! The command registry: every storage command — the built-in families and
//! modules alike — is registered here as a [`CommandSpec`] (name, arity,
//! flags such as `write`/`readonly`/`admin`, key positions) plus a
//! [`Handler`]. The executor only looks names up, so adding a command never
//! touches the dispatcher; the command table, COMMAND, ACL categories,
//! INFO commandstats and the metrics all see registered commands.
//!
//! Built-in families bind their handlers in their own `register` functions
//! (`strings::register`, ...); their specs are the static table in
//! [`crate::table`]. A module brings both: see `docs/extending.md` and the
//! `kiwi-example-module` crate. In cluster mode a registered `write` command
//! is proposed through the Raft log and applied by the same handler on every
//! replica, so a handler must be deterministic: it may use `ctx.now_ms` and
//! `ctx.rng` (decided by the leader), never the local clock or randomness.
//!
//! Commands that need a connection's state (PING, CLIENT, ACL, MULTI,
//! SUBSCRIBE, the blocking pops) are answered by the connection and the
//! blocking registry, not by handlers here.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::error::CmdResult;
use crate::exec::Ctx;
use crate::table::{CommandSpec, Route, COMMANDS};

/// Runs one command: `args[0]` is its name, arity already checked.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// A module: adds its commands to the registry.
pub type Module = fn(&mut Registry) -> Result<(), String>;

/// Longest command name (lookups lowercase names in a fixed buffer).
pub const NAME_MAX_BYTES: usize = 32;

struct Entry {
    spec: &'static CommandSpec,
    handler: Option<Handler>,
}

/// Every command, sorted by name.
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    fn builtin() -> Registry {
        let mut r = Registry {
            entries: COMMANDS
                .iter()
                .map(|spec| Entry {
                    spec,
                    handler: None,
                })
                .collect(),
        };
        for register in [
            crate::strings::register,
            crate::hll::register,
            crate::bitmaps::register,
            crate::hashes::register,
            crate::lists::register,
            crate::sets::register,
            crate::zsets::register,
            crate::sort::register,
            crate::keyspace::register,
            crate::server::register,
            crate::backup::register,
        ] {
            register(&mut r);
        }
        r
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| e.spec.name.cmp(name))
            .ok()
    }

    /// Binds the handler of a built-in command of the table.
    pub(crate) fn handle(&mut self, name: &str, handler: Handler) {
        let at = self.position(name);
        debug_assert!(at.is_some(), "{name} is not in the command table");
        if let Some(entry) = at.and_then(|i| self.entries.get_mut(i)) {
            debug_assert!(entry.handler.is_none(), "{name} registered twice");
            entry.handler = Some(handler);
        }
    }

    /// Adds a module's command. The spec must be a storage command with a
    /// new lowercase name; its key positions feed ACL key checks, COMMAND
    /// GETKEYS and cluster routing.
    pub fn add(&mut self, spec: &'static CommandSpec, handler: Handler) -> Result<(), String> {
        let name = spec.name;
        let well_formed = !name.is_empty()
            && name.len() <= NAME_MAX_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !well_formed {
            return Err(format!(
                "command name {name:?}: 1 to {NAME_MAX_BYTES} lowercase letters, digits, '.', '_' or '-'"
            ));
        }
        if spec.route != Route::Storage {
            return Err(format!(
                "command {name}: module commands run on storage (Route::Storage)"
            ));
        }
        if spec.arity == 0 || spec.step < 0 || (spec.first_key > 0 && spec.step == 0) {
            return Err(format!("command {name}: invalid arity or key positions"));
        }
        match self.entries.binary_search_by(|e| e.spec.name.cmp(name)) {
            Ok(_) => Err(format!("command {name} already exists")),
            Err(at) => {
                self.entries.insert(
                    at,
                    Entry {
                        spec,
                        handler: Some(handler),
                    },
                );
                Ok(())
            }
        }
    }
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Adds `modules` to the built-in commands. Call once, before the server
/// starts (the registry is fixed from its first use on).
pub fn install(modules: &[Module]) -> Result<(), String> {
    let mut r = Registry::builtin();
    for module in modules {
        module(&mut r)?;
    }
    REGISTRY.set(r).map_err(|_| {
        "commands are already in use: install modules before starting the server".into()
    })
}

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(Registry::builtin)
}

/// Every command, in name order.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    registry().entries.iter().map(|e| e.spec)
}

/// How many commands there are (COMMAND COUNT).
pub fn len() -> usize {
    registry().entries.len()
}

/// A command's place in [`all`] (per-command statistics are indexed by it).
pub fn index_of(name: &str) -> Option<usize> {
    registry().position(name)
}

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > NAME_MAX_BYTES {
        return None;
    }
    let mut lower = [0u8; NAME_MAX_BYTES];
    for (i, b) in name.iter().enumerate() {
        lower[i] = b.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&lower[..name.len()]).ok()?;
    let r = registry();
    r.position(lower).map(|i| r.entries[i].spec)
}

/// The handler of a storage command.
pub fn handler(name: &str) -> Option<Handler> {
    let r = registry();
    r.position(name).and_then(|i| r.entries[i].handler)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_command_has_a_handler() {
        for spec in all() {
            let handled = handler(spec.name).is_some() || crate::blocking::is_blocking(spec.name);
            assert_eq!(
                handled,
                spec.route == Route::Storage,
                "{}: storage commands need a handler, others must not have one",
                spec.name
            );
        }
    }

    #[test]
    fn modules_are_checked() {
        static BAD: CommandSpec = CommandSpec {
            name: "Bad Name",
            ..crate::table::MODULE_SPEC_TEMPLATE
        };
        static DUP: CommandSpec = CommandSpec {
            name: "get",
            ..crate::table::MODULE_SPEC_TEMPLATE
        };
        static NEW: CommandSpec = CommandSpec {
            name: "x.new",
            ..crate::table::MODULE_SPEC_TEMPLATE
        };
        let mut r = Registry::builtin();
        let h: Handler = |_, _| Ok(kiwi_resp::Frame::ok());
        assert!(r.add(&BAD, h).is_err());
        assert!(r.add(&DUP, h).is_err());
        assert!(r.add(&NEW, h).is_ok());
        assert!(r.position("x.new").is_some());
        assert!(r.add(&NEW, h).is_err(), "twice");
    }
}
