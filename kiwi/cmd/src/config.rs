//! Server configuration: the TOML file (`config.example.toml`), and the
//! parameters `CONFIG GET` / `CONFIG SET` expose, under Redis's names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Kiwi's configuration. Field names are Redis's parameter names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    /// Source IP of this node's outgoing connections (in cluster mode, its
    /// connections to peers); empty = the kernel's choice. Redis's
    /// `bind-source-addr`.
    pub bind_source_addr: String,
    /// Data directory (RocksDB lives under it).
    pub dir: PathBuf,
    /// Password of the default user; empty = no authentication.
    pub requirepass: String,
    /// File of ACL users (`user <name> <rules>` lines, Redis's format),
    /// loaded at startup and by ACL LOAD, written by ACL SAVE; empty = none.
    pub aclfile: String,
    /// Redis's protected mode: while the default user has no password,
    /// only loopback clients are served (others get `-DENIED ...`), so a
    /// server bound to a public address by mistake is not open to all.
    pub protected_mode: bool,
    pub maxclients: u64,
    /// Close connections idle for this many seconds (0 = never).
    pub timeout: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// Redis's `client-output-buffer-limit`: `<class> <hard> <soft> <soft
    /// seconds>` for normal, replica (`slave`) and pubsub clients. Kiwi
    /// enforces the pubsub hard limit: a subscriber whose undelivered
    /// messages exceed it is disconnected.
    pub client_output_buffer_limit: String,
    /// Commands running at least this many microseconds go to the slow
    /// log (negative: off; 0: every command).
    pub slowlog_log_slower_than: i64,
    /// Slow-log entries kept.
    pub slowlog_max_len: u64,
    /// Commands taking at least this many milliseconds are LATENCY
    /// samples (0: the latency monitor is off).
    pub latency_monitor_threshold: u64,
    /// Keyspace notification classes, as Redis spells them (`KEA`, `Kx`,
    /// ...; empty = off). See [`crate::notify`].
    pub notify_keyspace_events: String,
    /// `always`, `everysec` or `no` (see docs/durability in README).
    pub appendfsync: String,
    /// Background task frequency (active expiry cycles per second).
    pub hz: u64,
    pub loglevel: String,
    /// `text` (human-readable lines) or `json` (one object per line).
    pub log_format: String,
    /// TLS listener port for clients (0: no TLS). Redis's `tls-port`.
    pub tls_port: u16,
    /// PEM certificate chain and private key the TLS listener presents.
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// PEM CA that client certificates must be signed by.
    pub tls_ca_cert_file: String,
    /// `yes` (clients must present a certificate), `optional` or `no`.
    pub tls_auth_clients: String,
    /// Mutual TLS on the cluster transport (Raft, forwarded commands,
    /// pub/sub relay): every node presents `tls-cert-file` and accepts
    /// only peers whose certificate `tls-ca-cert-file` signed. Redis's
    /// `tls-cluster`.
    pub tls_cluster: bool,
    /// Where the Prometheus/OpenMetrics endpoint listens (`GET /metrics`);
    /// empty = off. Unauthenticated: keep it on loopback or a private network.
    pub metrics_addr: String,
    /// Depth of the bounded queue between network and storage runtimes.
    pub storage_queue_depth: usize,
    pub block_cache_bytes: u64,
    /// RocksDB memtable size per column family (the data's and the Raft
    /// log's); RocksDB also reserves about this much for each new WAL file.
    pub write_buffer_bytes: u64,
    /// Network runtime worker threads (connections, RESP). 0 = one fewer
    /// than the CPU cores, at least 1: the storage runtime keeps a core.
    pub io_threads: usize,
    /// Cluster mode (Raft); absent = standalone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// The file this configuration was loaded from (CONFIG REWRITE's
    /// target); not a setting itself.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

