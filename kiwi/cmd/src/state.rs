//! State shared by the network runtime (connections) and the storage
//! runtime (executor): configuration, statistics and the client registry.
//! Everything here is behind short, non-async critical sections or atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use kiwi_runtime::sync::Notify;

use crate::acl::Acl;
use crate::calls::CallStats;
use crate::config::Config;
use crate::metrics::{EngineFigures, RaftFigures, StorageQueueStats};
use crate::pause::Pause;
use crate::pubsub::PubSub;
use crate::tracking::Tracking;

/// Server-wide counters reported by INFO.
#[derive(Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub expired_keys: AtomicU64,
    pub keyspace_hits: AtomicU64,
    pub keyspace_misses: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub dirty: AtomicU64,
    /// Successful SAVE/BGSAVE backups (`rdb_saves`), and the last one's
    /// outcome and duration (see [`crate::backup`]).
    pub rdb_saves: AtomicU64,
    pub last_save_failed: AtomicBool,
    pub last_save_duration_ms: AtomicU64,
    /// Gauge: clients parked by a blocking command.
    pub blocked_clients: AtomicU64,
    /// The largest resident set INFO has seen (`used_memory_peak`).
    pub used_memory_peak: AtomicU64,
}

impl Stats {
    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.total_commands_processed,
            &self.rejected_connections,
            &self.expired_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.total_net_input_bytes,
            &self.total_net_output_bytes,
            &self.total_error_replies,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// One connected client, as CLIENT LIST / INFO / KILL see it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created_ms: u64,
    pub name: Mutex<String>,
    pub db: AtomicU64,
    pub resp: AtomicU8,
    pub last_interaction_ms: AtomicU64,
    pub last_cmd: Mutex<String>,
    pub killed: AtomicBool,
    /// CLIENT NO-EVICT (shown as flag `e`; Kiwi never evicts clients).
    pub no_evict: AtomicBool,
    /// Wakes the connection task when it is killed.
    pub kill_signal: Notify,
    /// The ACL user the connection runs as (see [`crate::acl`]).
    pub user: Mutex<String>,
}

impl ClientHandle {
    pub fn user(&self) -> String {
        self.user.lock().map(|u| u.clone()).unwrap_or_default()
    }

    pub fn set_user(&self, name: &str) {
        if let Ok(mut u) = self.user.lock() {
            name.clone_into(&mut u);
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill_signal.notify_one();
    }

    /// One CLIENT LIST line (without the trailing newline).
    pub fn describe(&self, now_ms: u64) -> String {
        let name = self.name.lock().map(|n| n.clone()).unwrap_or_default();
        let cmd = self.last_cmd.lock().map(|c| c.clone()).unwrap_or_default();
        let user = self.user.lock().map(|u| u.clone()).unwrap_or_default();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let flags = if self.no_evict.load(Relaxed) {
            "e"
        } else {
            "N"
        };
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Relaxed)) / 1000;
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            age,
            idle,
            flags,
            self.db.load(Relaxed),
            if cmd.is_empty() { "NULL".to_string() } else { cmd },
            user,
            self.resp.load(Relaxed),
        )
    }
}

/// The node's TLS contexts: the client listener's and the cluster
/// transport's, each present only when configured.
#[derive(Clone, Default)]
pub struct TlsContexts {
    pub clients: Option<kiwi_runtime::tls::TlsAcceptor>,
    pub cluster: Option<kiwi_runtime::tls::PeerTls>,
}

impl TlsContexts {
    /// Reads `cfg`'s certificate files again for every context in use
    /// (certificate rotation); all load before any is swapped in, so on an
    /// error nothing changes.
    pub fn reload(&self, cfg: &Config) -> std::io::Result<()> {
        use kiwi_runtime::tls::{PeerTls, TlsAcceptor};
        let (cert, key) = (cfg.tls_cert_file.as_ref(), cfg.tls_key_file.as_ref());
        let clients = match &self.clients {
            Some(current) => Some((
                current,
                TlsAcceptor::load(cert, key, cfg.tls_ca_file(), cfg.tls_client_auth())?,
            )),
            None => None,
        };
        let cluster = match &self.cluster {
            Some(current) => Some((
                current,
                PeerTls::load(cert, key, cfg.tls_ca_cert_file.as_ref())?,
            )),
            None => None,
        };
        if let Some((current, fresh)) = clients {
            current.adopt(&fresh);
        }
        if let Some((current, fresh)) = cluster {
            current.adopt(&fresh);
        }
        Ok(())
    }
}

