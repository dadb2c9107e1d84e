//! The command table: one entry per command, the only list of what Kiwi
//! understands. Dispatch, arity checks and COMMAND's replies all read it.

use bytes::Bytes;
use kiwi_resp::Frame;

/// Where a command executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// On the network runtime, by the connection (needs connection state).
    Connection,
    /// On the storage runtime, by the executor (touches the engine).
    Storage,
    /// (P)SUBSCRIBE / (P)UNSUBSCRIBE / PUBLISH / PUBSUB: the connection and
    /// the pub/sub registry in `Shared`, never storage.
    PubSub,
    /// MULTI / EXEC / DISCARD / WATCH / UNWATCH: the connection keeps the
    /// transaction, the executor checks watched keys and runs it.
    Transaction,
}

#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis arity: N = exactly N args (name included); -N = at least N.
    pub arity: i32,
    /// Space-separated Redis command flags (`write`, `readonly`, `fast`, ...).
    pub flags: &'static str,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub route: Route,
    /// Subcommands as (name, arity, flags, summary).
    pub subcommands: &'static [(&'static str, i32, &'static str, &'static str)],
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_ok(self.arity, argc)
    }

    pub fn is_write(&self) -> bool {
        self.flags.split(' ').any(|f| f == "write")
    }

    pub fn is_readonly(&self) -> bool {
        self.flags.split(' ').any(|f| f == "readonly")
    }

    /// The key arguments of `args` (the command name at `args[0]`) by the
    /// table's first/last/step positions, as COMMAND GETKEYS reports them.
    pub fn key_args<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            args.len() as i32 + self.last_key
        } else {
            self.last_key
        };
        let mut keys = Vec::new();
        let mut i = self.first_key;
        while i <= last && (i as usize) < args.len() {
            keys.push(&args[i as usize]);
            i += self.step.max(1);
        }
        keys
    }

    /// Every key argument, including those the first/last/step positions
    /// cannot describe (`numkeys` commands, SORT ... STORE): what ACL key
    /// patterns are checked against. Malformed counts add nothing; the
    /// command itself rejects them.
    pub fn keys_of<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        let mut keys = self.key_args(args);
        if !self.flags.split(' ').any(|f| f == "movablekeys") {
            return keys;
        }
        // Where `numkeys` is; the keys follow it.
        let numkeys_at = match self.name {
            "lmpop" | "zmpop" | "sintercard" | "zintercard" | "zdiff" | "zinter" | "zunion" => 1,
            "blmpop" | "bzmpop" | "zdiffstore" | "zinterstore" | "zunionstore" => 2,
            _ => 0,
        };
        if numkeys_at > 0 {
            let n = args
                .get(numkeys_at)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|a| a.parse::<usize>().ok())
                .unwrap_or(0);
            let first = numkeys_at + 1;
            keys.extend(args.iter().skip(first).take(n));
        } else if self.name == "sort" {
            // SORT key ... STORE destination
            let store = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"store"))
                .and_then(|i| args.get(i + 1));
            keys.extend(store);
        }
        keys
    }

    /// The `COMMAND INFO` entry: Redis's own, else one built from the table.
    pub fn info_frame(&self) -> Frame {
        crate::redis_docs::info(self.name).unwrap_or_else(|| self.built_info_frame())
    }

    /// The `COMMAND DOCS` entry (value part of the map): Redis's own, else
    /// one built from the table.
    pub fn docs_frame(&self) -> Frame {
        crate::redis_docs::docs(self.name).unwrap_or_else(|| self.built_docs_frame())
    }

    fn built_info_frame(&self) -> Frame {
        let flags = self
            .flags
            .split(' ')
            .filter(|f| !f.is_empty())
            .map(|f| Frame::Simple(Bytes::from_static(f.as_bytes())));
        let mut acl = vec![format!("@{}", self.group)];
        acl.push(if self.is_write() {
            "@write".into()
        } else {
            "@read".into()
        });
        acl.push(if self.flags.contains("fast") {
            "@fast".into()
        } else {
            "@slow".into()
        });
        let subs = self
            .subcommands
            .iter()
            .map(|(sub, arity, flags, _)| {
                Frame::Array(vec![
                    Frame::bulk(format!("{}|{}", self.name, sub)),
                    Frame::Integer(*arity as i64),
                    Frame::Set(
                        flags
                            .split(' ')
                            .filter(|f| !f.is_empty())
                            .map(|f| Frame::Simple(Bytes::from(f.to_string())))
                            .collect(),
                    ),
                    Frame::Integer(0),
                    Frame::Integer(0),
                    Frame::Integer(0),
                    Frame::Set(vec![]),
                    Frame::Set(vec![]),
                    Frame::Array(vec![]),
                    Frame::Array(vec![]),
                ])
            })
            .collect();
        Frame::Array(vec![
            Frame::bulk(self.name),
            Frame::Integer(self.arity as i64),
            Frame::Set(flags.collect()),
            Frame::Integer(self.first_key as i64),
            Frame::Integer(self.last_key as i64),
            Frame::Integer(self.step as i64),
            Frame::Set(
                acl.into_iter()
                    .map(|c| Frame::Simple(Bytes::from(c)))
                    .collect(),
            ),
            Frame::Set(vec![]),
            Frame::Array(vec![]),
            Frame::Array(subs),
        ])
    }

    fn built_docs_frame(&self) -> Frame {
        let mut doc = vec![
            (Frame::bulk("summary"), Frame::bulk(self.summary)),
            (Frame::bulk("since"), Frame::bulk(self.since)),
            (Frame::bulk("group"), Frame::bulk(self.group)),
            (Frame::bulk("complexity"), Frame::bulk(self.complexity)),
        ];
        if !self.subcommands.is_empty() {
            let subs = self
                .subcommands
                .iter()
                .map(|(sub, _, _, summary)| {
                    (
                        Frame::bulk(format!("{}|{}", self.name, sub)),
                        Frame::Map(vec![
                            (Frame::bulk("summary"), Frame::bulk(*summary)),
                            (Frame::bulk("since"), Frame::bulk(self.since)),
                            (Frame::bulk("group"), Frame::bulk(self.group)),
                        ]),
                    )
                })
                .collect();
            doc.push((Frame::bulk("subcommands"), Frame::Map(subs)));
        }
        Frame::Map(doc)
    }
}

