//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, INFO, CONFIG, COMMAND,
//! TIME, LASTSAVE (its saves: [`crate::backup`]), FUNCTION.

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
use crate::metrics::EngineFigures;
use crate::registry;
use crate::table;

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

/// Every section Kiwi has, in the order Redis 7.0 prints them. Plain INFO
/// shows all but `commandstats` and `latencystats` (asked for by name, or with `all` /
/// `everything`). `modules` is an empty header (Kiwi has no modules);
/// `cluster` says Redis Cluster is off (Kiwi's Raft cluster is its own
/// `raft` section).
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// INFO. Answered by the connection, never queued behind the storage
/// runtime: engine figures come from the copy the storage worker keeps in
/// [`crate::Shared`] (key counts after every group commit, RocksDB's
/// figures every second), so INFO stays fast while storage is saturated.
pub fn info(shared: &crate::Shared, proto: Protocol, args: &[Bytes]) -> CmdResult {
    let asked: Vec<String> = args[1..].iter().map(|a| lower(a)).collect();
    let everything = asked.iter().any(|w| w == "all" || w == "everything");
    let default = asked.is_empty() || everything || asked.iter().any(|w| w == "default");
    let wanted = |name: &str| asked.iter().any(|w| w == name);
    let figures = shared.engine_figures();
    let mut out = String::new();
    let section = |out: &mut String, title: &str| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str(title);
    };
    for name in SECTIONS {
        let in_default = !matches!(*name, "commandstats" | "latencystats");
        let shown = wanted(name) || if in_default { default } else { everything };
        if !shown {
            continue;
        }
        match *name {
            "commandstats" => {
                section(&mut out, "# Commandstats\r\n");
                shared.calls.commandstats(&mut out);
            }
            "errorstats" => {
                section(&mut out, "# Errorstats\r\n");
                shared.calls.errorstats(&mut out);
            }
            "latencystats" => {
                section(&mut out, "# Latencystats\r\n");
                shared.calls.latencystats(&mut out);
            }
            _ => {
                section(&mut out, "");
                info_section(shared, &figures, name, &mut out);
            }
        }
    }
    // Kiwi's own sections: by name, or with all / everything.
    if everything || wanted("rocksdb") {
        section(&mut out, "");
        crate::metrics::rocksdb_info(
            &figures.rocksdb,
            &shared.storage_queue,
            shared.config().storage_queue_depth,
            &mut out,
        );
    }
    if everything || wanted("raft") {
        if let Some(raft) = shared.raft_figures() {
            section(&mut out, &raft.info());
        }
    }
    let text = Bytes::from(out);
    Ok(match proto {
        Protocol::Resp3 => Frame::Verbatim {
            format: *b"txt",
            text,
        },
        Protocol::Resp2 => Frame::Bulk(text),
    })
}

