//! Access control lists (Redis 6+ ACL, the common cases): users with
//! passwords, allowed commands (by name, subcommand and category), key
//! patterns and pub/sub channel patterns; ACL SETUSER/GETUSER/DELUSER/
//! LIST/USERS/WHOAMI/CAT; the checks a connection makes before running a
//! command (`NOPERM ...`).
//!
//! Permissions are per "unit": a command, or one subcommand of a command
//! that has them (`config|get`). Categories come from Redis's own COMMAND
//! INFO data ([`crate::redis_docs`]), so `+@read` means what it means in
//! Redis. Users live in memory on each node (as in Redis without an ACL
//! file); `requirepass` is the default user's password.
//!
//! The common case stays free: while the only user is an unrestricted
//! `default`, [`Acl::is_open`] lets connections skip every check.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;
use kiwi_resp::Frame;
use sha2::{Digest, Sha256};

use crate::args::lower;
use crate::glob;
use crate::table::CommandSpec;

/// Redis's categories, in its order (ACL CAT).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Most users ACL SETUSER may create: each costs a few KiB, and clients
/// decide how many.
pub const USERS_MAX: usize = 10_000;
/// Largest ACL file LOAD reads (10 000 users of long rule lines fit).
pub const ACL_FILE_MAX_BYTES: u64 = 64 << 20;
/// Redis's reason for a rule naming no command or category.
const UNKNOWN_COMMAND: &str = "Unknown command or category name in ACL";

/// The units permissions are given for, with their categories.
struct Units {
    names: Vec<String>,
    categories: Vec<Vec<&'static str>>,
    index: HashMap<String, usize>,
    /// Command name -> its subcommand units (empty: the command is a unit).
    subcommands: HashMap<&'static str, Vec<usize>>,
}

fn categories_of(entry: &Frame) -> Vec<&'static str> {
    let (Frame::Array(fields) | Frame::Set(fields)) = entry else {
        return Vec::new();
    };
    let Some(Frame::Set(cats) | Frame::Array(cats)) = fields.get(6) else {
        return Vec::new();
    };
    cats.iter()
        .filter_map(|c| match c {
            Frame::Simple(b) | Frame::Bulk(b) => {
                let name = String::from_utf8_lossy(b);
                let name = name.trim_start_matches('@');
                CATEGORIES.iter().copied().find(|k| *k == name)
            }
            _ => None,
        })
        .collect()
}

/// Categories of a command Redis does not know (a module's), from its flags.
fn categories_from_flags(flags: &str) -> Vec<&'static str> {
    let has = |f: &str| flags.split(' ').any(|x| x == f);
    let mut cats = vec![if has("fast") { "fast" } else { "slow" }];
    if has("write") {
        cats.push("write");
    }
    if has("readonly") {
        cats.push("read");
    }
    if has("admin") {
        cats.extend(["admin", "dangerous"]);
    }
    cats
}