/// The `[cluster]` section: this node's place in a Raft cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id, unique in the cluster (> 0).
    pub node_id: u64,
    /// Address peers dial to reach this node's Raft transport (what the
    /// membership records).
    pub raft_addr: String,
    /// Address the Raft transport listens on; empty = `raft-addr`. Differs
    /// when something sits between peers and the node (NAT, a container
    /// port mapping, the Jepsen harness's fault-injecting proxy).
    pub raft_listen_addr: String,
    /// RESP address clients should use for this node (`-MOVED`,
    /// RAFT.LEADER); empty = bind:port.
    pub advertise_addr: String,
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Longest a client waits for the cluster before `-TIMEOUT`/`-CLUSTERDOWN`.
    pub request_timeout_ms: u64,
    /// Build a snapshot after this many log entries.
    pub snapshot_logs: u64,
    /// Entries kept in the log behind a snapshot.
    pub snapshot_keep_logs: u64,
    /// `forward`: followers pass commands to the leader; `moved`: they
    /// answer `-MOVED 0 <leader>` (RedisRaft style).
    pub follower_mode: String,
    /// Shared secret every node must prove it knows before any Raft
    /// traffic (empty: peers are not authenticated).
    pub secret: String,
    /// Set by `--init-cluster`, never read from the file.
    #[serde(skip)]
    pub init_cluster: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id: 1,
            raft_addr: "127.0.0.1:17379".into(),
            raft_listen_addr: String::new(),
            advertise_addr: String::new(),
            election_timeout_ms: 1000,
            heartbeat_interval_ms: 250,
            request_timeout_ms: 5000,
            snapshot_logs: 10_000,
            snapshot_keep_logs: 1_000,
            follower_mode: "forward".into(),
            secret: String::new(),
            init_cluster: false,
        }
    }
}

impl ClusterConfig {
    /// Where the Raft transport listens.
    pub fn raft_listen_addr(&self) -> &str {
        if self.raft_listen_addr.is_empty() {
            &self.raft_addr
        } else {
            &self.raft_listen_addr
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("cluster.node-id must be > 0".into());
        }
        if !matches!(self.follower_mode.as_str(), "forward" | "moved") {
            return Err("cluster.follower-mode must be forward or moved".into());
        }
        if self.heartbeat_interval_ms == 0 || self.election_timeout_ms <= self.heartbeat_interval_ms
        {
            return Err(
                "cluster.election-timeout-ms must exceed heartbeat-interval-ms (> 0)".into(),
            );
        }
        if self.request_timeout_ms == 0 || self.snapshot_logs == 0 {
            return Err("cluster.request-timeout-ms and snapshot-logs must be > 0".into());
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            bind_source_addr: String::new(),
            port: 7379,
            dir: PathBuf::from("./kiwi-data"),
            requirepass: String::new(),
            protected_mode: true,
            aclfile: String::new(),
            maxclients: 10_000,
            timeout: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: DEFAULT_OUTPUT_LIMITS.into(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            notify_keyspace_events: String::new(),
            appendfsync: "everysec".into(),
            hz: 10,
            loglevel: "notice".into(),
            log_format: "text".into(),
            metrics_addr: String::new(),
            tls_port: 0,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_ca_cert_file: String::new(),
            tls_auth_clients: "yes".into(),
            tls_cluster: false,
            storage_queue_depth: 1024,
            block_cache_bytes: 128 * 1024 * 1024,
            write_buffer_bytes: 64 * 1024 * 1024,
            io_threads: 0,
            cluster: None,
            config_file: None,
        }
    }
}

/// How a parameter may be changed at runtime.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mutability {
    Mutable,
    Immutable,
}

/// RocksDB's own floor for a memtable (`write_buffer_size` is clamped up to 64 KiB).
const MIN_WRITE_BUFFER_BYTES: u64 = 64 * 1024;

