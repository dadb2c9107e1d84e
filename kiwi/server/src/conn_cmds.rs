//! Connection-scoped commands, answered on the network runtime because they
//! read or change the connection itself: PING, ECHO, HELLO, AUTH, SELECT,
//! QUIT, RESET, CLIENT; and SHUTDOWN, which ends the connection with the
//! server.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use kiwi_cmd::args::{int, is, lower};
use kiwi_cmd::error::{db_out_of_range, err, syntax, unknown_subcommand, wrong_arity, CmdError};
use kiwi_cmd::Shared;
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::DATABASES;

use crate::connection::ConnState;

/// Whether the connection continues after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    Close,
    /// SHUTDOWN: close without a reply (as Redis does: the process exits)
    /// and stop the server.
    Shutdown,
}

pub fn execute(
    state: &mut ConnState,
    shared: &Shared,
    name: &str,
    args: &[Bytes],
) -> (Frame, After) {
    let result = match name {
        "ping" => ping(state, args),
        "echo" => Ok(Frame::Bulk(args[1].clone())),
        "hello" => hello(state, shared, args),
        "auth" => auth(state, shared, args),
        "select" => select(state, args),
        "quit" => return (Frame::ok(), After::Close),
        "shutdown" => match shutdown(args) {
            Ok(()) => return (Frame::ok(), After::Shutdown),
            Err(e) => Err(e),
        },
        "reset" => Ok(reset(state, shared)),
        "client" => client(state, shared, args),
        "slowlog" => slowlog(shared, args),
        "acl" => acl(state, shared, args),
        "info" => kiwi_cmd::server::info(shared, state.proto, args),
        // Redis 7 refuses DEBUG unless `enable-debug-command` allows it,
        // which Kiwi does not offer (docs/compatibility.md).
        "debug" => Err(err(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        )),
        "monitor" => Ok(crate::pubsub::monitor(state, shared)),
        // Outside MULTI the connection runs WAIT itself (it may block);
        // queued in a transaction it never blocks, as in Redis.
        "wait" => crate::wait::parse(args)
            .map(|_| Frame::Integer(0))
            .or_else(Ok),
        "latency" => latency(state, shared, args),
        _ => Err(kiwi_cmd::error::unknown_command(args)),
    };
    let frame = result.unwrap_or_else(|e| e.into_frame());
    if frame.is_error() {
        shared.stats.total_error_replies.fetch_add(1, Relaxed);
    }
    (frame, After::Continue)
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT], parsed as Redis 7.0
/// does. Kiwi's data is in RocksDB whatever the flags, and the graceful
/// stop flushes it, so SAVE and NOSAVE differ only in their syntax; no
/// shutdown ever waits (there are no replicas to wait for), so ABORT always
/// finds none in progress.
fn shutdown(args: &[Bytes]) -> Result<(), CmdError> {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    for a in &args[1..] {
        match lower(a).as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" | "force" => other = true,
            "abort" => abort = true,
            _ => return Err(syntax()),
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(syntax());
    }
    if abort {
        return Err(err("ERR No shutdown in progress."));
    }
    Ok(())
}

fn ping(_state: &ConnState, args: &[Bytes]) -> Result<Frame, CmdError> {
    match args.len() {
        1 => Ok(Frame::simple("PONG")),
        2 => Ok(Frame::Bulk(args[1].clone())),
        _ => Err(wrong_arity("ping")),
    }
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

fn slowlog(shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("get", 2 | 3) => {
            let count = match args.get(2) {
                None => Some(10),
                Some(a) => match int(a) {
                    Ok(-1) => None,
                    Ok(n) if n >= 0 => Some(n as usize),
                    _ => return Err(err("ERR count should be greater than or equal to -1")),
                },
            };
            let entries = shared.calls.slowlog(count);
            Ok(Frame::Array(
                entries
                    .into_iter()
                    .map(|e| {
                        Frame::Array(vec![
                            Frame::Integer(e.id as i64),
                            Frame::Integer(e.unix_s as i64),
                            Frame::Integer(e.usec as i64),
                            Frame::Array(e.args.into_iter().map(Frame::Bulk).collect()),
                            Frame::bulk(e.client_addr),
                            Frame::bulk(e.client_name),
                        ])
                    })
                    .collect(),
            ))
        }
        ("len", 2) => Ok(Frame::Integer(shared.calls.slowlog_len() as i64)),
        ("reset", 2) => {
            shared.calls.slowlog_reset();
            Ok(Frame::ok())
        }
        ("help", 2) => Ok(Frame::Array(
            SLOWLOG_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        )),
        ("get" | "len" | "reset" | "help", _) => Err(wrong_arity(&format!("slowlog|{sub}"))),
        _ => Err(unknown_subcommand(&args[1], "SLOWLOG")),
    }
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HELP",
    "    Prints this help.",
];