fn units() -> &'static Units {
    static UNITS: OnceLock<Units> = OnceLock::new();
    UNITS.get_or_init(|| {
        let mut u = Units {
            names: Vec::new(),
            categories: Vec::new(),
            index: HashMap::new(),
            subcommands: HashMap::new(),
        };
        let add = |u: &mut Units, name: String, cats: Vec<&'static str>| {
            u.index.insert(name.clone(), u.names.len());
            u.names.push(name);
            u.categories.push(cats);
            u.names.len() - 1
        };
        for spec in crate::registry::all() {
            let entry = crate::redis_docs::info(spec.name);
            let subs: Vec<Frame> = match &entry {
                Some(Frame::Array(f)) => match f.get(9) {
                    Some(Frame::Array(s)) | Some(Frame::Set(s)) => s.clone(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            if subs.is_empty() {
                let cats = entry
                    .as_ref()
                    .map(categories_of)
                    .unwrap_or_else(|| categories_from_flags(spec.flags));
                add(&mut u, spec.name.to_string(), cats);
                continue;
            }
            let mut ids = Vec::new();
            // The container is a unit too, with its own categories (as in
            // Redis's ACL CAT); only COMMAND can be called without a subcommand.
            let cats = entry.as_ref().map(categories_of).unwrap_or_default();
            ids.push(add(&mut u, spec.name.to_string(), cats));
            for sub in &subs {
                if let Frame::Array(f) = sub {
                    if let Some(Frame::Bulk(n) | Frame::Simple(n)) = f.first() {
                        let name = String::from_utf8_lossy(n).to_ascii_lowercase();
                        ids.push(add(&mut u, name, categories_of(sub)));
                    }
                }
            }
            u.subcommands.insert(spec.name, ids);
        }
        u
    })
}

/// The unit a call runs as; `None` for an unknown subcommand (the command
/// itself refuses it, so there is nothing to protect).
fn unit_of(spec: &CommandSpec, args: &[Bytes]) -> Option<usize> {
    let u = units();
    match u.subcommands.get(spec.name) {
        Some(_) => {
            let Some(sub) = args.get(1) else {
                return u.index.get(spec.name).copied();
            };
            u.index
                .get(&format!("{}|{}", spec.name, lower(sub)))
                .copied()
        }
        None => u.index.get(spec.name).copied(),
    }
}

/// The units a `+name` / `-name` rule names, or `None` if it names nothing.
fn units_named(name: &str) -> Option<Vec<usize>> {
    let u = units();
    if let Some(ids) = u.subcommands.get(name) {
        return Some(ids.clone());
    }
    u.index.get(name).map(|&i| vec![i])
}

fn units_in(category: &str) -> Vec<usize> {
    let u = units();
    (0..u.names.len())
        .filter(|&i| u.categories[i].contains(&category))
        .collect()
}

/// A command rule as ACL LIST shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Command { allow: bool, name: String },
    Category { allow: bool, name: &'static str },
}

/// Key or channel patterns: everything (`~*`, `allkeys`), or a list.
#[derive(Clone, Debug, Default)]
struct Patterns {
    all: bool,
    list: Vec<String>,
}

impl Patterns {
    fn allow_all(&mut self) {
        self.all = true;
        self.list.clear();
    }

    /// Adds a pattern (`*` means all); refused after "all", with the end of
    /// Redis's explanation (`after_all`).
    fn add(&mut self, pattern: &str, after_all: &str) -> Result<(), String> {
        if self.all {
            return Err(format!(
                "Adding a pattern after the * pattern (or the {after_all}"
            ));
        }
        if pattern == "*" {
            self.allow_all();
        } else if !self.list.iter().any(|p| p == pattern) {
            self.list.push(pattern.to_string());
        }
        Ok(())
    }

    /// Whether `name` is covered: glob-matched, or for `literal` (a
    /// PSUBSCRIBE pattern) equal to a pattern.
    fn matches(&self, name: &[u8], literal: bool) -> bool {
        self.all
            || self.list.iter().any(|p| {
                if literal {
                    p.as_bytes() == name
                } else {
                    glob::matches(p.as_bytes(), name, false)
                }
            })
    }

    /// `~*` / `~a ~b` (with `prefix` `~` or `&`).
    fn text(&self, prefix: char) -> String {
        if self.all {
            return format!("{prefix}*");
        }
        let parts: Vec<String> = self.list.iter().map(|p| format!("{prefix}{p}")).collect();
        parts.join(" ")
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// SHA-256 of each password, lowercase hex (as ACL GETUSER shows them).
    passwords: BTreeSet<String>,
    sanitize_payload: bool,
    keys: Patterns,
    channels: Patterns,
    /// Started from `+@all` (else `-@all`).
    base_all: bool,
    rules: Vec<Rule>,
    allowed: Vec<bool>,
}

pub fn password_hash(password: &[u8]) -> String {
    Sha256::digest(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, nothing allowed.
    fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: BTreeSet::new(),
            sanitize_payload: false,
            keys: Patterns::default(),
            channels: Patterns::default(),
            base_all: false,
            rules: Vec::new(),
            allowed: vec![false; units().names.len()],
        }
    }

    /// The default user: everything allowed; `requirepass` its password.
    fn default_user(requirepass: &str) -> User {
        let mut u = User::new("default");
        u.enabled = true;
        u.keys.allow_all();
        u.channels.allow_all();
        u.base_all = true;
        u.allowed.fill(true);
        u.set_requirepass(requirepass);
        u
    }

    fn set_requirepass(&mut self, requirepass: &str) {
        self.passwords.clear();
        self.nopass = requirepass.is_empty();
        if !requirepass.is_empty() {
            self.passwords.insert(password_hash(requirepass.as_bytes()));
        }
    }

    fn is_unrestricted(&self) -> bool {
        self.enabled
            && self.nopass
            && self.keys.all
            && self.channels.all
            && self.base_all
            && self.rules.is_empty()
    }

    pub fn check_password(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&password_hash(password)))
    }

    /// Recomputes `allowed` from the base and the rules.
    fn recompute(&self) -> Vec<bool> {
        let mut allowed = vec![self.base_all; units().names.len()];
        for rule in &self.rules {
            let (allow, ids) = match rule {
                Rule::Command { allow, name } => (*allow, units_named(name).unwrap_or_default()),
                Rule::Category { allow, name } => (*allow, units_in(name)),
            };
            for i in ids {
                allowed[i] = allow;
            }
        }
        allowed
    }

    /// Adds a command or category rule the way Redis 7.0 keeps them: a
    /// rule replaces earlier ones it covers (the same command or category;
    /// for a category, rules of the commands in it), and a rule that
    /// changes nothing is not kept.
    fn add_rule(&mut self, rule: Rule) {
        let covered: BTreeSet<usize> = match &rule {
            Rule::Command { name, .. } => {
                units_named(name).unwrap_or_default().into_iter().collect()
            }
            Rule::Category { name, .. } => units_in(name).into_iter().collect(),
        };
        self.rules.retain(|r| match (r, &rule) {
            (Rule::Category { name: a, .. }, Rule::Category { name: b, .. }) => a != b,
            (Rule::Category { .. }, Rule::Command { .. }) => true,
            (Rule::Command { name, .. }, _) => {
                let ids = units_named(name).unwrap_or_default();
                !ids.iter().all(|i| covered.contains(i))
            }
        });
        let before = self.recompute();
        self.rules.push(rule);
        let after = self.recompute();
        if after == before {
            self.rules.pop();
        }
        self.allowed = after;
    }

    /// Applies one ACL SETUSER rule; the error is Redis's reason text.
    fn apply(&mut self, op: &str) -> Result<(), String> {
        const SYNTAX: &str = "Syntax error";
        const UNKNOWN: &str = UNKNOWN_COMMAND;
        if op.is_empty() {
            return Ok(()); // Redis: an empty rule is a no-op
        }
        let keyword = op.to_ascii_lowercase();
        match keyword.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys.allow_all(),
            "resetkeys" => self.keys = Patterns::default(),
            "allchannels" => self.channels.allow_all(),
            "resetchannels" => self.channels = Patterns::default(),
            "allcommands" | "+@all" => {
                self.base_all = true;
                self.rules.clear();
                self.allowed.fill(true);
            }
            "nocommands" | "-@all" => {
                self.base_all = false;
                self.rules.clear();
                self.allowed.fill(false);
            }
            "sanitize-payload" => self.sanitize_payload = true,
            "skip-sanitize-payload" => self.sanitize_payload = false,
            "reset" => {
                for step in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "off",
                    "-@all",
                    "sanitize-payload",
                ] {
                    self.apply(step)?;
                }
            }
            _ => {
                let (first, rest) = op.split_at(op.chars().next().map_or(0, char::len_utf8));
                match first {
                    ">" => {
                        self.passwords.insert(password_hash(rest.as_bytes()));
                        self.nopass = false;
                    }
                    "#" => {
                        let valid = rest.len() == 64
                            && rest
                                .bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                        if !valid {
                            return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".into());
                        }
                        self.passwords.insert(rest.to_string());
                        self.nopass = false;
                    }
                    "<" | "!" => {
                        let hash = if first == "<" {
                            password_hash(rest.as_bytes())
                        } else {
                            rest.to_string()
                        };
                        if !self.passwords.remove(&hash) {
                            return Err("The password you are trying to remove from the user does not exist".into());
                        }
                    }
                    "~" => self.keys.add(rest, "'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")?,
                    "&" => self.channels.add(rest, "'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")?,
                    "+" | "-" => {
                        let allow = first == "+";
                        if let Some(cat) = rest.strip_prefix('@') {
                            let cat = cat.to_ascii_lowercase();
                            let name = CATEGORIES
                                .iter()
                                .copied()
                                .find(|c| *c == cat)
                                .ok_or(UNKNOWN)?;
                            self.add_rule(Rule::Category { allow, name });
                        } else {
                            let name = rest.to_ascii_lowercase();
                            if units_named(&name).is_none() {
                                // A `command|first-arg` rule for a command
                                // without subcommands is not supported.
                                return Err(
                                    if name.contains('|')
                                        && units().index.contains_key(
                                            name.split('|').next().unwrap_or_default(),
                                        )
                                    {
                                        SYNTAX.into()
                                    } else {
                                        UNKNOWN.into()
                                    },
                                );
                            }
                            self.add_rule(Rule::Command { allow, name });
                        }
                    }
                    _ => return Err(SYNTAX.into()),
                }
            }
        }
        Ok(())
    }

    /// The command part of ACL LIST / GETUSER: `+@all` or `-@all`, then
    /// category rules, then command rules, in the order they were given.
    fn describe_commands(&self) -> String {
        let mut out = String::from(if self.base_all { "+@all" } else { "-@all" });
        let cats = self
            .rules
            .iter()
            .filter(|r| matches!(r, Rule::Category { .. }));
        let cmds = self
            .rules
            .iter()
            .filter(|r| matches!(r, Rule::Command { .. }));
        for rule in cats.chain(cmds) {
            let (allow, name) = match rule {
                Rule::Command { allow, name } => (*allow, name.clone()),
                Rule::Category { allow, name } => (*allow, format!("@{name}")),
            };
            out.push(' ');
            out.push(if allow { '+' } else { '-' });
            out.push_str(&name);
        }
        out
    }

    fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        if self.sanitize_payload {
            flags.push("sanitize-payload");
        }
        flags
    }

    fn keys_text(&self) -> String {
        self.keys.text('~')
    }

    /// ACL LIST says `resetchannels` before a channel list (GETUSER does not).
    fn channels_text(&self, for_list: bool) -> String {
        let text = self.channels.text('&');
        match (self.channels.all, for_list, text.is_empty()) {
            (false, true, true) => "resetchannels".into(),
            (false, true, false) => format!("resetchannels {text}"),
            _ => text,
        }
    }

    /// One ACL LIST line.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = vec![format!("user {}", self.name)];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|h| format!("#{h}")));
        let keys = self.keys_text();
        if !keys.is_empty() {
            parts.push(keys);
        }
        parts.push(self.channels_text(true));
        parts.push(self.describe_commands());
        parts.join(" ")
    }

    /// ACL GETUSER's reply (Redis 7.0's field order).
    pub fn getuser_frame(&self) -> Frame {
        let strings = |v: Vec<String>| Frame::Array(v.into_iter().map(Frame::bulk).collect());
        Frame::Map(vec![
            (
                Frame::bulk("flags"),
                strings(self.flags().iter().map(|f| f.to_string()).collect()),
            ),
            (
                Frame::bulk("passwords"),
                strings(self.passwords.iter().cloned().collect()),
            ),
            (
                Frame::bulk("commands"),
                Frame::bulk(self.describe_commands()),
            ),
            (Frame::bulk("keys"), Frame::bulk(self.keys_text())),
            (
                Frame::bulk("channels"),
                Frame::bulk(self.channels_text(false)),
            ),
            (Frame::bulk("selectors"), Frame::Array(Vec::new())),
        ])
    }

    /// `None` if the user may run the call; else the NOPERM error.
    pub fn check(&self, spec: &CommandSpec, args: &[Bytes]) -> Option<Frame> {
        // Commands a client may run before logging in (AUTH, HELLO) are
        // never refused, as in Redis.
        let no_auth = spec.flags.split(' ').any(|f| f == "no_auth");
        if let Some(unit) = unit_of(spec, args).filter(|_| !no_auth) {
            if !self.allowed[unit] {
                return Some(Frame::error(format!(
                    "NOPERM this user has no permissions to run the '{}' command",
                    units().names[unit]
                )));
            }
        }
        if !self.keys.all {
            let denied = spec
                .keys_of(args)
                .iter()
                .any(|k| !self.keys.matches(k, false));
            if denied {
                return Some(Frame::error(
                    "NOPERM this user has no permissions to access one of the keys used as arguments",
                ));
            }
        }
        None
    }

    /// Whether every command is allowed: what the cluster administration
    /// commands (RAFT.*, not in Redis's categories) require.
    pub fn may_run_everything(&self) -> bool {
        self.base_all && self.allowed.iter().all(|&a| a)
    }

    /// Whether the user may use these channels (PUBLISH, SUBSCRIBE) or, for
    /// PSUBSCRIBE, these patterns (which must match a pattern literally).
    pub fn may_use_channels(&self, channels: &[Bytes], literal: bool) -> bool {
        self.channels.all || channels.iter().all(|c| self.channels.matches(c, literal))
    }
}