/// Everything shared across runtimes. Created once by the server.
pub struct Shared {
    /// The live configuration; CONFIG SET swaps in a new `Arc` so readers
    /// (every connection, every read loop) take a cheap snapshot.
    config: RwLock<Arc<Config>>,
    pub stats: Stats,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_client_id: AtomicU64,
    pub started_ms: u64,
    pub lastsave_s: AtomicU64,
    pub run_id: String,
    pub tcp_port: u16,
    /// Cluster mode: reads Raft's figures (set once the Raft node runs).
    raft_figures: OnceLock<RaftFiguresFn>,
    /// The TLS contexts in use (set once by the server; CONFIG SET of a
    /// `tls-*` file reloads them).
    pub tls: OnceLock<TlsContexts>,
    /// RocksDB's figures, copied by the storage worker once a second.
    engine_figures: Mutex<EngineFigures>,
    /// The connections → storage runtime queue (see [`crate::metrics`]).
    pub storage_queue: StorageQueueStats,
    /// Pub/sub subscriptions (see [`crate::pubsub`]).
    pub pubsub: PubSub,
    /// INFO commandstats / errorstats and SLOWLOG (see [`crate::calls`]).
    pub calls: CallStats,
    /// CLIENT PAUSE (see [`crate::pause`]).
    pub pause: Pause,
    /// CLIENT TRACKING (see [`crate::tracking`]).
    pub tracking: Tracking,
    /// Users and their permissions (see [`crate::acl`]).
    pub acl: Acl,
    /// `notify-keyspace-events` as flags, read by every command the
    /// executor runs (cheaper than a configuration snapshot).
    notify_flags: AtomicU32,
    /// SHUTDOWN asked the server to stop; the server's `run` waits on it.
    pub shutdown_requested: Notify,
}

/// Reads the Raft node's figures (`None` once the node is gone).
pub type RaftFiguresFn = Box<dyn Fn() -> Option<RaftFigures> + Send + Sync>;

impl Shared {
    /// Installs the Raft figures reader (cluster mode, once).
    pub fn set_raft_figures(&self, read: RaftFiguresFn) {
        let _ = self.raft_figures.set(read);
    }

    /// Raft's figures; `None` in standalone mode.
    pub fn raft_figures(&self) -> Option<RaftFigures> {
        self.raft_figures.get().and_then(|read| read())
    }

    pub fn engine_figures(&self) -> EngineFigures {
        self.engine_figures.lock().map(|f| *f).unwrap_or_default()
    }

    pub fn update_engine_figures(&self, update: impl FnOnce(&mut EngineFigures)) {
        if let Ok(mut f) = self.engine_figures.lock() {
            update(&mut f);
        }
    }

    /// The INFO `raft` section, in cluster mode.
    pub fn new(config: Config, tcp_port: u16) -> Shared {
        let acl = Acl::new(&config.requirepass);
        let now_ms = kiwi_runtime::time::now_ms();
        let run_id: String = (0..40)
            .map(|_| format!("{:x}", kiwi_runtime::rand::index(16)))
            .collect();
        Shared {
            notify_flags: AtomicU32::new(config.notify_flags()),
            config: RwLock::new(Arc::new(config)),
            stats: Stats::default(),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            started_ms: now_ms,
            lastsave_s: AtomicU64::new(now_ms / 1000),
            run_id,
            tcp_port,
            raft_figures: OnceLock::new(),
            tls: OnceLock::new(),
            engine_figures: Mutex::new(EngineFigures::default()),
            storage_queue: StorageQueueStats::default(),
            pubsub: PubSub::default(),
            calls: CallStats::default(),
            pause: Pause::default(),
            tracking: Tracking::default(),
            acl,
            shutdown_requested: Notify::new(),
        }
    }

    /// A snapshot of the configuration.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The keyspace notification classes switched on ([`crate::notify`]).
    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Relaxed)
    }

    /// Replaces the configuration (CONFIG SET).
    pub fn set_config(&self, next: Config) {
        self.notify_flags.store(next.notify_flags(), Relaxed);
        if next.requirepass != self.config().requirepass {
            // requirepass is the default user's password (as in Redis).
            self.acl.set_requirepass(&next.requirepass);
        }
        match self.config.write() {
            Ok(mut c) => *c = Arc::new(next),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
        }
    }

    pub fn register_client(&self, addr: String, laddr: String) -> Arc<ClientHandle> {
        let id = self.next_client_id.fetch_add(1, Relaxed);
        let now = kiwi_runtime::time::now_ms();
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            created_ms: now,
            name: Mutex::new(String::new()),
            db: AtomicU64::new(0),
            resp: AtomicU8::new(2),
            last_interaction_ms: AtomicU64::new(now),
            last_cmd: Mutex::new(String::new()),
            killed: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            kill_signal: Notify::new(),
            user: Mutex::new("default".into()),
        });
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(id, handle.clone());
        }
        handle
    }

    pub fn unregister_client(&self, id: u64) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(&id);
        }
    }

    pub fn connected_clients(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn client_list(&self) -> Vec<Arc<ClientHandle>> {
        self.clients
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }
}