pub fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// Checks a subcommand's arity; `None` if `sub` is not a subcommand of `spec`.
pub fn subcommand_arity(spec: &CommandSpec, sub: &[u8]) -> Option<i32> {
    spec.subcommands
        .iter()
        .find(|(name, ..)| sub.eq_ignore_ascii_case(name.as_bytes()))
        .map(|s| s.1)
}

use Route::{Connection as C, PubSub as P, Storage as S, Transaction as T};

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:literal, $keys:expr, $group:literal, $since:literal, $cx:literal, $route:expr, $summary:literal) => {
        cmd!(
            $name,
            $arity,
            $flags,
            $keys,
            $group,
            $since,
            $cx,
            $route,
            $summary,
            &[]
        )
    };
    ($name:literal, $arity:expr, $flags:literal, $keys:expr, $group:literal, $since:literal, $cx:literal, $route:expr, $summary:literal, $subs:expr) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            group: $group,
            summary: $summary,
            since: $since,
            complexity: $cx,
            route: $route,
            subcommands: $subs,
        }
    };
}

const NOKEY: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const KPAIRS: (i32, i32, i32) = (1, -1, 2);

/// Every command Kiwi knows, sorted by name.
/// What a module's command starts from: a storage command that writes
/// its first argument as a key. Override what differs:
/// `CommandSpec { name: "cl.throttle", arity: -5, ..MODULE_SPEC_TEMPLATE }`.
pub const MODULE_SPEC_TEMPLATE: CommandSpec = CommandSpec {
    name: "",
    arity: -2,
    flags: "write",
    first_key: 1,
    last_key: 1,
    step: 1,
    group: "module",
    summary: "",
    since: "",
    complexity: "",
    route: Route::Storage,
    subcommands: &[],
};

