//! Operator metrics: the figures an operator graphs, recorded where they
//! happen and exported two ways from the same values — Redis-style INFO
//! sections (`INFO rocksdb`, `INFO raft`) and the OpenMetrics text that the
//! server's `metrics-addr` endpoint serves ([`render`]).
//!
//! Nothing is computed for a scrape that could wait on the data path:
//! counters and [`Histogram`]s are lock-free atomics bumped on the hot path;
//! RocksDB's figures are copied into [`Shared`] by the storage worker once a
//! second ([`EngineFigures`]); Raft's come from the node's metrics channel.
//! So a scrape never queues behind a saturated storage runtime — it is how
//! an operator sees that the storage runtime *is* saturated.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use kiwi_storage::{Engine, EngineStats, DATABASES};

use crate::state::Shared;

/// Buckets of a [`Histogram`]: bucket `i < BUCKETS - 1` holds samples of at
/// most 2^i µs (1 µs .. 67 s); the last holds everything slower.
pub const BUCKETS: usize = 28;

/// What the overflow bucket reports as a value (twice the largest bound).
pub const HISTOGRAM_MAX_US: u64 = 1 << (BUCKETS - 1);

/// A latency histogram with power-of-two microsecond buckets. Recording is
/// two relaxed atomic adds, so it sits on every command's path.
pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

/// The bucket a sample of `us` microseconds falls in.
fn bucket_of(us: u64) -> usize {
    if us <= 1 {
        return 0;
    }
    // Smallest i with us <= 2^i.
    let i = (64 - (us - 1).leading_zeros()) as usize;
    i.min(BUCKETS - 1)
}

impl Histogram {
    pub fn record_us(&self, us: u64) {
        self.counts[bucket_of(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
        }
    }

    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
        self.sum_us.store(0, Relaxed);
    }
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub counts: [u64; BUCKETS],
    pub sum_us: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot {
            counts: [0; BUCKETS],
            sum_us: 0,
        }
    }
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound (µs) of the bucket holding quantile `q` (0..=1);
    /// `u64::MAX` if that is the overflow bucket, 0 with no samples.
    pub fn quantile_bound_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return if i == BUCKETS - 1 { u64::MAX } else { 1 << i };
            }
        }
        u64::MAX
    }

    /// (upper bound in seconds, count) per bucket, as OpenMetrics wants.
    fn buckets_seconds(&self) -> Vec<(f64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let bound = if i == BUCKETS - 1 {
                    f64::INFINITY
                } else {
                    (1u64 << i) as f64 / 1e6
                };
                (bound, c)
            })
            .collect()
    }
}

/// The storage runtime's request queue (connections → storage worker).
#[derive(Default)]
pub struct StorageQueueStats {
    /// Requests that were waiting when the worker last took a batch.
    pub depth: AtomicU64,
    /// Time from a connection queueing a request to the worker taking it.
    pub wait: Histogram,
}

/// What the storage worker copies out of the engine once a second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineFigures {
    pub rocksdb: EngineStats,
    pub keys: [u64; DATABASES],
    pub expires: [u64; DATABASES],
}

/// Reads the engine's figures and copies them into `shared` for INFO and
/// scrapes (storage runtime only: the engine belongs to it). RocksDB's
/// property reads cost a few microseconds, so this runs once a second.
pub fn publish_engine_figures(engine: &Engine, shared: &Shared) {
    let rocksdb = engine.stats();
    shared.update_engine_figures(|f| f.rocksdb = rocksdb);
    publish_key_counts(engine, shared);
}

/// Copies the per-db key counts (in-memory counters: cheap, so this runs
/// after every group commit and every Raft job).
pub fn publish_key_counts(engine: &Engine, shared: &Shared) {
    let keys: [u64; DATABASES] = std::array::from_fn(|db| engine.dbsize(db));
    let expires: [u64; DATABASES] = std::array::from_fn(|db| engine.expires(db));
    shared.update_engine_figures(|f| {
        f.keys = keys;
        f.expires = expires;
    });
}

/// Raft's figures at one moment (cluster mode): INFO raft and the
/// `kiwi_raft_*` metrics both render this.
#[derive(Debug, Clone, Default)]
pub struct RaftFigures {
    pub node_id: u64,
    pub role: &'static str,
    pub term: u64,
    /// The leader's id and RESP address, if there is one.
    pub leader: Option<(u64, String)>,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// Every member: (id, raft address, RESP address).
    pub nodes: Vec<(u64, String, String)>,
    /// On the leader: log entries each follower is behind the leader's log.
    pub follower_lag: Vec<(u64, u64)>,
    pub snapshots_built: u64,
    pub snapshots_installed: u64,
    pub snapshot_build: HistogramSnapshot,
    pub snapshot_install: HistogramSnapshot,
    /// ReadIndex barriers the leader ran for linearizable reads.
    pub read_index: HistogramSnapshot,
    /// Reads whose ReadIndex barrier needed another heartbeat round before
    /// a quorum had accepted this leader after the read arrived.
    pub read_reconfirms: u64,
}

