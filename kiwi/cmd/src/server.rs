//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, INFO, CONFIG, COMMAND,
//! TIME, LASTSAVE, FUNCTION.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use kiwi_resp::{Frame, Protocol};
use kiwi_storage::{SyncMode, DATABASES};

use crate::args::{int_or, is, lower};
use crate::config::{Config, SetError};
use crate::error::{db_out_of_range, err, syntax, unknown_subcommand, wrong_arity, CmdResult};
use crate::exec::Ctx;
use crate::keyspace::help_frame;
use crate::table::{self, COMMANDS};

pub fn dbsize(ctx: &mut Ctx<'_>) -> CmdResult {
    Ok(Frame::Integer(ctx.engine.dbsize(ctx.db) as i64))
}

fn flush_mode_ok(args: &[Bytes]) -> CmdResult<()> {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "ASYNC") || is(&args[1], "SYNC") => Ok(()),
        _ => Err(syntax()),
    }
}

pub fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode_ok(args)?;
    let mut b = ctx.engine.batch();
    ctx.engine.flush_db(&mut b, ctx.db)?;
    ctx.commit(b, 1)?;
    Ok(Frame::ok())
}

pub fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode_ok(args)?;
    let mut b = ctx.engine.batch();
    for db in 0..DATABASES {
        ctx.engine.flush_db(&mut b, db)?;
    }
    ctx.commit(b, 1)?;
    Ok(Frame::ok())
}

pub fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let a = int_or(&args[1], || err("ERR invalid first DB index"))?;
    let b_idx = int_or(&args[2], || err("ERR invalid second DB index"))?;
    let range = 0..DATABASES as i64;
    if !range.contains(&a) || !range.contains(&b_idx) {
        return Err(db_out_of_range());
    }
    let mut b = ctx.engine.batch();
    ctx.engine.swap_db(&mut b, a as usize, b_idx as usize);
    ctx.commit(b, 1)?;
    Ok(Frame::ok())
}

pub fn time() -> CmdResult {
    let us = kiwi_runtime::time::now_us();
    Ok(Frame::Array(vec![
        Frame::bulk((us / 1_000_000).to_string()),
        Frame::bulk((us % 1_000_000).to_string()),
    ]))
}

pub fn lastsave(ctx: &mut Ctx<'_>) -> CmdResult {
    Ok(Frame::Integer(ctx.shared.lastsave_s.load(Relaxed) as i64))
}

pub fn function(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[1], "FLUSH") {
        if args.len() > 3 || (args.len() == 3 && !is(&args[2], "ASYNC") && !is(&args[2], "SYNC")) {
            return Err(syntax());
        }
        return Ok(Frame::ok());
    }
    Err(unknown_subcommand(&args[1], "FUNCTION"))
}

// ---- INFO -----------------------------------------------------------------

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
];

pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<String> = args[1..].iter().map(|a| lower(a)).collect();
    // Cluster mode's `raft` section: asked for by name, or with all/everything.
    let raft = wanted
        .iter()
        .any(|w| w == "raft" || w == "all" || w == "everything");
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "default" || w == "all" || w == "everything")
    {
        wanted = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let mut out = String::new();
    for section in DEFAULT_SECTIONS
        .iter()
        .filter(|s| wanted.iter().any(|w| w == *s))
    {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        info_section(ctx, section, &mut out);
    }
    // Sections outside the default set: by name, or with all/everything.
    let everything = args[1..]
        .iter()
        .any(|a| is(a, "all") || is(a, "everything"));
    for (name, title) in [
        ("commandstats", "# Commandstats\r\n"),
        ("errorstats", "# Errorstats\r\n"),
    ] {
        if everything || args[1..].iter().any(|a| is(a, name)) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(title);
            match name {
                "commandstats" => ctx.shared.calls.commandstats(&mut out),
                _ => ctx.shared.calls.errorstats(&mut out),
            }
        }
    }
    if let Some(section) = raft.then(|| ctx.shared.raft_info()).flatten() {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(&section);
    }
    let text = Bytes::from(out);
    Ok(match ctx.proto {
        Protocol::Resp3 => Frame::Verbatim {
            format: *b"txt",
            text,
        },
        Protocol::Resp2 => Frame::Bulk(text),
    })
}