/// `NOPERM` for channels.
pub fn channels_denied() -> Frame {
    Frame::error(
        "NOPERM this user has no permissions to access one of the channels used as arguments",
    )
}

/// Every user, shared by all connections of the node.
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// The only user is an unrestricted `default`: nothing to check.
    open: AtomicBool,
}

impl Acl {
    pub fn new(requirepass: &str) -> Acl {
        let default = User::default_user(requirepass);
        let acl = Acl {
            open: AtomicBool::new(default.is_unrestricted()),
            users: RwLock::new(BTreeMap::from([("default".to_string(), Arc::new(default))])),
        };
        acl.refresh_open();
        acl
    }

    /// True while no check can fail (lock-free; read per command).
    pub fn is_open(&self) -> bool {
        self.open.load(Relaxed)
    }

    fn refresh_open(&self) {
        if let Ok(users) = self.users.read() {
            let open =
                users.len() == 1 && users.get("default").is_some_and(|u| u.is_unrestricted());
            self.open.store(open, Relaxed);
        }
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().ok()?.get(name).cloned()
    }

    /// CONFIG SET requirepass: the default user's only password.
    pub fn set_requirepass(&self, requirepass: &str) {
        if let Ok(mut users) = self.users.write() {
            if let Some(u) = users.get_mut("default") {
                Arc::make_mut(u).set_requirepass(requirepass);
            }
        }
        self.refresh_open();
    }