fn index_text(i: Option<u64>) -> String {
    i.map(|i| i.to_string()).unwrap_or_else(|| "-".into())
}

fn ids_text(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

impl RaftFigures {
    /// The `# Raft` INFO section (also RAFT.INFO).
    pub fn info(&self) -> String {
        let mut out = String::from("# Raft\r\n");
        let mut kv = |k: &str, v: String| {
            out.push_str(k);
            out.push(':');
            out.push_str(&v);
            out.push_str("\r\n");
        };
        kv("raft_node_id", self.node_id.to_string());
        kv("raft_role", self.role.to_string());
        kv("raft_current_term", self.term.to_string());
        let (leader_id, leader_addr) = match &self.leader {
            Some((id, addr)) => (id.to_string(), addr.clone()),
            None => ("-".into(), "-".into()),
        };
        kv("raft_leader_id", leader_id);
        kv("raft_leader_addr", leader_addr);
        kv("raft_last_log_index", index_text(self.last_log_index));
        kv("raft_commit_index", index_text(self.commit_index));
        kv("raft_applied_index", index_text(self.applied_index));
        kv("raft_snapshot_index", index_text(self.snapshot_index));
        kv("raft_purged_index", index_text(self.purged_index));
        kv("raft_voters", ids_text(&self.voters));
        kv("raft_learners", ids_text(&self.learners));
        for (id, raft, resp) in &self.nodes {
            kv(
                &format!("raft_node{id}"),
                format!("raft={raft},resp={resp}"),
            );
        }
        for (id, lag) in &self.follower_lag {
            kv(&format!("raft_follower{id}_lag_entries"), lag.to_string());
        }
        kv("raft_snapshots_built", self.snapshots_built.to_string());
        kv(
            "raft_snapshots_installed",
            self.snapshots_installed.to_string(),
        );
        kv("raft_read_index_calls", self.read_index.count().to_string());
        kv(
            "raft_read_index_p99_usec",
            self.read_index.quantile_bound_us(0.99).to_string(),
        );
        kv("raft_read_reconfirms", self.read_reconfirms.to_string());
        out
    }
}

/// How a RocksDB figure is exported.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// RocksDB's figures, listed once for both exports: (INFO field, metric
/// name, kind, help, value).
fn rocksdb_rows(e: &EngineStats) -> [(&'static str, &'static str, Kind, &'static str, u64); 14] {
    use Kind::{Counter, Gauge};
    [
        (
            "rocksdb_memtable_bytes",
            "kiwi_rocksdb_memtable_bytes",
            Gauge,
            "Memtable bytes, all column families.",
            e.memtable_bytes,
        ),
        (
            "rocksdb_sst_bytes",
            "kiwi_rocksdb_sst_bytes",
            Gauge,
            "SST file bytes, all column families.",
            e.sst_bytes,
        ),
        (
            "rocksdb_live_data_bytes",
            "kiwi_rocksdb_live_data_bytes",
            Gauge,
            "Estimated live data bytes.",
            e.live_data_bytes,
        ),
        (
            "rocksdb_pending_compaction_bytes",
            "kiwi_rocksdb_pending_compaction_bytes",
            Gauge,
            "Bytes compaction still has to rewrite.",
            e.pending_compaction_bytes,
        ),
        (
            "rocksdb_running_compactions",
            "kiwi_rocksdb_running_compactions",
            Gauge,
            "Compactions running.",
            e.running_compactions,
        ),
        (
            "rocksdb_running_flushes",
            "kiwi_rocksdb_running_flushes",
            Gauge,
            "Memtable flushes running.",
            e.running_flushes,
        ),
        (
            "rocksdb_write_stopped",
            "kiwi_rocksdb_write_stopped",
            Gauge,
            "1 while RocksDB stops writes for compaction to catch up.",
            e.write_stopped,
        ),
        (
            "rocksdb_delayed_write_rate",
            "kiwi_rocksdb_delayed_write_rate_bytes",
            Gauge,
            "Write rate RocksDB throttles to (0: not delayed).",
            e.delayed_write_rate,
        ),
        (
            "rocksdb_stall_usec",
            "kiwi_rocksdb_stall_microseconds",
            Counter,
            "Time writes were stalled by RocksDB.",
            e.stall_micros,
        ),
        (
            "rocksdb_block_cache_usage_bytes",
            "kiwi_rocksdb_block_cache_usage_bytes",
            Gauge,
            "Block cache bytes in use.",
            e.block_cache_usage_bytes,
        ),
        (
            "rocksdb_block_cache_capacity_bytes",
            "kiwi_rocksdb_block_cache_capacity_bytes",
            Gauge,
            "Block cache capacity.",
            e.block_cache_capacity_bytes,
        ),
        (
            "rocksdb_block_cache_hits",
            "kiwi_rocksdb_block_cache_hits",
            Counter,
            "Block cache hits.",
            e.block_cache_hits,
        ),
        (
            "rocksdb_block_cache_misses",
            "kiwi_rocksdb_block_cache_misses",
            Counter,
            "Block cache misses.",
            e.block_cache_misses,
        ),
        (
            "rocksdb_wal_syncs",
            "kiwi_rocksdb_wal_syncs",
            Counter,
            "WAL fsyncs.",
            e.wal_synced,
        ),
    ]
}

/// The `# Rocksdb` INFO section: the engine's figures and the storage
/// queue (`capacity` is `storage-queue-depth`).
pub fn rocksdb_info(e: &EngineStats, queue: &StorageQueueStats, capacity: usize, out: &mut String) {
    let wait = queue.wait.snapshot();
    let engine = rocksdb_rows(e).map(|(field, _, _, _, value)| (field, value));
    let storage = [
        ("storage_queue_depth", queue.depth.load(Relaxed)),
        ("storage_queue_capacity", capacity as u64),
        ("storage_queue_requests", wait.count()),
        ("storage_queue_wait_p50_usec", wait.quantile_bound_us(0.5)),
        ("storage_queue_wait_p99_usec", wait.quantile_bound_us(0.99)),
    ];
    out.push_str("# Rocksdb\r\n");
    for (k, v) in engine.into_iter().chain(storage) {
        out.push_str(&format!("{k}:{v}\r\n"));
    }
}

/// The OpenMetrics text exposition of everything above (for `GET /metrics`).
pub fn render(shared: &Arc<Shared>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(shared.clone())));
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        // Only a fmt::Write failure, which String never has.
        tracing::error!(error = %e, "encoding metrics failed");
    }
    text
}