fn latency(state: &ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = lower(&args[1]);
    let monitor = &shared.calls.latency;
    match (sub.as_str(), args.len()) {
        ("latest", 2) => Ok(Frame::Array(
            monitor
                .latest()
                .into_iter()
                .map(|l| {
                    Frame::Array(vec![
                        Frame::bulk(l.event),
                        Frame::Integer(l.unix_s as i64),
                        Frame::Integer(l.latest_ms as i64),
                        Frame::Integer(l.max_ms as i64),
                    ])
                })
                .collect(),
        )),
        ("history", 3) => Ok(Frame::Array(
            monitor
                .history(&args[2])
                .into_iter()
                .map(|(s, ms)| {
                    Frame::Array(vec![Frame::Integer(s as i64), Frame::Integer(ms as i64)])
                })
                .collect(),
        )),
        ("reset", _) => {
            let names: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
            Ok(Frame::Integer(monitor.reset(&names) as i64))
        }
        ("doctor", 2) => {
            let threshold_ms = shared.config().latency_monitor_threshold;
            let now_s = kiwi_runtime::time::now_ms() / 1000;
            Ok(text_reply(state, monitor.doctor(threshold_ms, now_s)))
        }
        ("help", 2) => Ok(Frame::Array(
            LATENCY_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        )),
        ("latest" | "history" | "doctor" | "help", _) => {
            Err(wrong_arity(&format!("latency|{sub}")))
        }
        _ => Err(unknown_subcommand(&args[1], "LATENCY")),
    }
}

/// AUTH / HELLO AUTH: on success the connection runs as `user`.
fn log_in(
    state: &mut ConnState,
    shared: &Shared,
    user: &[u8],
    pass: &[u8],
) -> Result<(), CmdError> {
    let Some(user) = shared.acl.authenticate(user, pass) else {
        return Err(wrongpass());
    };
    state.client.set_user(&user.name);
    state.authenticated = true;
    Ok(())
}

/// Whether a new (or RESET) connection is logged in as `default` already:
/// the default user is on and has no password.
pub fn default_login(shared: &Shared) -> bool {
    shared
        .acl
        .user("default")
        .is_some_and(|u| u.enabled && u.nopass)
}

fn wrongpass() -> CmdError {
    err("WRONGPASS invalid username-password pair or user is disabled.")
}

