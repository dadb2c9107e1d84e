//! Startup, the accept loop and graceful shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kiwi_cmd::state::TlsContexts;
use kiwi_cmd::{Config, Executor, Shared};
use kiwi_raft::{ClusterNode, ClusterOptions};
use kiwi_runtime::net::{TcpListener, TcpStream};
use kiwi_runtime::storage::{StorageRuntime, ThreadPriority};
use kiwi_runtime::sync::{mpsc, watch, Notify};
use kiwi_runtime::tls::{PeerTls, TlsAcceptor};
use kiwi_storage::{Engine, EngineOptions};

use crate::connection::{self, ConnDeps};
use crate::storage_worker;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("creating data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("opening storage: {0}")]
    Storage(#[from] kiwi_storage::StorageError),
    #[error("listening on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("starting storage runtime: {0}")]
    StorageRuntime(std::io::Error),
    #[error("starting cluster mode: {0}")]
    Cluster(std::io::Error),
    #[error("loading TLS certificates: {0}")]
    Tls(std::io::Error),
    #[error("aborting startup because of ACL errors: {0}")]
    Acl(String),
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    finished: watch::Receiver<bool>,
    cluster: Option<Arc<ClusterNode>>,
    shared: Arc<Shared>,
}

/// Bound on queued Raft jobs (apply batches, snapshot steps, reads).
const RAFT_JOB_QUEUE_DEPTH: usize = 256;

/// Longest a graceful shutdown waits for connections to finish in-flight work.
const SHUTDOWN_GRACE_MS: u64 = 5_000;

impl Server {
    /// Opens storage, starts the storage runtime and begins accepting.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| ServerError::DataDir(config.dir.display().to_string(), e))?;
        let engine_opts = EngineOptions {
            sync: kiwi_cmd::server::sync_mode(&config.appendfsync),
            block_cache_bytes: config.block_cache_bytes as usize,
            write_buffer_bytes: config.write_buffer_bytes as usize,
            ..EngineOptions::default()
        };
        // Cluster mode: an installed snapshot may have moved the engine.
        let db_dir = match &config.cluster {
            Some(_) => kiwi_raft::state_machine::active_db_dir(&config.dir)
                .map_err(ServerError::Cluster)?,
            None => config.dir.join("db"),
        };
        let engine = Engine::open(&db_dir, &engine_opts)?;
        let bind = format!("{}:{}", config.bind, config.port);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|e| ServerError::Bind(bind.clone(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Bind(bind.clone(), e))?;
        let shared = Arc::new(Shared::new(config.clone(), addr.port()));
        if !config.aclfile.is_empty() {
            // As Redis: a server whose ACL file does not load does not start.
            shared
                .acl
                .load_file(&config.aclfile)
                .map_err(ServerError::Acl)?;
        }
        let tls_listener = match config.tls_port {
            0 => None,
            tls_port => {
                let acceptor = TlsAcceptor::load(
                    config.tls_cert_file.as_ref(),
                    config.tls_key_file.as_ref(),
                    config.tls_ca_file(),
                    config.tls_client_auth(),
                )
                .map_err(ServerError::Tls)?;
                let at = format!("{}:{}", config.bind, tls_port);
                let listener = TcpListener::bind(&at)
                    .await
                    .map_err(|e| ServerError::Bind(at.clone(), e))?;
                Some((listener, acceptor))
            }
        };
        let metrics_listener = match config.metrics_addr.as_str() {
            "" => None,
            at => Some(
                TcpListener::bind(at)
                    .await
                    .map_err(|e| ServerError::Bind(at.to_string(), e))?,
            ),
        };

        let (tx, rx) = mpsc::channel(config.storage_queue_depth);
        let (executor, jobs) = match &config.cluster {
            Some(_) => {
                let (jobs_tx, jobs_rx) = mpsc::channel(RAFT_JOB_QUEUE_DEPTH);
                (
                    Executor::replicated(engine, shared.clone()),
                    Some((jobs_tx, jobs_rx)),
                )
            }
            None => (Executor::new(engine, shared.clone()), None),
        };
        let (jobs_tx, jobs_rx) = jobs.unzip();
        let storage = StorageRuntime::start(
            "kiwi-storage",
            ThreadPriority::Background,
            storage_worker::run(executor, rx, jobs_rx, config.hz),
        )
        .map_err(ServerError::StorageRuntime)?;
        let cluster_tls = match config.cluster.is_some() && config.tls_cluster {
            false => None,
            true => Some(
                PeerTls::load(
                    config.tls_cert_file.as_ref(),
                    config.tls_key_file.as_ref(),
                    config.tls_ca_cert_file.as_ref(),
                )
                .map_err(ServerError::Tls)?,
            ),
        };
        let cluster = match (&config.cluster, jobs_tx) {
            (Some(c), Some(jobs_tx)) => {
                let opts = ClusterOptions {
                    node_id: c.node_id,
                    raft_addr: c.raft_addr.clone(),
                    raft_listen_addr: c.raft_listen_addr().to_string(),
                    // validate() checked it parses.
                    bind_source: config.bind_source_addr.parse().ok(),
                    resp_addr: if c.advertise_addr.is_empty() {
                        addr.to_string()
                    } else {
                        c.advertise_addr.clone()
                    },
                    dir: config.dir.clone(),
                    engine_opts: engine_opts.clone(),
                    election_timeout_ms: c.election_timeout_ms,
                    heartbeat_interval_ms: c.heartbeat_interval_ms,
                    request_timeout_ms: c.request_timeout_ms,
                    snapshot_logs: c.snapshot_logs,
                    snapshot_keep_logs: c.snapshot_keep_logs,
                    moved_redirects: c.follower_mode == "moved",
                    hz: config.hz,
                    secret: c.secret.clone(),
                    tls: cluster_tls.clone(),
                };
                let node = ClusterNode::start(opts, jobs_tx)
                    .await
                    .map_err(ServerError::Cluster)?;
                if c.init_cluster {
                    node.init_cluster().await.map_err(ServerError::Cluster)?;
                }
                let weak = Arc::downgrade(&node);
                shared.set_raft_figures(Box::new(move || weak.upgrade().map(|n| n.figures())));
                let subscribers = Arc::downgrade(&shared);
                node.set_publish_delivery(Box::new(move |channel, payload| {
                    subscribers
                        .upgrade()
                        .map_or(0, |s| crate::pubsub::publish(&s, channel, payload))
                }));
                Some(node)
            }
            _ => None,
        };

        let _ = shared.tls.set(TlsContexts {
            clients: tls_listener.as_ref().map(|(_, acceptor)| acceptor.clone()),
            cluster: cluster_tls,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (finished_tx, finished_rx) = watch::channel(false);
        let deps = ConnDeps {
            shared: shared.clone(),
            storage: tx,
            shutdown: shutdown_rx.clone(),
            cluster: cluster.clone(),
        };
        if let Some(listener) = metrics_listener {
            if let Ok(at) = listener.local_addr() {
                tracing::info!(%at, "metrics endpoint ready: GET /metrics");
            }
            kiwi_runtime::task::spawn(crate::metrics_http::serve(
                listener,
                shared.clone(),
                shutdown_rx.clone(),
            ));
        }
        tracing::info!(%addr, dir = %config.dir.display(), "kiwi-server ready to accept connections");
        if let Some((listener, _)) = &tls_listener {
            if let Ok(at) = listener.local_addr() {
                tracing::info!(%at, "TLS listener ready");
            }
        }
        kiwi_runtime::task::spawn(accept_loop(
            listener,
            tls_listener,
            deps,
            shutdown_rx,
            storage,
            finished_tx,
        ));
        Ok(Server {
            addr,
            shutdown: shutdown_tx,
            finished: finished_rx,
            cluster,
            shared,
        })
    }

    /// Stops accepting, lets connections finish in-flight requests, flushes
    /// storage, and returns when everything has stopped.
    pub async fn shutdown(mut self) {
        // Raft stops first: nothing is applied after the engine closes.
        if let Some(node) = self.cluster.take() {
            node.shutdown().await;
        }
        let _ = self.shutdown.send(true);
        while !*self.finished.borrow() {
            if self.finished.changed().await.is_err() {
                break;
            }
        }
    }
}

/// The next TLS-port connection; pending forever without TLS.
async fn accept_tls(
    tls: &Option<(TcpListener, TlsAcceptor)>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match tls {
        Some((listener, _)) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Accepts clients on the plain port and, when configured, the TLS port.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<(TcpListener, TlsAcceptor)>,
    deps: ConnDeps,
    mut shutdown: watch::Receiver<bool>,
    storage: StorageRuntime,
    finished: watch::Sender<bool>,
) {
    let live = Arc::new(AtomicUsize::new(0));
    let all_closed = Arc::new(Notify::new());
    let accepted_one = |accepted: std::io::Result<(TcpStream, SocketAddr)>,
                        tls: Option<TlsAcceptor>| {
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                return false;
            }
        };
        let deps = deps.clone();
        let live = live.clone();
        let all_closed = all_closed.clone();
        live.fetch_add(1, Ordering::SeqCst);
        kiwi_runtime::task::spawn(async move {
            match tls {
                Some(tls) => connection::serve_tls(stream, peer, tls, deps).await,
                None => connection::serve(stream, peer, deps).await,
            }
            if live.fetch_sub(1, Ordering::SeqCst) == 1 {
                all_closed.notify_waiters();
            }
        });
        true
    };
    loop {
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                if !accepted_one(accepted, None) {
                    // Out of descriptors or similar: do not spin.
                    kiwi_runtime::time::sleep_ms(10).await;
                }
            }
            accepted = accept_tls(&tls) => {
                if !accepted_one(accepted, tls.as_ref().map(|(_, a)| a.clone())) {
                    kiwi_runtime::time::sleep_ms(10).await;
                }
            }
        }
    }
    drop(listener);
    drop(tls);
    // Connections see the shutdown signal and finish their in-flight batch.
    let wait = async {
        while live.load(Ordering::SeqCst) > 0 {
            let notified = all_closed.notified();
            if live.load(Ordering::SeqCst) == 0 {
                break;
            }
            let _ = kiwi_runtime::time::timeout(Duration::from_millis(100), notified).await;
        }
    };
    if kiwi_runtime::time::timeout(Duration::from_millis(SHUTDOWN_GRACE_MS), wait)
        .await
        .is_err()
    {
        tracing::warn!(
            open = live.load(Ordering::SeqCst),
            "closing with connections still open"
        );
    }
    // Dropping the last sender stops the storage worker, which flushes RocksDB.
    drop(deps);
    storage.join().await;
    let _ = finished.send(true);
    tracing::info!("kiwi-server stopped");
}

/// Runs a server until `stop` resolves or a client sends SHUTDOWN, then
/// shuts it down gracefully.
pub async fn run(
    config: Config,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let server = Server::start(config).await?;
    let shared = server.shared.clone();
    tokio::select! {
        biased; // replayable order: see kiwi_runtime's crate docs
        _ = stop => {}
        _ = shared.shutdown_requested.notified() => {}
    }
    tracing::info!("shutdown requested");
    server.shutdown().await;
    Ok(())
}