/// Parameters visible to CONFIG GET, in the order CONFIG GET * lists them.
/// Some are compatibility constants that tools (redis-benchmark, redis-cli)
/// query; they are immutable.
const PARAMS: &[(&str, Mutability)] = &[
    ("bind", Mutability::Immutable),
    ("port", Mutability::Immutable),
    ("bind-source-addr", Mutability::Immutable),
    ("dir", Mutability::Immutable),
    ("requirepass", Mutability::Mutable),
    ("protected-mode", Mutability::Mutable),
    ("aclfile", Mutability::Immutable),
    ("maxclients", Mutability::Mutable),
    ("timeout", Mutability::Mutable),
    ("proto-max-bulk-len", Mutability::Mutable),
    ("client-query-buffer-limit", Mutability::Mutable),
    ("client-output-buffer-limit", Mutability::Mutable),
    ("slowlog-log-slower-than", Mutability::Mutable),
    ("slowlog-max-len", Mutability::Mutable),
    ("latency-monitor-threshold", Mutability::Mutable),
    ("notify-keyspace-events", Mutability::Mutable),
    ("appendfsync", Mutability::Mutable),
    ("hz", Mutability::Mutable),
    ("loglevel", Mutability::Mutable),
    ("log-format", Mutability::Immutable),
    ("metrics-addr", Mutability::Immutable),
    ("tls-port", Mutability::Immutable),
    ("tls-cert-file", Mutability::Mutable),
    ("tls-key-file", Mutability::Mutable),
    ("tls-ca-cert-file", Mutability::Mutable),
    ("tls-auth-clients", Mutability::Mutable),
    ("tls-cluster", Mutability::Immutable),
    ("storage-queue-depth", Mutability::Immutable),
    ("block-cache-bytes", Mutability::Immutable),
    ("write-buffer-bytes", Mutability::Immutable),
    ("io-threads", Mutability::Immutable),
    ("databases", Mutability::Immutable),
    ("save", Mutability::Immutable),
    ("appendonly", Mutability::Immutable),
    ("maxmemory", Mutability::Immutable),
    ("maxmemory-policy", Mutability::Immutable),
];