/// Reads [`Shared`] at scrape time.
struct Scrape(Arc<Shared>);

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape")
    }
}

/// Writes one metric family after another into the scrape.
struct Out<'a>(DescriptorEncoder<'a>);

impl Out<'_> {
    fn gauge(&mut self, name: &str, help: &str, v: i64) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)
    }

    fn gauge_u(&mut self, name: &str, help: &str, v: u64) -> fmt::Result {
        self.gauge(name, help, i64::try_from(v).unwrap_or(i64::MAX))
    }

    /// `name` without `_total`: the encoder appends it.
    fn counter(&mut self, name: &str, help: &str, v: u64) -> fmt::Result {
        let m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(v).encode(m)
    }

    fn family<V: Copy>(
        &mut self,
        kind: MetricType,
        name: &str,
        help: &str,
        label: &str,
        rows: &[(String, V)],
        encode: impl Fn(V, prometheus_client::encoding::MetricEncoder<'_>) -> fmt::Result,
    ) -> fmt::Result {
        if rows.is_empty() {
            return Ok(());
        }
        let mut m = self.0.encode_descriptor(name, help, None, kind)?;
        for (value, v) in rows {
            let labels = [(label, value.as_str())];
            encode(*v, m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn gauges(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        rows: &[(String, u64)],
    ) -> fmt::Result {
        self.family(MetricType::Gauge, name, help, label, rows, |v, m| {
            ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(m)
        })
    }

    fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        rows: &[(String, u64)],
    ) -> fmt::Result {
        self.family(MetricType::Counter, name, help, label, rows, |v, m| {
            ConstCounter::new(v).encode(m)
        })
    }

    fn histograms(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        rows: &[(String, HistogramSnapshot)],
    ) -> fmt::Result {
        self.family(
            MetricType::Histogram,
            name,
            help,
            label,
            rows,
            |h, mut m| histogram(&h, &mut m),
        )
    }

    fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        histogram(h, &mut m)
    }
}

fn histogram(
    h: &HistogramSnapshot,
    m: &mut prometheus_client::encoding::MetricEncoder<'_>,
) -> fmt::Result {
    m.encode_histogram::<NoLabelSet>(h.sum_us as f64 / 1e6, h.count(), &h.buckets_seconds(), None)
}

impl Collector for Scrape {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let st = &s.stats;
        let n = |c: &AtomicU64| c.load(Relaxed);
        let mut out = Out(encoder);
        let now_ms = kiwi_runtime::time::now_ms();
        for (name, help, value) in [
            (
                "kiwi_uptime_seconds",
                "Seconds since the server started.",
                now_ms.saturating_sub(s.started_ms) / 1000,
            ),
            (
                "kiwi_connected_clients",
                "Client connections open.",
                s.connected_clients() as u64,
            ),
            (
                "kiwi_max_clients",
                "The maxclients limit.",
                s.config().maxclients,
            ),
            (
                "kiwi_blocked_clients",
                "Clients waiting in a blocking command.",
                n(&st.blocked_clients),
            ),
            (
                "kiwi_tracking_clients",
                "Clients with CLIENT TRACKING on.",
                s.tracking.stats().0 as u64,
            ),
            (
                "kiwi_pubsub_channels",
                "Channels with at least one subscriber.",
                s.pubsub.channels(None).len() as u64,
            ),
            (
                "kiwi_pubsub_patterns",
                "Pattern subscriptions.",
                s.pubsub.numpat() as u64,
            ),
            (
                "kiwi_resident_memory_bytes",
                "Resident set size of the process.",
                kiwi_runtime::sys::rss_bytes(),
            ),
        ] {
            out.gauge_u(name, help, value)?;
        }
        for (name, help, value) in [
            (
                "kiwi_connections_received",
                "Client connections accepted.",
                n(&st.total_connections_received),
            ),
            (
                "kiwi_rejected_connections",
                "Connections refused (maxclients).",
                n(&st.rejected_connections),
            ),
            (
                "kiwi_commands_processed",
                "Commands executed.",
                n(&st.total_commands_processed),
            ),
            (
                "kiwi_net_input_bytes",
                "Bytes read from clients.",
                n(&st.total_net_input_bytes),
            ),
            (
                "kiwi_net_output_bytes",
                "Bytes written to clients.",
                n(&st.total_net_output_bytes),
            ),
            (
                "kiwi_keyspace_hits",
                "Key lookups that found the key.",
                n(&st.keyspace_hits),
            ),
            (
                "kiwi_keyspace_misses",
                "Key lookups that did not.",
                n(&st.keyspace_misses),
            ),
            (
                "kiwi_expired_keys",
                "Keys removed because their TTL passed.",
                n(&st.expired_keys),
            ),
            (
                "kiwi_evicted_keys",
                "Keys evicted for memory: always 0, Kiwi keeps its data on disk and never evicts.",
                0,
            ),
            (
                "kiwi_error_replies",
                "Error replies sent.",
                n(&st.total_error_replies),
            ),
        ] {
            out.counter(name, help, value)?;
        }
        let errors: Vec<(String, u64)> = s.calls.error_counts();
        out.counters(
            "kiwi_errors",
            "Error replies by error code.",
            "code",
            &errors,
        )?;

        let mut calls = Vec::new();
        let mut failed = Vec::new();
        let mut rejected = Vec::new();
        let mut latency = Vec::new();
        for (spec, c) in crate::registry::all().zip(s.calls.per_command()) {
            let (n_calls, n_failed, n_rejected) = (n(&c.calls), n(&c.failed), n(&c.rejected));
            if n_calls == 0 && n_rejected == 0 {
                continue;
            }
            let name = spec.name.to_string();
            calls.push((name.clone(), n_calls));
            failed.push((name.clone(), n_failed));
            rejected.push((name.clone(), n_rejected));
            latency.push((name, c.latency.snapshot()));
        }
        out.counters("kiwi_command_calls", "Calls per command.", "cmd", &calls)?;
        out.counters(
            "kiwi_command_failed_calls",
            "Calls that replied with an error.",
            "cmd",
            &failed,
        )?;
        out.counters(
            "kiwi_command_rejected_calls",
            "Calls refused before running (arity, auth...).",
            "cmd",
            &rejected,
        )?;
        out.histograms(
            "kiwi_command_duration_seconds",
            "Execution time per command (storage runtime time; not queueing or network).",
            "cmd",
            &latency,
        )?;

        let q = &s.storage_queue;
        out.gauge_u(
            "kiwi_storage_queue_depth",
            "Requests waiting for the storage runtime.",
            n(&q.depth),
        )?;
        out.gauge_u(
            "kiwi_storage_queue_capacity",
            "Bound of the storage queue (storage-queue-depth).",
            s.config().storage_queue_depth as u64,
        )?;
        out.histogram(
            "kiwi_storage_queue_wait_seconds",
            "Time a request waits in the storage queue before the worker takes it.",
            &q.wait.snapshot(),
        )?;

        let e = s.engine_figures();
        let per_db = |values: &[u64; DATABASES]| -> Vec<(String, u64)> {
            (0..DATABASES)
                .filter(|&db| values[db] > 0)
                .map(|db| (db.to_string(), values[db]))
                .collect()
        };
        out.gauges("kiwi_keys", "Keys per database.", "db", &per_db(&e.keys))?;
        out.gauges(
            "kiwi_expiring_keys",
            "Keys with a TTL per database.",
            "db",
            &per_db(&e.expires),
        )?;
        for (_, name, kind, help, value) in rocksdb_rows(&e.rocksdb) {
            match kind {
                Kind::Gauge => out.gauge_u(name, help, value)?,
                Kind::Counter => out.counter(name, help, value)?,
            }
        }

        if let Some(raft) = s.raft_figures() {
            raft_metrics(&mut out, &raft)?;
        }
        Ok(())
    }
}