/// One INFO section: every field Redis 7.0 prints there, in its order, with
/// Kiwi's values (zero, `ok` or `-1` where the mechanism does not exist in
/// Kiwi: forks, RDB/AOF, replication streams, scripts, defragmentation),
/// then Kiwi's own fields.
fn info_section(s: &crate::Shared, figures: &EngineFigures, section: &str, out: &mut String) {
    let stats = &s.stats;
    let now_ms = kiwi_runtime::time::now_ms();
    let uptime_s = now_ms.saturating_sub(s.started_ms) / 1000;
    let cfg = s.config();
    let zeros = |out: &mut String, names: &[&str]| {
        for name in names {
            kv(out, name, "0".into());
        }
    };
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
            kv(out, "monotonic_clock", "POSIX clock_gettime".into());
            kv(out, "multiplexing_api", "epoll".into());
            kv(out, "atomicvar_api", "c11-builtin".into());
            kv(out, "gcc_version", "0.0.0".into());
            kv(out, "process_id", kiwi_runtime::sys::pid().to_string());
            kv(out, "process_supervised", "no".into());
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
            kv(out, "configured_hz", cfg.hz.to_string());
            // Redis's LRU clock: seconds, 24 bits.
            kv(out, "lru_clock", ((now_ms / 1000) & 0xff_ffff).to_string());
            kv(out, "executable", kiwi_runtime::sys::executable());
            let config_file = cfg
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            kv(out, "config_file", config_file);
            kv(out, "io_threads_active", "0".into());
            kv(out, "kiwi_version", crate::KIWI_VERSION.into());
            kv(out, "kiwi_storage", "rocksdb".into());
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            kv(out, "connected_clients", s.connected_clients().to_string());
            kv(out, "cluster_connections", "0".into());
            kv(out, "maxclients", cfg.maxclients.to_string());
            zeros(
                out,
                &[
                    "client_recent_max_input_buffer",
                    "client_recent_max_output_buffer",
                ],
            );
            kv(
                out,
                "blocked_clients",
                s.stats.blocked_clients.load(Relaxed).to_string(),
            );
            kv(out, "tracking_clients", s.tracking.stats().0.to_string());
            kv(out, "clients_in_timeout_table", "0".into());
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            // Kiwi's data lives in RocksDB: memory is the process's
            // resident set (block cache and memtables included).
            let rss = kiwi_runtime::sys::rss_bytes();
            let peak = stats.used_memory_peak.fetch_max(rss, Relaxed).max(rss);
            let system = kiwi_runtime::sys::total_memory_bytes();
            kv(out, "used_memory", rss.to_string());
            kv(out, "used_memory_human", human_bytes(rss));
            kv(out, "used_memory_rss", rss.to_string());
            kv(out, "used_memory_rss_human", human_bytes(rss));
            kv(out, "used_memory_peak", peak.to_string());
            kv(out, "used_memory_peak_human", human_bytes(peak));
            kv(
                out,
                "used_memory_peak_perc",
                format!("{:.2}%", rss as f64 * 100.0 / peak.max(1) as f64),
            );
            zeros(out, &["used_memory_overhead", "used_memory_startup"]);
            kv(out, "used_memory_dataset", rss.to_string());
            kv(out, "used_memory_dataset_perc", "100.00%".into());
            for name in [
                "allocator_allocated",
                "allocator_active",
                "allocator_resident",
            ] {
                kv(out, name, rss.to_string());
            }
            kv(out, "total_system_memory", system.to_string());
            kv(out, "total_system_memory_human", human_bytes(system));
            zeros(out, &["used_memory_lua", "used_memory_vm_eval"]);
            kv(out, "used_memory_lua_human", "0B".into());
            zeros(
                out,
                &[
                    "used_memory_scripts_eval",
                    "number_of_cached_scripts",
                    "number_of_functions",
                    "number_of_libraries",
                    "used_memory_vm_functions",
                    "used_memory_vm_total",
                ],
            );
            kv(out, "used_memory_vm_total_human", "0B".into());
            zeros(out, &["used_memory_functions", "used_memory_scripts"]);
            kv(out, "used_memory_scripts_human", "0B".into());
            kv(out, "maxmemory", "0".into());
            kv(out, "maxmemory_human", "0B".into());
            kv(out, "maxmemory_policy", "noeviction".into());
            for (ratio, bytes) in [
                ("allocator_frag_ratio", "allocator_frag_bytes"),
                ("allocator_rss_ratio", "allocator_rss_bytes"),
                ("rss_overhead_ratio", "rss_overhead_bytes"),
                ("mem_fragmentation_ratio", "mem_fragmentation_bytes"),
            ] {
                kv(out, ratio, "1.00".into());
                kv(out, bytes, "0".into());
            }
            zeros(
                out,
                &[
                    "mem_not_counted_for_evict",
                    "mem_replication_backlog",
                    "mem_total_replication_buffers",
                    "mem_clients_slaves",
                    "mem_clients_normal",
                    "mem_cluster_links",
                    "mem_aof_buffer",
                ],
            );
            kv(out, "mem_allocator", "mimalloc".into());
            zeros(
                out,
                &[
                    "active_defrag_running",
                    "lazyfree_pending_objects",
                    "lazyfreed_objects",
                ],
            );
            kv(
                out,
                "used_disk_bytes",
                figures.rocksdb.sst_bytes.to_string(),
            );
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            zeros(
                out,
                &[
                    "loading",
                    "async_loading",
                    "current_cow_peak",
                    "current_cow_size",
                    "current_cow_size_age",
                    "current_fork_perc",
                    "current_save_keys_processed",
                    "current_save_keys_total",
                ],
            );
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
            let failed = stats.last_save_failed.load(Relaxed);
            kv(
                out,
                "rdb_last_bgsave_status",
                if failed { "err" } else { "ok" }.into(),
            );
            let last_save_s = match stats.rdb_saves.load(Relaxed) {
                0 => -1,
                _ => (stats.last_save_duration_ms.load(Relaxed) / 1000) as i64,
            };
            kv(out, "rdb_last_bgsave_time_sec", last_save_s.to_string());
            kv(out, "rdb_current_bgsave_time_sec", "-1".into());
            kv(out, "rdb_saves", stats.rdb_saves.load(Relaxed).to_string());
            zeros(
                out,
                &[
                    "rdb_last_cow_size",
                    "rdb_last_load_keys_expired",
                    "rdb_last_load_keys_loaded",
                    "aof_enabled",
                    "aof_rewrite_in_progress",
                    "aof_rewrite_scheduled",
                ],
            );
            kv(out, "aof_last_rewrite_time_sec", "-1".into());
            kv(out, "aof_current_rewrite_time_sec", "-1".into());
            kv(out, "aof_last_bgrewrite_status", "ok".into());
            zeros(out, &["aof_rewrites", "aof_rewrites_consecutive_failures"]);
            kv(out, "aof_last_write_status", "ok".into());
            zeros(
                out,
                &[
                    "aof_last_cow_size",
                    "module_fork_in_progress",
                    "module_fork_last_cow_size",
                ],
            );
            kv(out, "kiwi_appendfsync", cfg.appendfsync.clone());
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            let n = |c: &std::sync::atomic::AtomicU64| c.load(Relaxed).to_string();
            kv(
                out,
                "total_connections_received",
                n(&stats.total_connections_received),
            );
            kv(
                out,
                "total_commands_processed",
                n(&stats.total_commands_processed),
            );
            kv(out, "instantaneous_ops_per_sec", "0".into());
            kv(
                out,
                "total_net_input_bytes",
                n(&stats.total_net_input_bytes),
            );
            kv(
                out,
                "total_net_output_bytes",
                n(&stats.total_net_output_bytes),
            );
            zeros(
                out,
                &["total_net_repl_input_bytes", "total_net_repl_output_bytes"],
            );
            for name in [
                "instantaneous_input_kbps",
                "instantaneous_output_kbps",
                "instantaneous_input_repl_kbps",
                "instantaneous_output_repl_kbps",
            ] {
                kv(out, name, "0.00".into());
            }
            kv(out, "rejected_connections", n(&stats.rejected_connections));
            zeros(out, &["sync_full", "sync_partial_ok", "sync_partial_err"]);
            kv(out, "expired_keys", n(&stats.expired_keys));
            kv(out, "expired_stale_perc", "0.00".into());
            zeros(
                out,
                &[
                    "expired_time_cap_reached_count",
                    "expire_cycle_cpu_milliseconds",
                    "evicted_keys",
                    "evicted_clients",
                    "total_eviction_exceeded_time",
                    "current_eviction_exceeded_time",
                ],
            );
            kv(out, "keyspace_hits", n(&stats.keyspace_hits));
            kv(out, "keyspace_misses", n(&stats.keyspace_misses));
            kv(
                out,
                "pubsub_channels",
                s.pubsub.channels(None).len().to_string(),
            );
            kv(out, "pubsub_patterns", s.pubsub.numpat().to_string());
            zeros(
                out,
                &[
                    "pubsubshard_channels",
                    "latest_fork_usec",
                    "total_forks",
                    "migrate_cached_sockets",
                    "slave_expires_tracked_keys",
                    "active_defrag_hits",
                    "active_defrag_misses",
                    "active_defrag_key_hits",
                    "active_defrag_key_misses",
                    "total_active_defrag_time",
                    "current_active_defrag_time",
                ],
            );
            let (_, keys, items, prefixes) = s.tracking.stats();
            kv(out, "tracking_total_keys", keys.to_string());
            kv(out, "tracking_total_items", items.to_string());
            kv(out, "tracking_total_prefixes", prefixes.to_string());
            kv(out, "unexpected_error_replies", "0".into());
            kv(out, "total_error_replies", n(&stats.total_error_replies));
            zeros(
                out,
                &[
                    "dump_payload_sanitizations",
                    "total_reads_processed",
                    "total_writes_processed",
                    "io_threaded_reads_processed",
                    "io_threaded_writes_processed",
                    "reply_buffer_shrinks",
                    "reply_buffer_expands",
                ],
            );
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            kv(out, "role", "master".into());
            kv(out, "connected_slaves", "0".into());
            kv(out, "master_failover_state", "no-failover".into());
            kv(out, "master_replid", s.run_id.clone());
            kv(out, "master_replid2", "0".repeat(40));
            kv(out, "master_repl_offset", "0".into());
            kv(out, "second_repl_offset", "-1".into());
            kv(out, "repl_backlog_active", "0".into());
            kv(out, "repl_backlog_size", "1048576".into());
            zeros(
                out,
                &["repl_backlog_first_byte_offset", "repl_backlog_histlen"],
            );
        }
        "cpu" => {
            out.push_str("# CPU\r\n");
            let (user, sys) = kiwi_runtime::sys::cpu_seconds();
            kv(out, "used_cpu_sys", format!("{sys:.6}"));
            kv(out, "used_cpu_user", format!("{user:.6}"));
            kv(out, "used_cpu_sys_children", "0.000000".into());
            kv(out, "used_cpu_user_children", "0.000000".into());
            // No main thread to single out: the process's totals.
            kv(out, "used_cpu_sys_main_thread", format!("{sys:.6}"));
            kv(out, "used_cpu_user_main_thread", format!("{user:.6}"));
        }
        "modules" => out.push_str("# Modules\r\n"),
        "cluster" => {
            out.push_str("# Cluster\r\n");
            kv(out, "cluster_enabled", "0".into());
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for db in 0..DATABASES {
                let keys = figures.keys[db];
                if keys == 0 {
                    continue;
                }
                let expires = figures.expires[db];
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

pub fn check_sub_arity(cmd: &str, args: &[Bytes]) -> CmdResult<()> {
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
            let mut tls_param = None;
            for pair in args[2..].chunks(2) {
                let name = lower(&pair[0]);
                if name.starts_with("tls-") && tls_param.is_none() {
                    tls_param = Some(name.clone());
                }
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
            if let (Some(name), Some(tls)) = (tls_param, ctx.shared.tls.get()) {
                // Redis reloads its TLS contexts on any CONFIG SET of a
                // tls-* setting, so rotating certificates in place is a
                // CONFIG SET of the same path; on failure nothing changes.
                if let Err(e) = tls.reload(&next) {
                    tracing::warn!(error = %e, "TLS configuration not updated");
                    return Err(err(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs.")));
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
            registry::all().map(|c| c.info_frame()).collect(),
        ));
    }
    check_sub_arity("command", args)?;
    let sub = lower(&args[1]);
    match sub.as_str() {
        "count" => Ok(Frame::Integer(registry::len() as i64)),
        "list" => {
            let pattern = match args.len() {
                2 => None,
                5 if is(&args[2], "FILTERBY") && is(&args[3], "PATTERN") => Some(&args[4]),
                5 if is(&args[2], "FILTERBY")
                    && (is(&args[3], "ACLCAT") || is(&args[3], "MODULE")) =>
                {
                    let cat = lower(&args[4]);
                    let names = registry::all()
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
                registry::all()
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
                    registry::all().map(|c| c.info_frame()).collect(),
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
                registry::all().collect()
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
            Ok(Frame::Array(
                spec.key_args(cmd_args)
                    .into_iter()
                    .map(|k| Frame::Bulk(k.clone()))
                    .collect(),
            ))
        }
        "help" => Ok(help_frame(COMMAND_HELP)),
        _ => Err(unknown_subcommand(&args[1], "COMMAND")),
    }
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("dbsize", |ctx, _| dbsize(ctx));
    r.handle("flushdb", flushdb);
    r.handle("flushall", flushall);
    r.handle("swapdb", swapdb);
    r.handle("config", config);
    r.handle("command", command);
    r.handle("time", |_, _| time());
    r.handle("lastsave", |ctx, _| lastsave(ctx));
    r.handle("function", function);
}