impl Config {
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.appendfsync.as_str(), "always" | "everysec" | "no") {
            return Err(format!(
                "appendfsync must be always, everysec or no, not {:?}",
                self.appendfsync
            ));
        }
        if self.hz == 0 || self.hz > 500 {
            return Err("hz must be in 1..=500".into());
        }
        if self.storage_queue_depth == 0 {
            return Err("storage-queue-depth must be > 0".into());
        }
        if self.write_buffer_bytes < MIN_WRITE_BUFFER_BYTES {
            return Err(format!(
                "write-buffer-bytes must be >= {MIN_WRITE_BUFFER_BYTES}"
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "log-format must be text or json, not {:?}",
                self.log_format
            ));
        }
        if !matches!(self.tls_auth_clients.as_str(), "yes" | "no" | "optional") {
            return Err(format!(
                "tls-auth-clients must be yes, no or optional, not {:?}",
                self.tls_auth_clients
            ));
        }
        if self.tls_port != 0 && (self.tls_cert_file.is_empty() || self.tls_key_file.is_empty()) {
            return Err("tls-port needs tls-cert-file and tls-key-file".into());
        }
        if self.tls_cluster
            && (self.tls_cert_file.is_empty()
                || self.tls_key_file.is_empty()
                || self.tls_ca_cert_file.is_empty())
        {
            return Err(
                "tls-cluster needs tls-cert-file, tls-key-file and tls-ca-cert-file".into(),
            );
        }
        if !self.bind_source_addr.is_empty()
            && self.bind_source_addr.parse::<std::net::IpAddr>().is_err()
        {
            return Err(format!(
                "bind-source-addr must be an IP address, not {:?}",
                self.bind_source_addr
            ));
        }
        if self.io_threads > 128 {
            return Err("io-threads must be in 0..=128".into());
        }
        merge_output_limits(DEFAULT_OUTPUT_LIMITS, &self.client_output_buffer_limit)?;
        if crate::notify::parse_flags(&self.notify_keyspace_events).is_none() {
            return Err(format!(
                "notify-keyspace-events: {}",
                crate::notify::INVALID_CLASS
            ));
        }
        if self.proto_max_bulk_len < 1024 * 1024 {
            return Err("proto-max-bulk-len must be at least 1mb".into());
        }
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        Ok(())
    }

    /// CONFIG REWRITE: `existing` (the configuration file's TOML) with every
    /// setting brought up to this configuration. Keys already in the file
    /// keep their place and comments and change value only if it differs;
    /// settings missing from the file are appended when they differ from
    /// the default. Other keys and comments are left alone.
    pub fn rewrite_toml(&self, existing: &str) -> Result<String, String> {
        let parse = |text: &str| {
            text.parse::<toml_edit::DocumentMut>()
                .map_err(|e| e.to_string())
        };
        let mut doc = parse(existing)?;
        let current = parse(&toml::to_string(self).map_err(|e| e.to_string())?)?;
        let defaults = parse(&toml::to_string(&Config::default()).map_err(|e| e.to_string())?)?;
        merge_settings(
            doc.as_table_mut(),
            current.as_table(),
            Some(defaults.as_table()),
        );
        Ok(doc.to_string())
    }

    /// Parameter names matching `pattern` with their current values.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        PARAMS
            .iter()
            .filter(|(name, _)| crate::glob::matches(pattern, name.as_bytes(), true))
            .filter_map(|(name, _)| self.get(name).map(|v| (name.to_string(), v)))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "bind" => self.bind.clone(),
            "port" => self.port.to_string(),
            "bind-source-addr" => self.bind_source_addr.clone(),
            "dir" => self.dir.display().to_string(),
            "requirepass" => self.requirepass.clone(),
            "protected-mode" => if self.protected_mode { "yes" } else { "no" }.into(),
            "aclfile" => self.aclfile.clone(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => self.client_output_buffer_limit.clone(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "notify-keyspace-events" => crate::notify::flags_to_string(self.notify_flags()),
            "appendfsync" => self.appendfsync.clone(),
            "hz" => self.hz.to_string(),
            "loglevel" => self.loglevel.clone(),
            "storage-queue-depth" => self.storage_queue_depth.to_string(),
            "block-cache-bytes" => self.block_cache_bytes.to_string(),
            "write-buffer-bytes" => self.write_buffer_bytes.to_string(),
            "io-threads" => self.io_threads.to_string(),
            "log-format" => self.log_format.clone(),
            "metrics-addr" => self.metrics_addr.clone(),
            "tls-port" => self.tls_port.to_string(),
            "tls-cert-file" => self.tls_cert_file.clone(),
            "tls-key-file" => self.tls_key_file.clone(),
            "tls-ca-cert-file" => self.tls_ca_cert_file.clone(),
            "tls-auth-clients" => self.tls_auth_clients.clone(),
            "tls-cluster" => if self.tls_cluster { "yes" } else { "no" }.into(),
            "databases" => kiwi_storage::DATABASES.to_string(),
            "save" => String::new(),
            "appendonly" => "no".into(),
            "maxmemory" => "0".into(),
            "maxmemory-policy" => "noeviction".into(),
            _ => return None,
        })
    }

    /// Applies one `CONFIG SET name value`; the error is Redis's reason text.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SetError> {
        let Some((_, mutability)) = PARAMS.iter().find(|(n, _)| *n == name) else {
            return Err(SetError::Unknown);
        };
        if *mutability == Mutability::Immutable {
            return Err(SetError::Invalid("can't set immutable config".into()));
        }
        let int = |v: &str| {
            v.parse::<u64>().map_err(|_| {
                SetError::Invalid("argument couldn't be parsed into an integer".into())
            })
        };
        let mem = |v: &str| {
            parse_memory(v)
                .ok_or_else(|| SetError::Invalid("argument must be a memory value".into()))
        };
        let mut next = self.clone();
        match name {
            "requirepass" => next.requirepass = value.to_string(),
            "protected-mode" => {
                next.protected_mode = match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(SetError::Invalid("argument must be 'yes' or 'no'".into())),
                }
            }
            "maxclients" => next.maxclients = int(value)?,
            "timeout" => next.timeout = int(value)?,
            "proto-max-bulk-len" => next.proto_max_bulk_len = mem(value)?,
            "client-query-buffer-limit" => next.client_query_buffer_limit = mem(value)?,
            "client-output-buffer-limit" => {
                next.client_output_buffer_limit =
                    merge_output_limits(&self.client_output_buffer_limit, value)
                        .map_err(SetError::Invalid)?
            }
            "slowlog-log-slower-than" => {
                next.slowlog_log_slower_than = value.parse::<i64>().map_err(|_| {
                    SetError::Invalid("argument couldn't be parsed into an integer".into())
                })?
            }
            "slowlog-max-len" => next.slowlog_max_len = int(value)?,
            "latency-monitor-threshold" => next.latency_monitor_threshold = int(value)?,
            "notify-keyspace-events" => {
                // Kept as given: the shown form can hide `n` (behind `A`).
                crate::notify::parse_flags(value)
                    .ok_or_else(|| SetError::Invalid(crate::notify::INVALID_CLASS.into()))?;
                next.notify_keyspace_events = value.to_string();
            }
            "appendfsync" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "always" | "everysec" | "no") {
                    return Err(SetError::Invalid(
                        "argument(s) must be one of the following: always, everysec, no".into(),
                    ));
                }
                next.appendfsync = v;
            }
            "hz" => next.hz = int(value)?.clamp(1, 500),
            // Certificate rotation: CONFIG SET reloads the TLS contexts
            // (see crate::server::config), even when the path is unchanged.
            "tls-cert-file" => next.tls_cert_file = value.to_string(),
            "tls-key-file" => next.tls_key_file = value.to_string(),
            "tls-ca-cert-file" => next.tls_ca_cert_file = value.to_string(),
            "tls-auth-clients" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "no" | "yes" | "optional") {
                    return Err(SetError::Invalid(
                        "argument(s) must be one of the following: no, yes, optional".into(),
                    ));
                }
                next.tls_auth_clients = v;
            }
            "loglevel" => {
                let v = value.to_ascii_lowercase();
                if !matches!(
                    v.as_str(),
                    "debug" | "verbose" | "notice" | "warning" | "nothing"
                ) {
                    return Err(SetError::Invalid("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into()));
                }
                next.loglevel = v;
            }
            _ => return Err(SetError::Unknown),
        }
        next.validate().map_err(SetError::Invalid)?;
        *self = next;
        Ok(())
    }

    /// `tls-auth-clients` as the TLS layer takes it.
    pub fn tls_client_auth(&self) -> kiwi_runtime::tls::ClientAuth {
        use kiwi_runtime::tls::ClientAuth;
        match self.tls_auth_clients.as_str() {
            "no" => ClientAuth::None,
            "optional" => ClientAuth::Optional,
            _ => ClientAuth::Required,
        }
    }

    /// `tls-ca-cert-file`, if set.
    pub fn tls_ca_file(&self) -> Option<&std::path::Path> {
        (!self.tls_ca_cert_file.is_empty()).then(|| std::path::Path::new(&self.tls_ca_cert_file))
    }

    /// `Some(true)` if CONFIG SET may change `name`, `Some(false)` if it is
    /// visible but fixed at startup, `None` if CONFIG does not know it.
    pub fn settable(name: &str) -> Option<bool> {
        PARAMS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m == Mutability::Mutable)
    }

    pub fn is_known(name: &str) -> bool {
        PARAMS.iter().any(|(n, _)| *n == name)
    }

    /// The keyspace notification classes switched on (validated at load
    /// and at CONFIG SET, so a bad value cannot be here; it would read as off).
    pub fn notify_flags(&self) -> u32 {
        crate::notify::parse_flags(&self.notify_keyspace_events).unwrap_or(0)
    }

    /// Undelivered pub/sub bytes a subscriber may have before it is
    /// disconnected (0 = no limit): the pubsub class's hard limit.
    pub fn pubsub_output_limit_bytes(&self) -> u64 {
        self.output_limit_bytes("pubsub")
    }

    /// Undelivered MONITOR bytes a monitor may have before it is
    /// disconnected (0 = no limit): the replica class's hard limit, the
    /// class Redis counts monitors in.
    pub fn monitor_output_limit_bytes(&self) -> u64 {
        self.output_limit_bytes("slave")
    }

    /// The hard limit of an output-buffer class (`pubsub`, `slave`, `normal`).
    fn output_limit_bytes(&self, class: &str) -> u64 {
        parse_output_limits(&self.client_output_buffer_limit)
            .ok()
            .and_then(|classes| classes.into_iter().find(|(c, _)| c == class))
            .map(|(_, [hard, ..])| hard)
            .unwrap_or(0)
    }
}