    /// AUTH / HELLO AUTH: the user, if the password is right and the user on.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.user(std::str::from_utf8(name).ok()?)?;
        user.check_password(password).then_some(user)
    }

    /// ACL SETUSER: all rules apply, or none (Redis's atomicity).
    pub fn setuser(&self, name: &str, rules: &[Bytes]) -> Result<(), String> {
        let mut users = self
            .users
            .write()
            .map_err(|_| "ERR ACL state unavailable".to_string())?;
        if !users.contains_key(name) && users.len() >= USERS_MAX {
            return Err(format!("ERR too many ACL users (at most {USERS_MAX})"));
        }
        let mut user = users
            .get(name)
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::new(name));
        for rule in rules {
            let op = String::from_utf8_lossy(rule);
            if let Err(reason) = user.apply(&op) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{op}': {reason}"
                ));
            }
        }
        users.insert(name.to_string(), Arc::new(user));
        drop(users);
        self.refresh_open();
        Ok(())
    }

    /// ACL DELUSER: how many existed.
    pub fn deluser(&self, names: &[Bytes]) -> Result<i64, String> {
        if names.iter().any(|n| &n[..] == b"default") {
            return Err("ERR The 'default' user cannot be removed".into());
        }
        let mut users = self
            .users
            .write()
            .map_err(|_| "ERR ACL state unavailable".to_string())?;
        let removed = names
            .iter()
            .filter(|n| users.remove(&*String::from_utf8_lossy(n)).is_some())
            .count();
        drop(users);
        self.refresh_open();
        Ok(removed as i64)
    }

    /// ACL LOAD, and the `aclfile` at startup: replaces every user with the
    /// file's, all or nothing, as Redis 7.0's `ACLLoadFromFile` does (same
    /// format: one `user <name> <rules...>` line per user, blank lines
    /// allowed, no comments or quoting; same error texts, `file` as
    /// configured). A
    /// file without a `default` line gets the stock default user (on,
    /// nopass, everything allowed). Returns the names of the users that
    /// were replaced, whose connections the caller closes.
    pub fn load_file(&self, file: &str) -> Result<Vec<String>, String> {
        let text = read_bounded(file).map_err(|e| {
            // strerror's text, as Redis prints it (without Rust's "(os error N)").
            let e = e.to_string();
            let reason = e.split(" (os error").next().unwrap_or(&e);
            format!("Error loading ACLs, opening file '{file}': {reason}")
        })?;
        let mut errors = String::new();
        let mut loaded: BTreeMap<String, Arc<User>> = BTreeMap::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() {
                continue;
            }
            // Redis 7.0 splits on single spaces: no quoting, and the empty
            // words between repeated spaces are no-op rules.
            let argv: Vec<&str> = line.split(' ').collect();
            if argv[0] != "user" || argv.len() < 2 {
                errors.push_str(&format!(
                    "{file}:{line_no} should start with user keyword followed by the username. "
                ));
                continue;
            }
            let name = argv[1];
            if name.chars().any(|c| c.is_ascii_whitespace() || c == '\0') {
                errors.push_str(&format!(
                    "'{file}:{line_no}: username '{name}' contains invalid characters. "
                ));
                continue;
            }
            if loaded.contains_key(name) {
                errors.push_str(&format!(
                    "WARNING: Duplicate user '{name}' found on line {line_no}. "
                ));
                continue;
            }
            if loaded.len() >= USERS_MAX {
                errors.push_str(&format!(
                    "{file}:{line_no}: too many ACL users (at most {USERS_MAX}). "
                ));
                break;
            }
            let mut user = User::new(name);
            let mut syntax_error = false;
            for op in &argv[2..] {
                let op = op.trim_matches(['\t', '\r', '\n']);
                if let Err(reason) = user.apply(op) {
                    if reason == UNKNOWN_COMMAND {
                        errors.push_str(&format!(
                            "{file}:{line_no}: Error in applying operation '{op}': {reason}. "
                        ));
                    } else if !syntax_error {
                        // Like Redis, only the first other error of a line:
                        // it may explain the ones after it.
                        errors.push_str(&format!("{file}:{line_no}: {reason}. "));
                        syntax_error = true;
                    }
                }
            }
            loaded.insert(name.to_string(), Arc::new(user));
        }
        if !errors.is_empty() {
            errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            );
            return Err(errors);
        }
        loaded
            .entry("default".to_string())
            .or_insert_with(|| Arc::new(User::default_user("")));
        let mut users = self
            .users
            .write()
            .map_err(|_| "ACL state unavailable".to_string())?;
        let replaced = std::mem::replace(&mut *users, loaded);
        drop(users);
        self.refresh_open();
        Ok(replaced.into_keys().filter(|n| n != "default").collect())
    }

    /// ACL SAVE: every user as its ACL LIST line, written to a temporary
    /// file, synced and renamed over `file` (a crash leaves the old file
    /// or the new one, never half of one).
    pub fn save_file(&self, file: &str) -> std::io::Result<()> {
        let mut text = self.list().join("\n");
        text.push('\n');
        kiwi_runtime::sys::write_file_atomically(std::path::Path::new(file), text.as_bytes())
    }

    pub fn list(&self) -> Vec<String> {
        self.users
            .read()
            .map(|u| u.values().map(|u| u.describe()).collect())
            .unwrap_or_default()
    }

    pub fn names(&self) -> Vec<String> {
        self.users
            .read()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// The file's text, refusing files over [`ACL_FILE_MAX_BYTES`].
fn read_bounded(file: &str) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(file)?;
    let mut text = String::new();
    f.take(ACL_FILE_MAX_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > ACL_FILE_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {ACL_FILE_MAX_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// ACL CAT [category]: the categories, or the commands in one.
pub fn cat(category: Option<&Bytes>) -> Frame {
    let Some(category) = category else {
        return Frame::Array(CATEGORIES.iter().map(|c| Frame::bulk(*c)).collect());
    };
    let name = lower(category);
    if !CATEGORIES.contains(&name.as_str()) {
        return Frame::error(format!(
            "ERR Unknown category '{}'",
            String::from_utf8_lossy(category)
        ));
    }
    let u = units();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for i in units_in(&name) {
        names.insert(&u.names[i]);
    }
    Frame::Array(names.into_iter().map(Frame::bulk).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("t");
        for r in rules {
            u.apply(r).expect("valid rule");
        }
        u
    }

    #[test]
    fn rules_are_kept_minimal_as_redis_lists_them() {
        // Each pair: rules given, ACL LIST's command part on Redis 7.0.15.
        let cases: &[(&[&str], &str)] = &[
            (&["+@string", "+get"], "-@all +@string"),
            (&["+get", "+@hash"], "-@all +@hash +get"),
            (&["+@string", "-get", "+get"], "-@all +@string"),
            (&["+@string", "-get"], "-@all +@string -get"),
            (&["+get", "-@string"], "-@all"),
            (&["-get", "+@string"], "-@all +@string"),
            (&["+@all", "-@string", "+get"], "+@all -@string +get"),
            (&["+config|get", "+@admin"], "-@all +@admin"),
            (&["+@admin", "-config|get"], "-@all +@admin -config|get"),
            (&["+set", "+get", "-set"], "-@all +get"),
            (&["+GET"], "-@all +get"),
            (&["allcommands", "-get"], "+@all -get"),
            (&["+@all", "+@read"], "+@all"),
            (&["+@read", "+@write", "-@read"], "-@all +@write"),
        ];
        for (rules, want) in cases {
            assert_eq!(&user(rules).describe_commands(), want, "rules {rules:?}");
        }
    }

    #[test]
    fn passwords_and_patterns() {
        let u = user(&["on", ">pw", "~cache:*"]);
        assert!(u.check_password(b"pw"));
        assert!(!u.check_password(b"other"));
        assert_eq!(
            u.describe(),
            "user t on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~cache:* resetchannels -@all"
        );
        let mut off = user(&["off", "nopass"]);
        assert!(!off.check_password(b"x"), "a disabled user cannot log in");
        assert!(off.apply("#abc").is_err());
        assert!(off.apply("~*").is_ok());
        assert!(off.apply("~more").is_err());
        assert!(off.apply("bogus").is_err());
        assert!(off.apply("+nosuchcommand").is_err());
    }
}