fn raft_metrics(out: &mut Out<'_>, r: &RaftFigures) -> fmt::Result {
    let i = |v: Option<u64>| v.unwrap_or(0);
    out.gauge_u("kiwi_raft_node_id", "This node's Raft id.", r.node_id)?;
    out.gauge_u("kiwi_raft_term", "Current Raft term.", r.term)?;
    out.gauge(
        "kiwi_raft_is_leader",
        "1 on the leader.",
        (r.role == "leader") as i64,
    )?;
    out.gauge(
        "kiwi_raft_leader_id",
        "The leader's node id (-1: no leader known).",
        r.leader.as_ref().map_or(-1, |(id, _)| *id as i64),
    )?;
    out.gauge_u(
        "kiwi_raft_last_log_index",
        "Last index in this node's log.",
        i(r.last_log_index),
    )?;
    out.gauge_u(
        "kiwi_raft_commit_index",
        "Last index known committed.",
        i(r.commit_index),
    )?;
    out.gauge_u(
        "kiwi_raft_applied_index",
        "Last index applied to the state machine.",
        i(r.applied_index),
    )?;
    out.gauge_u(
        "kiwi_raft_snapshot_index",
        "Last index in this node's snapshot.",
        i(r.snapshot_index),
    )?;
    out.gauge_u("kiwi_raft_voters", "Voting members.", r.voters.len() as u64)?;
    out.gauge_u(
        "kiwi_raft_learners",
        "Learners (non-voting members).",
        r.learners.len() as u64,
    )?;
    let lag: Vec<(String, u64)> = r
        .follower_lag
        .iter()
        .map(|(id, lag)| (id.to_string(), *lag))
        .collect();
    out.gauges(
        "kiwi_raft_follower_lag_entries",
        "On the leader: log entries each follower has not matched yet.",
        "follower",
        &lag,
    )?;
    out.counter(
        "kiwi_raft_snapshots_built",
        "Snapshots this node built.",
        r.snapshots_built,
    )?;
    out.counter(
        "kiwi_raft_snapshots_installed",
        "Snapshots this node installed from a leader.",
        r.snapshots_installed,
    )?;
    out.histogram(
        "kiwi_raft_snapshot_build_seconds",
        "Time to build a snapshot.",
        &r.snapshot_build,
    )?;
    out.histogram(
        "kiwi_raft_snapshot_install_seconds",
        "Time to install a snapshot.",
        &r.snapshot_install,
    )?;
    out.counter(
        "kiwi_raft_read_reconfirms",
        "Linearizable reads that waited for another heartbeat round to confirm this leader.",
        r.read_reconfirms,
    )?;
    out.histogram(
        "kiwi_raft_read_index_seconds",
        "Time a linearizable read waits for its ReadIndex barrier.",
        &r.read_index,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_microseconds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 2);
        assert_eq!(bucket_of(5), 3);
        assert_eq!(bucket_of(1 << 26), 26);
        assert_eq!(bucket_of((1 << 26) + 1), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_name_the_bucket_bound() {
        let h = Histogram::default();
        assert_eq!(h.snapshot().quantile_bound_us(0.99), 0);
        for _ in 0..98 {
            h.record_us(3);
        }
        h.record_us(1000);
        h.record_us(u64::MAX / 2);
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        assert_eq!(s.quantile_bound_us(0.5), 4);
        assert_eq!(s.quantile_bound_us(0.99), 1024);
        assert_eq!(s.quantile_bound_us(1.0), u64::MAX);
        h.reset();
        assert_eq!(h.snapshot(), HistogramSnapshot::default());
    }
}