/// Brings the settings of `file` up to `current` (see [`Config::rewrite_toml`]);
/// `defaults` decides which missing keys are worth appending (`None`: all).
fn merge_settings(
    file: &mut toml_edit::Table,
    current: &toml_edit::Table,
    defaults: Option<&toml_edit::Table>,
) {
    // A value without its surrounding whitespace and comments.
    let bare = |v: &toml_edit::Value| {
        let mut v = v.clone();
        v.decor_mut().clear();
        v.to_string()
    };
    for (key, item) in current.iter() {
        let default = defaults.and_then(|d| d.get(key));
        if let Some(section) = item.as_table() {
            let entry = file
                .entry(key)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            if let Some(target) = entry.as_table_mut() {
                merge_settings(target, section, default.and_then(|d| d.as_table()));
            }
            continue;
        }
        let Some(value) = item.as_value() else {
            continue;
        };
        match file.get_mut(key).and_then(|i| i.as_value_mut()) {
            Some(old) if bare(old) != bare(value) => {
                let decor = old.decor().clone();
                *old = value.clone();
                *old.decor_mut() = decor;
            }
            Some(_) => {}
            None => {
                let is_default = default
                    .and_then(|d| d.as_value())
                    .is_some_and(|d| bare(d) == bare(value));
                if !is_default {
                    file.insert(key, item.clone());
                }
            }
        }
    }
}

