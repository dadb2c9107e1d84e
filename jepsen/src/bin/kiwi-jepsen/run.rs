//! The `test` command: start the cluster, run clients and the nemesis,
//! heal, check recovery and linearizability, report, clean up.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use kiwi_jepsen::client::serves_write_and_read;
use kiwi_jepsen::workload::{run_client, ClientConfig};
use kiwi_jepsen::{check, History};

use crate::cluster::Cluster;
use crate::nemesis::{self, Kind};

#[derive(Parser, Debug)]
#[command(
    name = "kiwi-jepsen",
    about = "Jepsen-style tests of real kiwi-server processes"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one test and report; exits 1 if the history is not linearizable
    /// or the cluster does not recover.
    Test(TestOpts),
}

#[derive(clap::Args, Debug)]
struct TestOpts {
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    nodes: u8,
    /// Seconds of clients and faults (faults stop 10 s before the end).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Faults to inject, comma separated: kill, pause, member (empty: none).
    #[arg(long, default_value = "kill,pause,member", value_delimiter = ',')]
    nemesis: Vec<String>,
    /// Workload: register, counter and list keys side by side.
    #[arg(long, default_value = "register-counter-list")]
    workload: String,
    /// Target operations per second across all clients.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 5)]
    clients: u64,
    /// The kiwi-server binary to test.
    #[arg(long, default_value = "target/release/kiwi-server")]
    server: PathBuf,
    /// Keep the work directory (data, logs, history) even when the test passes.
    #[arg(long)]
    keep: bool,
}

/// Checker search steps per key before it gives up (and the test fails).
const CHECK_BUDGET_STEPS: u64 = 5_000_000;
/// Longest the healed cluster may take to serve a write and a read.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

pub async fn main(cli: Cli) -> io::Result<bool> {
    match cli.cmd {
        Cmd::Test(opts) => test(opts).await,
    }
}

async fn test(opts: TestOpts) -> io::Result<bool> {
    if opts.workload != "register-counter-list" {
        return Err(io::Error::other(
            "the only workload is register-counter-list",
        ));
    }
    let kinds = opts
        .nemesis
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Kind>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    if !opts.server.is_file() {
        return Err(io::Error::other(format!(
            "{} not found (cargo build --release --bin kiwi-server, or pass --server)",
            opts.server.display()
        )));
    }
    let work = tempfile::Builder::new().prefix("kiwi-jepsen-").tempdir()?;
    eprintln!(
        "kiwi-jepsen: {} nodes, work dir {}",
        opts.nodes,
        work.path().display()
    );
    let mut cluster = Cluster::start(&opts.server, work.path(), opts.nodes).await?;

    let history = Arc::new(Mutex::new(History::default()));
    let clients = opts.clients.max(1);
    let cfg = ClientConfig {
        servers: cluster.nodes.iter().map(|n| n.resp_addr()).collect(),
        // Mean pause half of the maximum: `clients / rate` seconds apart.
        think_max_ms: 2_000 * clients / opts.rate.max(1),
        ..ClientConfig::default()
    };
    let start = kiwi_runtime::time::instant();
    let time_limit = Duration::from_secs(opts.time_limit);
    let tasks: Vec<_> = (1..=clients)
        .map(|c| {
            kiwi_runtime::task::spawn(run_client(
                c,
                cfg.clone(),
                history.clone(),
                start,
                time_limit,
            ))
        })
        .collect();

    let faults_until = time_limit.saturating_sub(Duration::from_secs(10));
    let faults = nemesis::run(&mut cluster, &kinds, start, faults_until).await?;
    let healed = kiwi_runtime::time::instant();
    let recovered = serves_write_and_read(
        &cfg.servers,
        "jepsen:liveness",
        Duration::from_secs(5),
        RECOVERY_BOUND,
    )
    .await;
    let recovery = healed.elapsed();

    let mut client_panics = Vec::new();
    for t in tasks {
        if let Err(e) = t.await {
            client_panics.push(e.to_string());
        }
    }
    drop(cluster);
    let history = history
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    let report = check(&history, CHECK_BUDGET_STEPS);

    let mut out = String::new();
    out.push_str(&format!(
        "ops: {} ok, {} unknown; keys: {}; recovery after healing: {}\n",
        history.done(),
        history.unknown(),
        report.keys.len(),
        if recovered {
            format!("{:.1} s", recovery.as_secs_f64())
        } else {
            "none".into()
        }
    ));
    out.push_str(&format!("faults:\n{}\n", faults.join("\n")));
    for p in &client_panics {
        out.push_str(&format!("client failed: {p}\n"));
    }
    let valid = recovered && client_panics.is_empty() && report.is_valid();
    match report.first_failure() {
        Some(bad) => out.push_str(&format!(
            "key {} is {:?} ({} ops, {} steps)\n{}",
            bad.key, bad.verdict, bad.ops, bad.steps, bad.explanation
        )),
        None => out.push_str("every key's history is linearizable\n"),
    }
    out.push_str(if valid { "VALID\n" } else { "INVALID\n" });
    print!("{out}");

    std::fs::write(work.path().join("report.txt"), &out)?;
    let ops: Vec<String> = history.ops.iter().map(|o| o.to_string()).collect();
    std::fs::write(work.path().join("history.txt"), ops.join("\n"))?;
    if opts.keep || !valid {
        let kept = work.keep();
        eprintln!("kiwi-jepsen: kept {}", kept.display());
    }
    Ok(valid)
}