fn auth(state: &mut ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    let (user, pass) = match args.len() {
        2 => {
            if shared.acl.user("default").is_some_and(|u| u.nopass) {
                return Err(err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
            }
            (&b"default"[..], &args[1][..])
        }
        3 => (&args[1][..], &args[2][..]),
        _ => return Err(syntax()),
    };
    log_in(state, shared, user, pass)?;
    Ok(Frame::ok())
}

fn hello(state: &mut ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    let mut proto = state.proto;
    if args.len() >= 2 {
        let v = int(&args[1])
            .map_err(|_| err("ERR Protocol version is not an integer or out of range"))?;
        proto = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(err("NOPROTO unsupported protocol version")),
        };
    }
    let mut creds: Option<(&Bytes, &Bytes)> = None;
    let mut name: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "AUTH") && more >= 2 {
            creds = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "SETNAME") && more >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Err(err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    if let Some((user, pass)) = creds {
        log_in(state, shared, user, pass)?;
    }
    if !state.authenticated {
        return Err(err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(name) = name {
        set_name(state, name)?;
    }
    state.proto = proto;
    state
        .client
        .resp
        .store(if proto == Protocol::Resp3 { 3 } else { 2 }, Relaxed);
    Ok(Frame::Map(vec![
        (Frame::bulk("server"), Frame::bulk("redis")),
        (
            Frame::bulk("version"),
            Frame::bulk(kiwi_cmd::REDIS_COMPAT_VERSION),
        ),
        (
            Frame::bulk("proto"),
            Frame::Integer(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (Frame::bulk("id"), Frame::Integer(state.client.id as i64)),
        (Frame::bulk("mode"), Frame::bulk("standalone")),
        (Frame::bulk("role"), Frame::bulk("master")),
        (Frame::bulk("modules"), Frame::Array(vec![])),
    ]))
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

/// ACL: users and permissions (see `kiwi_cmd::acl`), kept per node (in
/// cluster mode each node has its own users), and in `aclfile` when one
/// is configured (ACL LOAD/SAVE).
fn acl(state: &ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    kiwi_cmd::server::check_sub_arity("acl", args)?;
    let sub = lower(&args[1]);
    let text = |s: &str| Frame::bulk(s.to_string());
    match sub.as_str() {
        "setuser" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            shared.acl.setuser(&name, &args[3..]).map_err(err)?;
            Ok(Frame::ok())
        }
        "getuser" => Ok(shared
            .acl
            .user(&String::from_utf8_lossy(&args[2]))
            .map_or(Frame::Null, |u| u.getuser_frame())),
        "deluser" => {
            let removed = shared.acl.deluser(&args[2..]).map_err(err)?;
            // As in Redis, a deleted user's connections are closed.
            let gone: Vec<String> = args[2..]
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            kill_clients_of(shared, &gone);
            Ok(Frame::Integer(removed))
        }
        "list" => Ok(Frame::Array(
            shared.acl.list().iter().map(|l| text(l)).collect(),
        )),
        "users" => Ok(Frame::Array(
            shared.acl.names().iter().map(|n| text(n)).collect(),
        )),
        "whoami" => Ok(Frame::bulk(state.client.user())),
        "cat" => {
            if args.len() > 3 {
                return Err(wrong_arity("acl|cat"));
            }
            Ok(kiwi_cmd::acl::cat(args.get(2)))
        }
        "genpass" => {
            let bits = match args.get(2) {
                None => 256,
                Some(b) => match int(b) {
                    Ok(n) if (1..=4096).contains(&n) => n as usize,
                    _ => return Err(err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
                },
            };
            let chars = bits.div_ceil(4);
            let hex: String = (0..chars)
                .map(|_| char::from_digit(kiwi_runtime::rand::index(16) as u32, 16).unwrap_or('0'))
                .collect();
            Ok(Frame::bulk(hex))
        }
        "load" | "save" if args.len() == 2 => {
            let file = shared.config().aclfile.clone();
            if file.is_empty() {
                return Err(err(NO_ACL_FILE));
            }
            if sub == "save" {
                return match shared.acl.save_file(&file) {
                    Ok(()) => Ok(Frame::ok()),
                    Err(e) => {
                        tracing::warn!(file = %file, error = %e, "ACL SAVE failed");
                        Err(err("ERR There was an error trying to save the ACLs. Please check the server logs for more information"))
                    }
                };
            }
            let replaced = shared
                .acl
                .load_file(&file)
                .map_err(|e| err(format!("ERR {e}")))?;
            // As in Redis, connections of the replaced users are closed.
            kill_clients_of(shared, &replaced);
            Ok(Frame::ok())
        }
        "help" => Ok(kiwi_cmd::keyspace::help_frame(ACL_HELP)),
        _ => Err(unknown_subcommand(&args[1], "ACL")),
    }
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Closes the connections authenticated as any of `users`.
fn kill_clients_of(shared: &Shared, users: &[String]) {
    if let Ok(clients) = shared.clients.lock() {
        for c in clients.values().filter(|c| users.contains(&c.user())) {
            c.kill();
        }
    }
}

fn select(state: &mut ConnState, args: &[Bytes]) -> Result<Frame, CmdError> {
    let db = int(&args[1])?;
    if db < 0 || db >= DATABASES as i64 {
        return Err(db_out_of_range());
    }
    state.db = db as usize;
    state.client.db.store(db as u64, Relaxed);
    Ok(Frame::ok())
}

fn reset(state: &mut ConnState, shared: &Shared) -> Frame {
    state.db = 0;
    state.proto = Protocol::Resp2;
    state.stale_reads = false;
    shared.tracking.disable(state.client.id);
    // CLIENT REPLY goes back to ON, in time for RESET's own reply.
    state.reply_mode = crate::connection::ReplyMode::On;
    state.silenced = false;
    state.client.set_user("default");
    state.authenticated = default_login(shared);
    state.client.db.store(0, Relaxed);
    state.client.resp.store(2, Relaxed);
    if let Ok(mut name) = state.client.name.lock() {
        name.clear();
    }
    Frame::simple("RESET")
}

fn set_name(state: &ConnState, name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Ok(mut n) = state.client.name.lock() {
        *n = String::from_utf8_lossy(name).into_owned();
    }
    Ok(())
}

fn text_reply(state: &ConnState, text: String) -> Frame {
    match state.proto {
        Protocol::Resp3 => Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from(text),
        },
        Protocol::Resp2 => Frame::Bulk(Bytes::from(text)),
    }
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Print this help.",
];

fn client(state: &mut ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = lower(&args[1]);
    if let Some(spec) = kiwi_cmd::lookup(b"client") {
        if let Some(arity) = kiwi_cmd::table::subcommand_arity(spec, &args[1]) {
            if !kiwi_cmd::table::arity_ok(arity, args.len()) {
                return Err(wrong_arity(&format!("client|{sub}")));
            }
        }
    }
    let now = kiwi_runtime::time::now_ms();
    match sub.as_str() {
        "id" => Ok(Frame::Integer(state.client.id as i64)),
        "getname" => {
            let name = state
                .client
                .name
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default();
            Ok(if name.is_empty() {
                Frame::Null
            } else {
                Frame::bulk(name)
            })
        }
        "setname" => {
            set_name(state, &args[2])?;
            Ok(Frame::ok())
        }
        "info" => Ok(text_reply(
            state,
            format!("{}\n", state.client.describe(now)),
        )),
        "list" => {
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < args.len() {
                if is(&args[i], "TYPE") && i + 1 < args.len() {
                    let t = lower(&args[i + 1]);
                    if !matches!(
                        t.as_str(),
                        "normal" | "master" | "replica" | "slave" | "pubsub"
                    ) {
                        return Err(err(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&args[i + 1])
                        )));
                    }
                    if t != "normal" {
                        ids = Some(vec![]);
                    }
                    i += 2;
                } else if is(&args[i], "ID") && i + 1 < args.len() {
                    let mut list = Vec::new();
                    for a in &args[i + 1..] {
                        let id = int(a)
                            .ok()
                            .filter(|&v| v > 0)
                            .ok_or_else(|| err("ERR Invalid client ID"))?;
                        list.push(id as u64);
                    }
                    ids = Some(list);
                    i = args.len();
                } else {
                    return Err(syntax());
                }
            }
            let mut text = String::new();
            for c in shared.client_list() {
                if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
                    continue;
                }
                text.push_str(&c.describe(now));
                text.push('\n');
            }
            Ok(text_reply(state, text))
        }
        "kill" => client_kill(state, shared, args),
        "pause" => {
            if args.len() > 4 {
                // Redis dispatches CLIENT subcommands by argument count.
                return Err(err(
                    "ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.",
                ));
            }
            let timeout_ms =
                int(&args[2]).map_err(|_| err("ERR timeout is not an integer or out of range"))?;
            if timeout_ms < 0 {
                return Err(err("ERR timeout is negative"));
            }
            let all = match args.get(3) {
                None => true,
                Some(m) if is(m, "ALL") => true,
                Some(m) if is(m, "WRITE") => false,
                Some(_) => return Err(err("ERR CLIENT PAUSE mode must be WRITE or ALL")),
            };
            shared
                .pause
                .pause(now.saturating_add(timeout_ms as u64), all);
            Ok(Frame::ok())
        }
        "unpause" => {
            shared.pause.unpause();
            Ok(Frame::ok())
        }
        "tracking" => client_tracking(state, shared, args),
        "caching" => {
            let opts = shared.tracking.options(state.client.id);
            if !opts.as_ref().is_some_and(|o| o.optin || o.optout) {
                return Err(err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
            }
            let yes = if is(&args[2], "YES") {
                true
            } else if is(&args[2], "NO") {
                false
            } else {
                return Err(syntax());
            };
            shared.tracking.set_caching(state.client.id, yes);
            Ok(Frame::ok())
        }
        "getredir" => Ok(Frame::Integer(
            match shared.tracking.options(state.client.id) {
                None => -1,
                Some(o) => o.redirect.map_or(0, |r| r as i64),
            },
        )),
        "trackinginfo" => {
            let opts = shared.tracking.options(state.client.id);
            let mut flags = Vec::new();
            match &opts {
                None => flags.push("off"),
                Some(o) => {
                    flags.push("on");
                    for (on, name) in [
                        (o.bcast, "bcast"),
                        (o.optin, "optin"),
                        (o.optout, "optout"),
                        (o.noloop, "noloop"),
                    ] {
                        if on {
                            flags.push(name);
                        }
                    }
                }
            }
            let redirect = match &opts {
                None => -1,
                Some(o) => o.redirect.map_or(0, |r| r as i64),
            };
            // Redis keeps prefixes in a radix tree: sorted.
            let mut prefixes = opts.map(|o| o.prefixes).unwrap_or_default();
            prefixes.sort();
            Ok(Frame::Map(vec![
                (
                    Frame::bulk("flags"),
                    Frame::Set(flags.into_iter().map(Frame::bulk).collect()),
                ),
                (Frame::bulk("redirect"), Frame::Integer(redirect)),
                (
                    Frame::bulk("prefixes"),
                    Frame::Array(prefixes.into_iter().map(Frame::Bulk).collect()),
                ),
            ]))
        }
        "reply" => {
            use crate::connection::ReplyMode;
            // OFF and SKIP are not answered; ON is.
            let (mode, silent) = if is(&args[2], "ON") {
                (ReplyMode::On, false)
            } else if is(&args[2], "OFF") {
                (ReplyMode::Off, true)
            } else if is(&args[2], "SKIP") {
                (ReplyMode::SkipNext, true)
            } else {
                return Err(syntax());
            };
            state.reply_mode = mode;
            state.silenced = silent;
            Ok(Frame::ok())
        }
        "no-evict" => {
            let on = if is(&args[2], "ON") {
                true
            } else if is(&args[2], "OFF") {
                false
            } else {
                return Err(syntax());
            };
            state.client.no_evict.store(on, Relaxed);
            Ok(Frame::ok())
        }
        "help" => Ok(Frame::Array(
            CLIENT_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        )),
        _ => Err(unknown_subcommand(&args[1], "CLIENT")),
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis's checks and error texts, in its order.
fn client_tracking(
    state: &mut ConnState,
    shared: &Shared,
    args: &[Bytes],
) -> Result<Frame, CmdError> {
    let mut opts = kiwi_cmd::tracking::TrackingOptions::default();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "REDIRECT") && more {
            j += 1;
            if opts.redirect.is_some() {
                return Err(err(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = int(&args[j])?;
            let exists = shared.client_list().iter().any(|c| c.id as i64 == id);
            if !exists {
                return Err(err("ERR The client ID you want redirect to does not exist"));
            }
            opts.redirect = Some(id as u64);
        } else if is(&args[j], "BCAST") {
            opts.bcast = true;
        } else if is(&args[j], "OPTIN") {
            opts.optin = true;
        } else if is(&args[j], "OPTOUT") {
            opts.optout = true;
        } else if is(&args[j], "NOLOOP") {
            opts.noloop = true;
        } else if is(&args[j], "PREFIX") && more {
            j += 1;
            opts.prefixes.push(args[j].clone());
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let id = state.client.id;
    if shared.config().cluster.is_some() {
        return Err(err(
            "ERR CLIENT TRACKING is not supported in cluster mode yet",
        ));
    }
    if is(&args[2], "OFF") {
        shared.tracking.disable(id);
        return Ok(Frame::ok());
    }
    if !is(&args[2], "ON") {
        return Err(syntax());
    }
    let current = shared.tracking.options(id);
    if !opts.bcast && !opts.prefixes.is_empty() {
        return Err(err("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    if current.as_ref().is_some_and(|c| c.bcast != opts.bcast) {
        return Err(err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return Err(err("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if opts.optin && opts.optout {
        return Err(err("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if current
        .as_ref()
        .is_some_and(|c| (opts.optin && c.optout) || (opts.optout && c.optin))
    {
        return Err(err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if opts.bcast {
        let existing = current
            .as_ref()
            .map(|c| c.prefixes.clone())
            .unwrap_or_default();
        check_prefixes(&existing, &opts.prefixes)?;
        // Prefixes add up across CLIENT TRACKING ON calls, as in Redis.
        let mut all = existing;
        all.extend(opts.prefixes.iter().cloned());
        opts.prefixes = all;
    }
    let Some(to) = crate::pubsub::tracking_target(state, shared, opts.redirect) else {
        return Err(err("ERR The client ID you want redirect to does not exist"));
    };
    shared.tracking.enable(id, opts, to);
    Ok(Frame::ok())
}

/// Redis's rule: a client's BCAST prefixes never overlap.
fn check_prefixes(existing: &[Bytes], new: &[Bytes]) -> Result<(), CmdError> {
    let show = |p: &Bytes| String::from_utf8_lossy(p).into_owned();
    let overlap = |a: &Bytes, b: &Bytes| a.starts_with(b) || b.starts_with(a);
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(p, e)) {
            return Err(err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(e)
            )));
        }
        if let Some(q) = new
            .iter()
            .enumerate()
            .find(|(j, q)| *j != i && overlap(p, q))
            .map(|(_, q)| q)
        {
            return Err(err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(q)
            )));
        }
    }
    Ok(())
}

fn client_kill(state: &ConnState, shared: &Shared, args: &[Bytes]) -> Result<Frame, CmdError> {
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(&args[2]);
        let target = shared.client_list().into_iter().find(|c| c.addr == addr);
        return match target {
            Some(c) => {
                c.kill();
                Ok(Frame::ok())
            }
            None => Err(err("ERR No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(syntax());
    }
    let (mut id, mut addr, mut laddr, mut user) = (None, None, None, None);
    let mut skipme = true;
    for pair in args[2..].chunks(2) {
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if is(&pair[0], "ID") {
            id = Some(
                int(&pair[1])
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| err("ERR client-id should be greater than 0"))?
                    as u64,
            );
        } else if is(&pair[0], "ADDR") {
            addr = Some(value);
        } else if is(&pair[0], "LADDR") {
            laddr = Some(value);
        } else if is(&pair[0], "USER") {
            user = Some(value);
        } else if is(&pair[0], "TYPE") {
            let t = value.to_ascii_lowercase();
            if !matches!(
                t.as_str(),
                "normal" | "master" | "replica" | "slave" | "pubsub"
            ) {
                return Err(err(format!("ERR Unknown client type '{value}'")));
            }
        } else if is(&pair[0], "SKIPME") {
            skipme = match value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(syntax()),
            };
        } else {
            return Err(syntax());
        }
    }
    let mut killed = 0;
    for c in shared.client_list() {
        let matched = id.is_none_or(|i| i == c.id)
            && addr.as_ref().is_none_or(|a| *a == c.addr)
            && laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && user.as_ref().is_none_or(|u| u == "default")
            && !(skipme && c.id == state.client.id);
        if matched {
            c.kill();
            killed += 1;
        }
    }
    Ok(Frame::Integer(killed))
}