/// Redis's default `client-output-buffer-limit`.
pub const DEFAULT_OUTPUT_LIMITS: &str =
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// `client-output-buffer-limit` as (class, [hard, soft, soft seconds]).
fn parse_output_limits(text: &str) -> Result<Vec<(String, [u64; 3])>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    words
        .chunks(4)
        .map(|w| {
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => "normal",
                "slave" | "replica" => "slave",
                "pubsub" => "pubsub",
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad = || {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            };
            let hard = parse_memory(w[1]).ok_or_else(bad)?;
            let soft = parse_memory(w[2]).ok_or_else(bad)?;
            let secs = w[3].parse::<u64>().map_err(|_| bad())?;
            Ok((class.to_string(), [hard, soft, secs]))
        })
        .collect()
}

/// `current` with the classes `update` names replaced (CONFIG SET takes
/// any subset), in Redis's canonical form.
fn merge_output_limits(current: &str, update: &str) -> Result<String, String> {
    let mut classes = parse_output_limits(current)?;
    for (class, limits) in parse_output_limits(update)? {
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some(entry) => entry.1 = limits,
            None => classes.push((class, limits)),
        }
    }
    Ok(classes
        .iter()
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

#[derive(Debug)]
pub enum SetError {
    Unknown,
    Invalid(String),
}

/// Parses Redis memory values: `1024`, `64kb`, `512mb`, `1gb`, `2k` ...
pub fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, mul)| lower.strip_suffix(suffix).map(|n| (n.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    num.parse::<u64>().ok()?.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../../config.example.toml");
        let cfg = Config::from_toml(text).expect("config.example.toml must parse");
        assert_eq!(
            cfg,
            Config::default(),
            "config.example.toml documents the defaults"
        );
    }

    #[test]
    fn a_write_buffer_below_rocksdbs_floor_is_refused() {
        let small = Config::from_toml("write-buffer-bytes = 65535");
        assert!(small.is_err(), "{small:?}");
        let floor = Config::from_toml("write-buffer-bytes = 65536").expect("64 KiB is allowed");
        assert_eq!(floor.write_buffer_bytes, 65_536);
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn set_rules() {
        let mut c = Config::default();
        assert!(c.set("maxclients", "5").is_ok());
        assert_eq!(c.maxclients, 5);
        assert!(matches!(c.set("port", "1"), Err(SetError::Invalid(_))));
        assert!(matches!(c.set("nope", "1"), Err(SetError::Unknown)));
        assert!(matches!(
            c.set("maxclients", "x"),
            Err(SetError::Invalid(_))
        ));
        assert_eq!(c.get_matching(b"max*").len(), 3);
    }
}