fn info_section(ctx: &mut Ctx<'_>, section: &str, out: &mut String) {
    let s = &ctx.shared;
    let stats = &s.stats;
    let now_ms = ctx.now_ms;
    let uptime_s = now_ms.saturating_sub(s.started_ms) / 1000;
    let cfg = s.config();
    match section {
        "server" => {
            out.push_str("# Server\r\n");
            kv(out, "redis_version", crate::REDIS_COMPAT_VERSION.into());
            kv(out, "redis_git_sha1", "00000000".into());
            kv(out, "redis_git_dirty", "0".into());
            kv(out, "redis_build_id", "0".into());
            kv(out, "redis_mode", "standalone".into());
            kv(out, "os", std::env::consts::OS.into());
            kv(out, "arch_bits", "64".into());
            kv(out, "multiplexing_api", "epoll".into());
            kv(out, "process_id", kiwi_runtime::sys::pid().to_string());
            kv(out, "run_id", s.run_id.clone());
            kv(out, "tcp_port", s.tcp_port.to_string());
            kv(
                out,
                "server_time_usec",
                kiwi_runtime::time::now_us().to_string(),
            );
            kv(out, "uptime_in_seconds", uptime_s.to_string());
            kv(out, "uptime_in_days", (uptime_s / 86400).to_string());
            kv(out, "hz", cfg.hz.to_string());
            kv(out, "kiwi_version", crate::KIWI_VERSION.into());
            kv(out, "kiwi_storage", "rocksdb".into());
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            kv(out, "connected_clients", s.connected_clients().to_string());
            kv(out, "maxclients", cfg.maxclients.to_string());
            kv(
                out,
                "blocked_clients",
                s.stats.blocked_clients.load(Relaxed).to_string(),
            );
            kv(out, "tracking_clients", "0".into());
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            let rss = kiwi_runtime::sys::rss_bytes();
            kv(out, "used_memory", rss.to_string());
            kv(out, "used_memory_human", human_bytes(rss));
            kv(out, "used_memory_rss", rss.to_string());
            kv(out, "used_memory_rss_human", human_bytes(rss));
            kv(out, "maxmemory", "0".into());
            kv(out, "maxmemory_human", "0B".into());
            kv(out, "maxmemory_policy", "noeviction".into());
            kv(out, "used_disk_bytes", ctx.engine.disk_bytes().to_string());
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            kv(out, "loading", "0".into());
            kv(out, "async_loading", "0".into());
            kv(
                out,
                "rdb_changes_since_last_save",
                stats.dirty.load(Relaxed).to_string(),
            );
            kv(out, "rdb_bgsave_in_progress", "0".into());
            kv(
                out,
                "rdb_last_save_time",
                s.lastsave_s.load(Relaxed).to_string(),
            );
            kv(out, "rdb_last_bgsave_status", "ok".into());
            kv(out, "aof_enabled", "0".into());
            kv(out, "aof_rewrite_in_progress", "0".into());
            kv(out, "kiwi_appendfsync", cfg.appendfsync.clone());
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            let zero = std::sync::atomic::AtomicU64::new(0);
            let channels = std::sync::atomic::AtomicU64::new(s.pubsub.channels(None).len() as u64);
            let patterns = std::sync::atomic::AtomicU64::new(s.pubsub.numpat() as u64);
            let fields: [(&str, &std::sync::atomic::AtomicU64); 13] = [
                (
                    "total_connections_received",
                    &stats.total_connections_received,
                ),
                ("total_commands_processed", &stats.total_commands_processed),
                ("instantaneous_ops_per_sec", &zero),
                ("total_net_input_bytes", &stats.total_net_input_bytes),
                ("total_net_output_bytes", &stats.total_net_output_bytes),
                ("rejected_connections", &stats.rejected_connections),
                ("expired_keys", &stats.expired_keys),
                ("evicted_keys", &zero),
                ("keyspace_hits", &stats.keyspace_hits),
                ("keyspace_misses", &stats.keyspace_misses),
                ("pubsub_channels", &channels),
                ("pubsub_patterns", &patterns),
                ("total_error_replies", &stats.total_error_replies),
            ];
            for (name, counter) in fields {
                kv(out, name, counter.load(Relaxed).to_string());
            }
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            kv(out, "role", "master".into());
            kv(out, "connected_slaves", "0".into());
            kv(out, "master_replid", s.run_id.clone());
            kv(out, "master_repl_offset", "0".into());
        }
        "cpu" => {
            out.push_str("# CPU\r\n");
            let (user, sys) = kiwi_runtime::sys::cpu_seconds();
            kv(out, "used_cpu_sys", format!("{sys:.6}"));
            kv(out, "used_cpu_user", format!("{user:.6}"));
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for db in 0..DATABASES {
                let keys = ctx.engine.dbsize(db);
                if keys == 0 {
                    continue;
                }
                let expires = ctx.engine.expires(db);
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        _ => {}
    }
}

fn kv(out: &mut String, k: &str, v: String) {
    let _ = write!(out, "{k}:{v}\r\n");
}

fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

// ---- CONFIG ---------------------------------------------------------------

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn check_sub_arity(cmd: &str, args: &[Bytes]) -> CmdResult<()> {
    let Some(spec) = table::lookup(cmd.as_bytes()) else {
        return Ok(());
    };
    if let Some(arity) = table::subcommand_arity(spec, &args[1]) {
        if !table::arity_ok(arity, args.len()) {
            return Err(wrong_arity(&format!("{cmd}|{}", lower(&args[1]))));
        }
    }
    Ok(())
}

pub fn config(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_sub_arity("config", args)?;
    let sub = lower(&args[1]);
    match sub.as_str() {
        "get" => {
            let cfg = ctx.shared.config();
            let mut seen = std::collections::BTreeSet::new();
            let mut pairs = Vec::new();
            for pattern in &args[2..] {
                for (k, v) in cfg.get_matching(pattern) {
                    if seen.insert(k.clone()) {
                        pairs.push((Frame::bulk(k), Frame::bulk(v)));
                    }
                }
            }
            Ok(Frame::Map(pairs))
        }
        "set" => {
            if !args.len().is_multiple_of(2) {
                return Err(err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(&args[args.len() - 1])
                )));
            }
            let mut next = Config::clone(&ctx.shared.config());
            for pair in args[2..].chunks(2) {
                let name = lower(&pair[0]);
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                match next.set(&name, &value) {
                    Ok(()) => {}
                    Err(SetError::Unknown) => {
                        return Err(err(format!(
                            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                        )))
                    }
                    Err(SetError::Invalid(why)) => {
                        return Err(err(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
                        )))
                    }
                }
            }
            ctx.engine.set_sync_mode(sync_mode(&next.appendfsync));
            ctx.shared.set_config(next);
            Ok(Frame::ok())
        }
        "resetstat" => {
            ctx.shared.stats.reset();
            ctx.shared.calls.reset();
            Ok(Frame::ok())
        }
        "rewrite" => {
            let cfg = ctx.shared.config();
            let Some(path) = &cfg.config_file else {
                return Err(err("ERR The server is running without a config file"));
            };
            // Redis logs the reason and answers a generic error.
            let rewritten = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| cfg.rewrite_toml(&text))
                .and_then(|text| {
                    kiwi_runtime::sys::write_file_atomically(path, text.as_bytes())
                        .map_err(|e| e.to_string())
                });
            match rewritten {
                Ok(()) => Ok(Frame::ok()),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "CONFIG REWRITE failed");
                    Err(err(format!("ERR Rewriting config file: {e}")))
                }
            }
        }
        "help" => Ok(help_frame(CONFIG_HELP)),
        _ => Err(unknown_subcommand(&args[1], "CONFIG")),
    }
}