/// The built-in commands, sorted by name (the registry adds modules').
pub static COMMANDS: &[CommandSpec] = &[
    cmd!("acl", -2, "", NOKEY, "server", "6.0.0", "Depends on subcommand.", C, "A container for Access List Control commands.", &[
        ("cat", -2, "noscript loading stale", "Lists the ACL categories, or the commands inside a category."),
        ("deluser", -3, "admin noscript loading stale", "Deletes ACL users, and terminates their connections."),
        ("genpass", -2, "noscript loading stale", "Generates a pseudorandom, secure password that can be used to identify ACL users."),
        ("getuser", 3, "admin noscript loading stale", "Lists the ACL rules of a user."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("list", 2, "admin noscript loading stale", "Dumps the effective rules in ACL file format."),
        ("setuser", -3, "admin noscript loading stale", "Creates and modifies an ACL user and its rules."),
        ("users", 2, "admin noscript loading stale", "Lists all ACL users."),
        ("whoami", 2, "noscript loading stale", "Returns the authenticated username of the current connection."),
    ]),
    cmd!("append", 3, "write denyoom fast", K1, "string", "2.0.0", "O(1)", S, "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    cmd!("auth", -2, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "1.0.0", "O(N)", C, "Authenticates the connection."),
    cmd!("bgsave", -1, "admin noscript no_async_loading", NOKEY, "server", "1.0.0", "O(1)", S, "Asynchronously saves the database(s) to disk."),
    cmd!("bitcount", -2, "readonly", K1, "bitmap", "2.6.0", "O(N)", S, "Counts the number of set bits (population counting) in a string."),
    cmd!("bitfield", -2, "write denyoom", K1, "bitmap", "3.2.0", "O(1) for each subcommand specified", S, "Performs arbitrary bitfield integer operations on strings."),
    cmd!("bitfield_ro", -2, "readonly fast", K1, "bitmap", "6.0.0", "O(1) for each subcommand specified", S, "Performs arbitrary read-only bitfield integer operations on strings."),
    cmd!("bitop", -4, "write denyoom", (2, -1, 1), "bitmap", "2.6.0", "O(N)", S, "Performs bitwise operations on multiple strings, and stores the result."),
    cmd!("bitpos", -3, "readonly", K1, "bitmap", "2.8.7", "O(N)", S, "Finds the first set (1) or clear (0) bit in a string."),
    cmd!("blmove", 6, "write denyoom noscript blocking", K12, "list", "6.2.0", "O(1)", S, "Pop an element from a list, push it to another list and return it; or block until one is available"),
    cmd!("blmpop", -5, "write blocking movablekeys", NOKEY, "list", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", S, "Pop elements from a list, or block until one is available"),
    cmd!("blpop", -3, "write noscript blocking", (1, -2, 1), "list", "2.0.0", "O(N) where N is the number of provided keys.", S, "Remove and get the first element in a list, or block until one is available"),
    cmd!("brpop", -3, "write noscript blocking", (1, -2, 1), "list", "2.0.0", "O(N) where N is the number of provided keys.", S, "Remove and get the last element in a list, or block until one is available"),
    cmd!("brpoplpush", 4, "write denyoom noscript blocking", K12, "list", "2.2.0", "O(1)", S, "Pop an element from a list, push it to another list and return it; or block until one is available"),
    cmd!("bzmpop", -5, "write blocking movablekeys", NOKEY, "sorted-set", "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", S, "Remove and return members with scores in a sorted set or block until one is available"),
    cmd!("bzpopmax", -3, "write noscript blocking fast", (1, -2, 1), "sorted-set", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", S, "Remove and return the member with the highest score from one or more sorted sets, or block until one is available"),
    cmd!("bzpopmin", -3, "write noscript blocking fast", (1, -2, 1), "sorted-set", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set.", S, "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available"),
    cmd!("client", -2, "", NOKEY, "connection", "2.4.0", "Depends on subcommand.", C, "A container for client connection commands.", &[
        ("caching", 3, "noscript loading stale", "Instructs the server whether to track the keys in the next request."),
        ("getname", 2, "noscript loading stale", "Returns the name of the connection."),
        ("getredir", 2, "noscript loading stale", "Returns the client ID to which the connection's tracking notifications are redirected."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("id", 2, "noscript loading stale", "Returns the unique client ID of the connection."),
        ("info", 2, "noscript loading stale", "Returns information about the connection."),
        ("kill", -3, "admin noscript loading stale", "Terminates open connections."),
        ("list", -2, "admin noscript loading stale", "Lists open connections."),
        ("no-evict", 3, "admin noscript loading stale", "Sets the client eviction mode of the connection."),
        ("pause", -3, "admin noscript loading stale", "Suspends commands processing."),
        ("reply", 3, "noscript loading stale", "Instructs the server whether to reply to commands."),
        ("setname", 3, "noscript loading stale", "Sets the connection name."),
        ("tracking", -3, "noscript loading stale", "Controls server-assisted client-side caching for the connection."),
        ("trackinginfo", 2, "noscript loading stale", "Returns information about server-assisted client-side caching for the connection."),
        ("unpause", 2, "admin noscript loading stale", "Resumes processing of clients that were paused."),
    ]),
    cmd!("command", -1, "loading stale", NOKEY, "server", "2.8.13", "O(N) where N is the total number of Redis commands", S, "Returns detailed information about all commands.", &[
        ("count", 2, "loading stale", "Returns a count of commands."),
        ("docs", -2, "loading stale", "Returns documentary information about one, multiple or all commands."),
        ("getkeys", -4, "loading stale", "Extracts the key names from an arbitrary command."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("info", -2, "loading stale", "Returns information about one, multiple or all commands."),
        ("list", -2, "loading stale", "Returns a list of command names."),
    ]),
    cmd!("config", -2, "", NOKEY, "server", "2.0.0", "Depends on subcommand.", S, "A container for server configuration commands.", &[
        ("get", -3, "admin noscript loading stale", "Returns the effective values of configuration parameters."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("resetstat", 2, "admin noscript loading stale", "Resets the server's statistics."),
        ("rewrite", 2, "admin noscript loading stale", "Persists the effective configuration to file."),
        ("set", -4, "admin noscript loading stale", "Sets configuration parameters in-flight."),
    ]),
    cmd!("copy", -3, "write denyoom", K12, "generic", "6.2.0", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.", S, "Copies the value of a key to a new key."),
    cmd!("dbsize", 1, "readonly fast", NOKEY, "server", "1.0.0", "O(1)", S, "Returns the number of keys in the database."),
    cmd!("debug", -2, "admin noscript loading stale", NOKEY, "server", "1.0.0", "Depends on subcommand.", C, "A container for debugging commands."),
    cmd!("decr", 2, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    cmd!("decrby", 3, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."),
    cmd!("del", -2, "write", KALL, "generic", "1.0.0", "O(N) where N is the number of keys that will be removed.", S, "Deletes one or more keys."),
    cmd!("discard", 1, "noscript loading stale fast allow_busy", NOKEY, "transactions", "2.0.0", "O(N), when N is the number of queued commands", T, "Discards a transaction."),
    cmd!("echo", 2, "fast", NOKEY, "connection", "1.0.0", "O(1)", C, "Returns the given string."),
    cmd!("exec", 1, "noscript loading stale skip_slowlog", NOKEY, "transactions", "1.2.0", "Depends on commands in the transaction", T, "Executes all commands in a transaction."),
    cmd!("exists", -2, "readonly fast", KALL, "generic", "1.0.0", "O(N) where N is the number of keys to check.", S, "Determines whether one or more keys exist."),
    cmd!("expire", -3, "write fast", K1, "generic", "1.0.0", "O(1)", S, "Sets the expiration time of a key in seconds."),
    cmd!("expireat", -3, "write fast", K1, "generic", "1.2.0", "O(1)", S, "Sets the expiration time of a key to a Unix timestamp."),
    cmd!("expiretime", 2, "readonly fast", K1, "generic", "7.0.0", "O(1)", S, "Returns the expiration time of a key as a Unix timestamp."),
    cmd!("flushall", -1, "write", NOKEY, "server", "1.0.0", "O(N) where N is the total number of keys in all databases", S, "Removes all keys from all databases."),
    cmd!("flushdb", -1, "write", NOKEY, "server", "1.0.0", "O(N) where N is the number of keys in the selected database", S, "Remove all keys from the current database."),
    cmd!("function", -2, "", NOKEY, "scripting", "7.0.0", "Depends on subcommand.", S, "A container for function commands.", &[
        ("flush", -2, "write noscript", "Deletes all libraries and functions."),
    ]),
    cmd!("get", 2, "readonly fast", K1, "string", "1.0.0", "O(1)", S, "Returns the string value of a key."),
    cmd!("getbit", 3, "readonly fast", K1, "bitmap", "2.2.0", "O(1)", S, "Returns a bit value by offset."),
    cmd!("getdel", 2, "write fast", K1, "string", "6.2.0", "O(1)", S, "Returns the string value of a key after deleting the key."),
    cmd!("getex", -2, "write fast", K1, "string", "6.2.0", "O(1)", S, "Returns the string value of a key after setting its expiration time."),
    cmd!("getrange", 4, "readonly", K1, "string", "2.4.0", "O(N) where N is the length of the returned string.", S, "Returns a substring of the string stored at a key."),
    cmd!("getset", 3, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Returns the previous string value of a key after setting it to a new value."),
    cmd!("hdel", -3, "write fast", K1, "hash", "2.0.0", "O(N) where N is the number of fields to be removed.", S, "Delete one or more hash fields"),
    cmd!("hello", -1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "6.0.0", "O(1)", C, "Handshakes with the Redis server."),
    cmd!("hexists", 3, "readonly fast", K1, "hash", "2.0.0", "O(1)", S, "Determine if a hash field exists"),
    cmd!("hget", 3, "readonly fast", K1, "hash", "2.0.0", "O(1)", S, "Get the value of a hash field"),
    cmd!("hgetall", 2, "readonly", K1, "hash", "2.0.0", "O(N) where N is the size of the hash.", S, "Get all the fields and values in a hash"),
    cmd!("hincrby", 4, "write denyoom fast", K1, "hash", "2.0.0", "O(1)", S, "Increment the integer value of a hash field by the given number"),
    cmd!("hincrbyfloat", 4, "write denyoom fast", K1, "hash", "2.6.0", "O(1)", S, "Increment the float value of a hash field by the given amount"),
    cmd!("hkeys", 2, "readonly", K1, "hash", "2.0.0", "O(N) where N is the size of the hash.", S, "Get all the fields in a hash"),
    cmd!("hlen", 2, "readonly fast", K1, "hash", "2.0.0", "O(1)", S, "Get the number of fields in a hash"),
    cmd!("hmget", -3, "readonly fast", K1, "hash", "2.0.0", "O(N) where N is the number of fields being requested.", S, "Get the values of all the given hash fields"),
    cmd!("hmset", -4, "write denyoom fast", K1, "hash", "2.0.0", "O(N) where N is the number of fields being set.", S, "Set multiple hash fields to multiple values"),
    cmd!("hrandfield", -2, "readonly", K1, "hash", "6.2.0", "O(N) where N is the number of fields returned", S, "Get one or multiple random fields from a hash"),
    cmd!("hscan", -3, "readonly", K1, "hash", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", S, "Incrementally iterate hash fields and associated values"),
    cmd!("hset", -4, "write denyoom fast", K1, "hash", "2.0.0", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", S, "Set the string value of a hash field"),
    cmd!("hsetnx", 4, "write denyoom fast", K1, "hash", "2.0.0", "O(1)", S, "Set the value of a hash field, only if the field does not exist"),
    cmd!("hstrlen", 3, "readonly fast", K1, "hash", "3.2.0", "O(1)", S, "Get the length of the value of a hash field"),
    cmd!("hvals", 2, "readonly", K1, "hash", "2.0.0", "O(N) where N is the size of the hash.", S, "Get all the values in a hash"),
    cmd!("incr", 2, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    cmd!("incrby", 3, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    cmd!("incrbyfloat", 3, "write denyoom fast", K1, "string", "2.6.0", "O(1)", S, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."),
    cmd!("info", -1, "loading stale", NOKEY, "server", "1.0.0", "O(1)", C, "Returns information and statistics about the server."),
    cmd!("keys", 2, "readonly", NOKEY, "generic", "1.0.0", "O(N) with N being the number of keys in the database", S, "Returns all key names that match a pattern."),
    cmd!("lastsave", 1, "loading stale fast", NOKEY, "server", "1.0.0", "O(1)", S, "Returns the Unix timestamp of the last successful save to disk."),
    cmd!("latency", -2, "", NOKEY, "server", "2.8.13", "Depends on subcommand.", C, "A container for latency diagnostics commands.", &[
        ("doctor", 2, "admin noscript loading stale", "Returns a human-readable latency analysis report."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("history", 3, "admin noscript loading stale", "Returns timestamp-latency samples for an event."),
        ("latest", 2, "admin noscript loading stale", "Returns the latest latency samples for all events."),
        ("reset", -2, "admin noscript loading stale", "Resets the latency data for one or more events."),
    ]),
    cmd!("lcs", -3, "readonly", K12, "string", "7.0.0", "O(N*M) where N and M are the lengths of s1 and s2, respectively", S, "Finds the longest common substring."),
    cmd!("lindex", 3, "readonly", K1, "list", "1.0.0", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).", S, "Get an element from a list by its index"),
    cmd!("linsert", 5, "write denyoom", K1, "list", "2.2.0", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", S, "Insert an element before or after another element in a list"),
    cmd!("llen", 2, "readonly fast", K1, "list", "1.0.0", "O(1)", S, "Get the length of a list"),
    cmd!("lmove", 5, "write denyoom", K12, "list", "6.2.0", "O(1)", S, "Pop an element from a list, push it to another list and return it"),
    cmd!("lmpop", -4, "write movablekeys", NOKEY, "list", "7.0.0", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", S, "Pop elements from a list"),
    cmd!("lpop", -2, "write fast", K1, "list", "1.0.0", "O(N) where N is the number of elements returned", S, "Remove and get the first elements in a list"),
    cmd!("lpos", -3, "readonly", K1, "list", "6.0.6", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.", S, "Return the index of matching elements on a list"),
    cmd!("lpush", -3, "write denyoom fast", K1, "list", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", S, "Prepend one or multiple elements to a list"),
    cmd!("lpushx", -3, "write denyoom fast", K1, "list", "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", S, "Prepend an element to a list, only if the list exists"),
    cmd!("lrange", 4, "readonly", K1, "list", "1.0.0", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", S, "Get a range of elements from a list"),
    cmd!("lrem", 4, "write", K1, "list", "1.0.0", "O(N+M) where N is the length of the list and M is the number of elements removed.", S, "Remove elements from a list"),
    cmd!("lset", 4, "write denyoom", K1, "list", "1.0.0", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).", S, "Set the value of an element in a list by its index"),
    cmd!("ltrim", 4, "write", K1, "list", "1.0.0", "O(N) where N is the number of elements to be removed by the operation.", S, "Trim a list to the specified range"),
    cmd!("memory", -2, "", NOKEY, "server", "4.0.0", "Depends on subcommand.", S, "A container for memory diagnostics commands.", &[
        ("doctor", 2, "", "Outputs a memory problems report."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("malloc-stats", 2, "", "Returns the allocator statistics."),
        ("purge", 2, "", "Asks the allocator to release memory."),
        ("usage", -3, "readonly", "Estimates the memory usage of a key."),
    ]),
    cmd!("mget", -2, "readonly fast", KALL, "string", "1.0.0", "O(N) where N is the number of keys to retrieve.", S, "Atomically returns the string values of one or more keys."),
    cmd!("monitor", 1, "admin noscript loading stale", NOKEY, "server", "1.0.0", "", C, "Listens for all requests received by the server in real-time."),
    cmd!("move", 3, "write fast", K1, "generic", "1.0.0", "O(1)", S, "Moves a key to another database."),
    cmd!("mset", -3, "write denyoom", KPAIRS, "string", "1.0.1", "O(N) where N is the number of keys to set.", S, "Atomically creates or modifies the string values of one or more keys."),
    cmd!("msetnx", -3, "write denyoom", KPAIRS, "string", "1.0.1", "O(N) where N is the number of keys to set.", S, "Atomically modifies the string values of one or more keys only when all keys don't exist."),
    cmd!("multi", 1, "noscript loading stale fast allow_busy", NOKEY, "transactions", "1.2.0", "O(1)", T, "Starts a transaction."),
    cmd!("object", -2, "", NOKEY, "generic", "2.2.3", "Depends on subcommand.", S, "A container for object introspection commands.", &[
        ("encoding", 3, "readonly", "Returns the internal encoding of a Redis object."),
        ("freq", 3, "readonly", "Returns the logarithmic access frequency counter of a Redis object."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("idletime", 3, "readonly", "Returns the time since the last access to a Redis object."),
        ("refcount", 3, "readonly", "Returns the reference count of a value of a key."),
    ]),
    cmd!("persist", 2, "write fast", K1, "generic", "2.2.0", "O(1)", S, "Removes the expiration time of a key."),
    cmd!("pexpire", -3, "write fast", K1, "generic", "2.6.0", "O(1)", S, "Sets the expiration time of a key in milliseconds."),
    cmd!("pexpireat", -3, "write fast", K1, "generic", "2.6.0", "O(1)", S, "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    cmd!("pexpiretime", 2, "readonly fast", K1, "generic", "7.0.0", "O(1)", S, "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    cmd!("pfadd", -2, "write denyoom fast", K1, "hyperloglog", "2.8.9", "O(1) to add every element.", S, "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."),
    cmd!("pfcount", -2, "readonly", KALL, "hyperloglog", "2.8.9", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", S, "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."),
    cmd!("pfmerge", -2, "write denyoom", KALL, "hyperloglog", "2.8.9", "O(N) to merge N HyperLogLogs, but with high constant times.", S, "Merges one or more HyperLogLog values into a single key."),
    cmd!("ping", -1, "fast", NOKEY, "connection", "1.0.0", "O(1)", C, "Returns the server's liveliness response."),
    cmd!("psetex", 4, "write denyoom", K1, "string", "2.6.0", "O(1)", S, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."),
    cmd!("psubscribe", -2, "pubsub noscript loading stale", NOKEY, "pubsub", "2.0.0", "O(N) where N is the number of patterns to subscribe to.", P, "Listens for messages published to channels that match one or more patterns."),
    cmd!("pttl", 2, "readonly fast", K1, "generic", "2.6.0", "O(1)", S, "Returns the expiration time in milliseconds of a key."),
    cmd!("publish", 3, "pubsub loading stale fast", NOKEY, "pubsub", "2.0.0", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", P, "Posts a message to a channel."),
    cmd!("pubsub", -2, "", NOKEY, "pubsub", "2.8.0", "Depends on subcommand.", P, "A container for Pub/Sub commands.", &[
        ("channels", -2, "pubsub loading stale", "Returns the active channels."),
        ("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
        ("numpat", 2, "pubsub loading stale", "Returns a count of unique pattern subscriptions."),
        ("numsub", -2, "pubsub loading stale", "Returns a count of subscribers to channels."),
    ]),
    cmd!("punsubscribe", -1, "pubsub noscript loading stale", NOKEY, "pubsub", "2.0.0", "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).", P, "Stops listening to messages published to channels that match one or more patterns."),
    cmd!("quit", -1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "1.0.0", "O(1)", C, "Closes the connection."),
    cmd!("randomkey", 1, "readonly", NOKEY, "generic", "1.0.0", "O(1)", S, "Returns a random key name from the database."),
    cmd!("rename", 3, "write", K12, "generic", "1.0.0", "O(1)", S, "Renames a key and overwrites the destination."),
    cmd!("renamenx", 3, "write fast", K12, "generic", "1.0.0", "O(1)", S, "Renames a key only when the target key name doesn't exist."),
    cmd!("reset", 1, "noscript loading stale fast no_auth allow_busy", NOKEY, "connection", "6.2.0", "O(1)", C, "Resets the connection."),
    cmd!("rpop", -2, "write fast", K1, "list", "1.0.0", "O(N) where N is the number of elements returned", S, "Remove and get the last elements in a list"),
    cmd!("rpoplpush", 3, "write denyoom", K12, "list", "1.2.0", "O(1)", S, "Remove the last element in a list, prepend it to another list and return it"),
    cmd!("rpush", -3, "write denyoom fast", K1, "list", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", S, "Append one or multiple elements to a list"),
    cmd!("rpushx", -3, "write denyoom fast", K1, "list", "2.2.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", S, "Append an element to a list, only if the list exists"),
    cmd!("sadd", -3, "write denyoom fast", K1, "set", "1.0.0", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", S, "Add one or more members to a set"),
    cmd!("save", 1, "admin noscript no_async_loading no_multi", NOKEY, "server", "1.0.0", "O(N) where N is the total number of keys in all databases", S, "Synchronously saves the database(s) to disk."),
    cmd!("scan", -2, "readonly", NOKEY, "generic", "2.8.0", "O(1) for every call. O(N) for a complete iteration.", S, "Iterates over the key names in the database."),
    cmd!("scard", 2, "readonly fast", K1, "set", "1.0.0", "O(1)", S, "Get the number of members in a set"),
    cmd!("sdiff", -2, "readonly", KALL, "set", "1.0.0", "O(N) where N is the total number of elements in all given sets.", S, "Subtract multiple sets"),
    cmd!("sdiffstore", -3, "write denyoom", KALL, "set", "1.0.0", "O(N) where N is the total number of elements in all given sets.", S, "Subtract multiple sets and store the resulting set in a key"),
    cmd!("select", 2, "loading stale fast", NOKEY, "connection", "1.0.0", "O(1)", C, "Changes the selected database."),
    cmd!("set", -3, "write denyoom", K1, "string", "1.0.0", "O(1)", S, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    cmd!("setbit", 4, "write denyoom", K1, "bitmap", "2.2.0", "O(1)", S, "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist."),
    cmd!("setex", 4, "write denyoom", K1, "string", "2.0.0", "O(1)", S, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."),
    cmd!("setnx", 3, "write denyoom fast", K1, "string", "1.0.0", "O(1)", S, "Set the string value of a key only when the key doesn't exist."),
    cmd!("setrange", 4, "write denyoom", K1, "string", "2.2.0", "O(1), not counting the time taken to copy the new string in place.", S, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."),
    cmd!("shutdown", -1, "admin noscript loading stale no_multi allow_busy", NOKEY, "server", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", C, "Synchronously saves the database(s) to disk and shuts down the Redis server."),
    cmd!("sinter", -2, "readonly", KALL, "set", "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", S, "Intersect multiple sets"),
    cmd!("sintercard", -3, "readonly movablekeys", NOKEY, "set", "7.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", S, "Intersect multiple sets and return the cardinality of the result"),
    cmd!("sinterstore", -3, "write denyoom", KALL, "set", "1.0.0", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", S, "Intersect multiple sets and store the resulting set in a key"),
    cmd!("sismember", 3, "readonly fast", K1, "set", "1.0.0", "O(1)", S, "Determine if a given value is a member of a set"),
    cmd!("slowlog", -2, "", NOKEY, "server", "2.2.12", "Depends on subcommand.", C, "A container for slow log commands.", &[
        ("get", -2, "admin loading stale", "Returns the slow log's entries."),
        ("help", 2, "loading stale", "Show helpful text about the different subcommands"),
        ("len", 2, "admin loading stale", "Returns the number of entries in the slow log."),
        ("reset", 2, "admin loading stale", "Clears all entries from the slow log."),
    ]),
    cmd!("smembers", 2, "readonly", K1, "set", "1.0.0", "O(N) where N is the set cardinality.", S, "Get all the members in a set"),
    cmd!("smismember", -3, "readonly fast", K1, "set", "6.2.0", "O(N) where N is the number of elements being checked for membership", S, "Returns the membership associated with the given elements for a set"),
    cmd!("smove", 4, "write fast", K12, "set", "1.0.0", "O(1)", S, "Move a member from one set to another"),
    cmd!("sort", -2, "write denyoom movablekeys", K1, "generic", "1.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", S, "Sort the elements in a list, set or sorted set"),
    cmd!("sort_ro", -2, "readonly movablekeys", K1, "generic", "7.0.0", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", S, "Sort the elements in a list, set or sorted set. Read-only variant of SORT."),
    cmd!("spop", -2, "write fast", K1, "set", "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", S, "Remove and return one or multiple random members from a set"),
    cmd!("srandmember", -2, "readonly", K1, "set", "1.0.0", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", S, "Get one or multiple random members from a set"),
    cmd!("srem", -3, "write fast", K1, "set", "1.0.0", "O(N) where N is the number of members to be removed.", S, "Remove one or more members from a set"),
    cmd!("sscan", -3, "readonly", K1, "set", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", S, "Incrementally iterate Set elements"),
    cmd!("strlen", 2, "readonly fast", K1, "string", "2.2.0", "O(1)", S, "Returns the length of a string value."),
    cmd!("subscribe", -2, "pubsub noscript loading stale", NOKEY, "pubsub", "2.0.0", "O(N) where N is the number of channels to subscribe to.", P, "Listens for messages published to channels."),
    cmd!("substr", 4, "readonly", K1, "string", "1.0.0", "O(N) where N is the length of the returned string.", S, "Returns a substring from a string value."),
    cmd!("sunion", -2, "readonly", KALL, "set", "1.0.0", "O(N) where N is the total number of elements in all given sets.", S, "Add multiple sets"),
    cmd!("sunionstore", -3, "write denyoom", KALL, "set", "1.0.0", "O(N) where N is the total number of elements in all given sets.", S, "Add multiple sets and store the resulting set in a key"),
    cmd!("swapdb", 3, "write fast", NOKEY, "server", "4.0.0", "O(N) where N is the count of clients watching or blocking on keys from both databases.", S, "Swaps two Redis databases."),
    cmd!("time", 1, "loading stale fast", NOKEY, "server", "2.6.0", "O(1)", S, "Returns the server time."),
    cmd!("touch", -2, "readonly fast", KALL, "generic", "3.2.1", "O(N) where N is the number of keys that will be touched.", S, "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    cmd!("ttl", 2, "readonly fast", K1, "generic", "1.0.0", "O(1)", S, "Returns the expiration time in seconds of a key."),
    cmd!("type", 2, "readonly fast", K1, "generic", "1.0.0", "O(1)", S, "Determines the type of value stored at a key."),
    cmd!("unlink", -2, "write fast", KALL, "generic", "4.0.0", "O(1) for each key removed regardless of its size.", S, "Asynchronously deletes one or more keys."),
    cmd!("unsubscribe", -1, "pubsub noscript loading stale", NOKEY, "pubsub", "2.0.0", "O(N) where N is the number of clients already subscribed to a channel.", P, "Stops listening to messages posted to channels."),
    cmd!("unwatch", 1, "noscript loading stale fast allow_busy", NOKEY, "transactions", "2.2.0", "O(1)", T, "Forgets about watched keys of a transaction."),
    cmd!("wait", 3, "noscript", NOKEY, "generic", "3.0.0", "O(1)", C, "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."),
    cmd!("watch", -2, "noscript loading stale fast allow_busy", KALL, "transactions", "2.2.0", "O(1) for every key.", T, "Monitors changes to keys to determine the execution of a transaction."),
    cmd!("zadd", -4, "write denyoom fast", K1, "sorted-set", "1.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", S, "Add one or more members to a sorted set, or update its score if it already exists"),
    cmd!("zcard", 2, "readonly fast", K1, "sorted-set", "1.2.0", "O(1)", S, "Get the number of members in a sorted set"),
    cmd!("zcount", 4, "readonly fast", K1, "sorted-set", "2.0.0", "O(log(N)) with N being the number of elements in the sorted set.", S, "Count the members in a sorted set with scores within the given values"),
    cmd!("zdiff", -3, "readonly movablekeys", NOKEY, "sorted-set", "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", S, "Subtract multiple sorted sets"),
    cmd!("zdiffstore", -4, "write denyoom movablekeys", K1, "sorted-set", "6.2.0", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", S, "Subtract multiple sorted sets and store the resulting sorted set in a new key"),
    cmd!("zincrby", 4, "write denyoom fast", K1, "sorted-set", "1.2.0", "O(log(N)) where N is the number of elements in the sorted set.", S, "Increment the score of a member in a sorted set"),
    cmd!("zinter", -3, "readonly movablekeys", NOKEY, "sorted-set", "6.2.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", S, "Intersect multiple sorted sets"),
    cmd!("zintercard", -3, "readonly movablekeys", NOKEY, "sorted-set", "7.0.0", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", S, "Intersect multiple sorted sets and return the cardinality of the result"),
    cmd!("zinterstore", -4, "write denyoom movablekeys", K1, "sorted-set", "2.0.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", S, "Intersect multiple sorted sets and store the resulting sorted set in a new key"),
    cmd!("zlexcount", 4, "readonly fast", K1, "sorted-set", "2.8.9", "O(log(N)) with N being the number of elements in the sorted set.", S, "Count the number of members in a sorted set between a given lexicographical range"),
    cmd!("zmpop", -4, "write movablekeys", NOKEY, "sorted-set", "7.0.0", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", S, "Remove and return members with scores in a sorted set"),
    cmd!("zmscore", -3, "readonly fast", K1, "sorted-set", "6.2.0", "O(N) where N is the number of members being requested.", S, "Get the score associated with the given members in a sorted set"),
    cmd!("zpopmax", -2, "write fast", K1, "sorted-set", "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", S, "Remove and return members with the highest scores in a sorted set"),
    cmd!("zpopmin", -2, "write fast", K1, "sorted-set", "5.0.0", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", S, "Remove and return members with the lowest scores in a sorted set"),
    cmd!("zrandmember", -2, "readonly", K1, "sorted-set", "6.2.0", "O(N) where N is the number of elements returned", S, "Get one or multiple random elements from a sorted set"),
    cmd!("zrange", -4, "readonly", K1, "sorted-set", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", S, "Return a range of members in a sorted set"),
    cmd!("zrangebylex", -4, "readonly", K1, "sorted-set", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", S, "Return a range of members in a sorted set, by lexicographical range"),
    cmd!("zrangebyscore", -4, "readonly", K1, "sorted-set", "1.0.5", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", S, "Return a range of members in a sorted set, by score"),
    cmd!("zrangestore", -5, "write denyoom", K12, "sorted-set", "6.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", S, "Store a range of members from sorted set into another key"),
    cmd!("zrank", 3, "readonly fast", K1, "sorted-set", "2.0.0", "O(log(N))", S, "Determine the index of a member in a sorted set"),
    cmd!("zrem", -3, "write fast", K1, "sorted-set", "1.2.0", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", S, "Remove one or more members from a sorted set"),
    cmd!("zremrangebylex", 4, "write", K1, "sorted-set", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", S, "Remove all members in a sorted set between the given lexicographical range"),
    cmd!("zremrangebyrank", 4, "write", K1, "sorted-set", "2.0.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", S, "Remove all members in a sorted set within the given indexes"),
    cmd!("zremrangebyscore", 4, "write", K1, "sorted-set", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", S, "Remove all members in a sorted set within the given scores"),
    cmd!("zrevrange", -4, "readonly", K1, "sorted-set", "1.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", S, "Return a range of members in a sorted set, by index, with scores ordered from high to low"),
    cmd!("zrevrangebylex", -4, "readonly", K1, "sorted-set", "2.8.9", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", S, "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings."),
    cmd!("zrevrangebyscore", -4, "readonly", K1, "sorted-set", "2.2.0", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).", S, "Return a range of members in a sorted set, by score, with scores ordered from high to low"),
    cmd!("zrevrank", 3, "readonly fast", K1, "sorted-set", "2.0.0", "O(log(N))", S, "Determine the index of a member in a sorted set, with scores ordered from high to low"),
    cmd!("zscan", -3, "readonly", K1, "sorted-set", "2.8.0", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..", S, "Incrementally iterate sorted sets elements and associated scores"),
    cmd!("zscore", 3, "readonly fast", K1, "sorted-set", "1.2.0", "O(1)", S, "Get the score associated with the given member in a sorted set"),
    cmd!("zunion", -3, "readonly movablekeys", NOKEY, "sorted-set", "6.2.0", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", S, "Add multiple sorted sets"),
    cmd!("zunionstore", -4, "write denyoom movablekeys", K1, "sorted-set", "2.0.0", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", S, "Add multiple sorted sets and store the resulting sorted set in a new key"),
];

/// Finds a command by name, case-insensitively, without allocating.
/// Whether `name` is one of Kiwi's own commands (not a module's).
pub fn is_builtin(name: &str) -> bool {
    COMMANDS.binary_search_by(|c| c.name.cmp(name)).is_ok()
}

/// Looks a command up by name, case-insensitively: the built-in table and
/// any module commands (see [`crate::registry`]).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    crate::registry::lookup(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lookup_works() {
        for w in COMMANDS.windows(2) {
            assert!(
                w[0].name < w[1].name,
                "{} must sort before {}",
                w[0].name,
                w[1].name
            );
        }
        assert_eq!(lookup(b"GeT").map(|c| c.name), Some("get"));
        assert!(lookup(b"nosuch").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }
}
