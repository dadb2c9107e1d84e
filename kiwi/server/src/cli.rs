//! Command-line flags. They override the TOML file, which overrides defaults.

use std::path::PathBuf;

use clap::Parser;
use kiwi_cmd::Config;

#[derive(Debug, Parser)]
#[command(
    name = "kiwi-server",
    version,
    about = "Kiwi: a Redis-compatible server on RocksDB"
)]
pub struct Cli {
    /// TOML configuration file (see config.example.toml).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub bind: Option<String>,
    /// TCP port to listen on (0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Source IP of outgoing connections (to cluster peers).
    #[arg(long)]
    pub bind_source_addr: Option<String>,
    /// Data directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Password for the default user.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// File of ACL users (Redis's format), loaded at startup and by ACL LOAD.
    #[arg(long)]
    pub aclfile: Option<String>,
    /// yes | no: while the default user has no password, serve only
    /// loopback clients (Redis's protected mode; default yes).
    #[arg(long, value_parser = ["yes", "no"])]
    pub protected_mode: Option<String>,
    /// always | everysec | no
    #[arg(long)]
    pub appendfsync: Option<String>,
    /// Maximum simultaneous clients.
    #[arg(long)]
    pub maxclients: Option<u64>,
    /// Log level: debug | verbose | notice | warning | nothing
    #[arg(long)]
    pub loglevel: Option<String>,
    /// Log lines as `text` or `json` (one object per line). RUST_LOG, when
    /// set, filters them (e.g. `RUST_LOG=kiwi_raft=debug,info`).
    #[arg(long)]
    pub log_format: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9121).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// TLS listener port for clients (0: none); needs --tls-cert-file and --tls-key-file.
    #[arg(long)]
    pub tls_port: Option<u16>,
    /// PEM certificate chain for the TLS listener.
    #[arg(long)]
    pub tls_cert_file: Option<String>,
    /// PEM private key for the TLS listener.
    #[arg(long)]
    pub tls_key_file: Option<String>,
    /// PEM CA that client certificates must be signed by.
    #[arg(long)]
    pub tls_ca_cert_file: Option<String>,
    /// yes | optional | no: whether TLS clients must present a certificate.
    #[arg(long, value_parser = ["yes", "optional", "no"])]
    pub tls_auth_clients: Option<String>,
    /// yes | no: mutual TLS between cluster nodes, with the --tls-* files.
    #[arg(long, value_parser = ["yes", "no"])]
    pub tls_cluster: Option<String>,
    /// Network worker threads (0 = CPU cores - 1, at least 1)
    #[arg(long)]
    pub io_threads: Option<usize>,
    /// Cluster mode: this node's id (enables cluster mode with defaults
    /// for anything the [cluster] section does not set).
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Cluster mode: the Raft transport address peers dial.
    #[arg(long)]
    pub raft_addr: Option<String>,
    /// Cluster mode: where the Raft transport listens, when not --raft-addr.
    #[arg(long)]
    pub raft_listen_addr: Option<String>,
    /// Cluster mode: initialize a new cluster with this node as its only
    /// voter (run once, on the first node; others join with RAFT.NODE ADD).
    #[arg(long)]
    pub init_cluster: bool,
}

impl Cli {
    /// The effective configuration: defaults < file < flags.
    pub fn resolve(&self) -> Result<Config, String> {
        let mut cfg = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let mut cfg =
                    Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                cfg.config_file = Some(path.clone());
                cfg
            }
            None => Config::default(),
        };
        if let Some(v) = &self.bind {
            cfg.bind = v.clone();
        }
        if let Some(v) = self.port {
            cfg.port = v;
        }
        if let Some(v) = &self.dir {
            cfg.dir = v.clone();
        }
        if let Some(v) = &self.bind_source_addr {
            cfg.bind_source_addr = v.clone();
        }
        if let Some(v) = &self.requirepass {
            cfg.requirepass = v.clone();
        }
        if let Some(v) = &self.aclfile {
            cfg.aclfile = v.clone();
        }
        if let Some(v) = &self.protected_mode {
            cfg.protected_mode = v == "yes";
        }
        if let Some(v) = &self.appendfsync {
            cfg.appendfsync = v.clone();
        }
        if let Some(v) = self.maxclients {
            cfg.maxclients = v;
        }
        if let Some(v) = self.io_threads {
            cfg.io_threads = v;
        }
        if let Some(v) = &self.loglevel {
            cfg.loglevel = v.clone();
        }
        if let Some(v) = &self.log_format {
            cfg.log_format = v.clone();
        }
        if let Some(v) = &self.metrics_addr {
            cfg.metrics_addr = v.clone();
        }
        if let Some(v) = self.tls_port {
            cfg.tls_port = v;
        }
        if let Some(v) = &self.tls_cluster {
            cfg.tls_cluster = v == "yes";
        }
        for (flag, field) in [
            (&self.tls_cert_file, &mut cfg.tls_cert_file),
            (&self.tls_key_file, &mut cfg.tls_key_file),
            (&self.tls_ca_cert_file, &mut cfg.tls_ca_cert_file),
            (&self.tls_auth_clients, &mut cfg.tls_auth_clients),
        ] {
            if let Some(v) = flag {
                field.clone_from(v);
            }
        }
        if self.node_id.is_some()
            || self.raft_addr.is_some()
            || self.raft_listen_addr.is_some()
            || self.init_cluster
        {
            let cluster = cfg.cluster.get_or_insert_with(Default::default);
            if let Some(v) = self.node_id {
                cluster.node_id = v;
            }
            if let Some(v) = &self.raft_addr {
                cluster.raft_addr = v.clone();
            }
            if let Some(v) = &self.raft_listen_addr {
                cluster.raft_listen_addr = v.clone();
            }
            cluster.init_cluster = self.init_cluster;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

fn log_filter(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    }
}

/// The whole `kiwi-server` program with `modules`' commands added (see
/// `kiwi_cmd::registry`): what `main` of `kiwi-server`, or of a server
/// built with extra commands, calls.
pub fn main_with(modules: &[kiwi_cmd::registry::Module]) -> std::process::ExitCode {
    if let Err(e) = kiwi_cmd::registry::install(modules) {
        eprintln!("kiwi-server: cannot register commands: {e}");
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse();
    let config = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kiwi-server: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(&config.loglevel)));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format.as_str() {
        "json" => logs.json().init(),
        _ => logs.init(),
    }
    let io_threads = config.io_threads;
    let served = kiwi_runtime::network::block_on(io_threads, async move {
        crate::run(config, kiwi_runtime::signal::shutdown()).await
    });
    match served {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "kiwi-server failed");
            eprintln!("kiwi-server: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("kiwi-server: cannot start the network runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