/// Maps `appendfsync` to the engine's sync mode.
pub fn sync_mode(appendfsync: &str) -> SyncMode {
    match appendfsync {
        "always" => SyncMode::Always,
        "no" => SyncMode::No,
        _ => SyncMode::EverySec,
    }
}

// ---- COMMAND --------------------------------------------------------------

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "HELP",
    "    Print this help.",
];

pub fn command(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        return Ok(Frame::Array(
            COMMANDS.iter().map(|c| c.info_frame()).collect(),
        ));
    }
    check_sub_arity("command", args)?;
    let sub = lower(&args[1]);
    match sub.as_str() {
        "count" => Ok(Frame::Integer(COMMANDS.len() as i64)),
        "list" => {
            let pattern = match args.len() {
                2 => None,
                5 if is(&args[2], "FILTERBY") && is(&args[3], "PATTERN") => Some(&args[4]),
                5 if is(&args[2], "FILTERBY")
                    && (is(&args[3], "ACLCAT") || is(&args[3], "MODULE")) =>
                {
                    let cat = lower(&args[4]);
                    let names = COMMANDS
                        .iter()
                        .filter(|c| {
                            is(&args[3], "ACLCAT")
                                && (c.group == cat || (cat == "write") == c.is_write())
                        })
                        .map(|c| Frame::bulk(c.name))
                        .collect();
                    return Ok(Frame::Array(names));
                }
                _ => return Err(syntax()),
            };
            Ok(Frame::Array(
                COMMANDS
                    .iter()
                    .filter(|c| {
                        pattern.is_none_or(|p| crate::glob::matches(p, c.name.as_bytes(), true))
                    })
                    .map(|c| Frame::bulk(c.name))
                    .collect(),
            ))
        }
        "info" => {
            if args.len() == 2 {
                return Ok(Frame::Array(
                    COMMANDS.iter().map(|c| c.info_frame()).collect(),
                ));
            }
            Ok(Frame::Array(
                args[2..]
                    .iter()
                    .map(|n| {
                        table::lookup(n)
                            .map(|c| c.info_frame())
                            .unwrap_or(Frame::NullArray)
                    })
                    .collect(),
            ))
        }
        "docs" => {
            let specs: Vec<_> = if args.len() == 2 {
                COMMANDS.iter().collect()
            } else {
                args[2..].iter().filter_map(|n| table::lookup(n)).collect()
            };
            Ok(Frame::Map(
                specs
                    .into_iter()
                    .map(|c| (Frame::bulk(c.name), c.docs_frame()))
                    .collect(),
            ))
        }
        "getkeys" => {
            let Some(spec) = table::lookup(&args[2]) else {
                return Err(err("ERR Invalid command specified"));
            };
            let cmd_args = &args[2..];
            if !spec.arity_ok(cmd_args.len()) {
                return Err(err("ERR Invalid number of arguments specified for command"));
            }
            if spec.first_key == 0 {
                return Err(err("ERR The command has no key arguments"));
            }
            let last = if spec.last_key < 0 {
                cmd_args.len() as i32 + spec.last_key
            } else {
                spec.last_key
            };
            let mut keys = Vec::new();
            let mut i = spec.first_key;
            while i <= last && (i as usize) < cmd_args.len() {
                keys.push(Frame::Bulk(cmd_args[i as usize].clone()));
                i += spec.step.max(1);
            }
            Ok(Frame::Array(keys))
        }
        "help" => Ok(help_frame(COMMAND_HELP)),
        _ => Err(unknown_subcommand(&args[1], "COMMAND")),
    }
}
