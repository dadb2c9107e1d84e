//! The commands: `test` (start the cluster, run clients and the nemesis,
//! heal, check recovery and linearizability, report, clean up) and `check`
//! (check an EDN history file, Jepsen's or ours).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use kiwi_jepsen::client::serves_write_and_read;
use kiwi_jepsen::edn::{read_history, write_history, Model};
use kiwi_jepsen::workload::{run_client, ClientConfig, KeySpace, Workload};
use kiwi_jepsen::{check, report, History, Report, Verdict};

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
    /// Check an EDN history (one event map per line, Jepsen's format);
    /// exits 0 if linearizable, 1 if not, 3 if the search ran out of steps.
    Check(CheckOpts),
}

#[derive(clap::Args, Debug)]
struct CheckOpts {
    /// register | cas-register | kv | list-append | kiwi (what `test` writes).
    #[arg(long, default_value = "kiwi")]
    model: String,
    /// register / cas-register: every value is a `[key value]` tuple
    /// (jepsen.independent), one register per key.
    #[arg(long)]
    independent: bool,
    /// Search steps per key before the verdict is unknown.
    #[arg(long, default_value_t = CHECK_BUDGET_STEPS)]
    budget_steps: u64,
    /// Also write the report page (charts, the failing key's timeline) here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The history file.
    file: PathBuf,
}

#[derive(clap::Args, Debug)]
struct TestOpts {
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    nodes: u8,
    /// Seconds of clients and faults (faults stop 10 s before the end).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Faults to inject, comma separated: kill, pause, partition, member
    /// (empty: none).
    #[arg(
        long,
        default_value = "kill,pause,partition,member",
        value_delimiter = ','
    )]
    nemesis: Vec<String>,
    /// Inject one or two faults at once (different kinds, different nodes)
    /// instead of one at a time.
    #[arg(long)]
    combined: bool,
    /// Workload: all (register, counter, list, set and expiring keys side
    /// by side), register, counter, list-append, set or expiring.
    #[arg(long, default_value = "all")]
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
    /// Keep the work directory (data, node logs) even when the test passes.
    #[arg(long)]
    keep: bool,
    /// Where each run's report goes: `<results>/<time>/` gets the history
    /// (`history.edn`, `history.txt`), the verdict (`report.txt`) and a
    /// page with charts and the failing key's timeline (`index.html`).
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

/// Checker search steps per key before it gives up (and the test fails).
const CHECK_BUDGET_STEPS: u64 = 5_000_000;
/// Longest the healed cluster may take to serve a write and a read.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// How a command ended, as the process's exit code.
pub enum Outcome {
    Valid,
    Invalid,
    Unknown,
}

pub async fn main(cli: Cli) -> io::Result<Outcome> {
    match cli.cmd {
        Cmd::Test(opts) => test(opts).await,
        Cmd::Check(opts) => check_file(opts),
    }
}

fn check_file(opts: CheckOpts) -> io::Result<Outcome> {
    let model: Model = opts.model.parse().map_err(io::Error::other)?;
    let text = std::fs::read_to_string(&opts.file)?;
    let history = read_history(&text, model, opts.independent)
        .map_err(|e| io::Error::other(format!("{}: {e}", opts.file.display())))?;
    let report = check(&history, opts.budget_steps);
    let text = summary(&history, &report);
    print!("{text}");
    if let Some(path) = &opts.html {
        let page = report::html(&report::Run {
            title: &opts.file.display().to_string(),
            summary: &text,
            valid: report.is_valid(),
            history: &history,
            report: &report,
            faults: &[],
        });
        std::fs::write(path, page)?;
    }
    Ok(match report.first_failure().map(|k| &k.verdict) {
        None => {
            println!("VALID");
            Outcome::Valid
        }
        Some(Verdict::Unknown)
            if report
                .keys
                .iter()
                .all(|k| k.verdict != Verdict::NotLinearizable) =>
        {
            println!("UNKNOWN");
            Outcome::Unknown
        }
        Some(_) => {
            println!("INVALID");
            Outcome::Invalid
        }
    })
}

/// Counts, and the first key that is not linearizable with its explanation.
fn summary(history: &History, report: &Report) -> String {
    let mut out = format!(
        "ops: {} ok, {} unknown; keys: {} ({} linearizable)\n",
        history.done(),
        history.unknown(),
        report.keys.len(),
        report
            .keys
            .iter()
            .filter(|k| k.verdict == Verdict::Linearizable)
            .count()
    );
    let bad = report
        .keys
        .iter()
        .find(|k| k.verdict == Verdict::NotLinearizable)
        .or(report.first_failure());
    match bad {
        Some(bad) => {
            out.push_str(&format!(
                "key {} is {:?} ({} ops, {} steps)\n",
                bad.key, bad.verdict, bad.ops, bad.steps
            ));
            if let Some(t) = bad.failed_by_ns {
                out.push_str(&format!(
                    "already impossible at {:.3} s (the history as it stood then):\n",
                    t as f64 / 1e9
                ));
            }
            out.push_str(&bad.explanation);
        }
        None => out.push_str("every key's history is linearizable\n"),
    }
    out
}

async fn test(opts: TestOpts) -> io::Result<Outcome> {
    let workload: Workload = opts.workload.parse().map_err(io::Error::other)?;
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
        pinned: true,
        keys: KeySpace {
            workload,
            ..KeySpace::default()
        },
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
    let (faults, intervals) =
        nemesis::run(&mut cluster, &kinds, opts.combined, start, faults_until).await?;
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

    let mut out = format!(
        "recovery after healing: {}\nfaults:\n{}\n",
        if recovered {
            format!("{:.1} s", recovery.as_secs_f64())
        } else {
            "none".into()
        },
        faults.join("\n")
    );
    for p in &client_panics {
        out.push_str(&format!("client failed: {p}\n"));
    }
    out.push_str(&summary(&history, &report));
    let valid = recovered && client_panics.is_empty() && report.is_valid();
    out.push_str(if valid { "VALID\n" } else { "INVALID\n" });
    print!("{out}");

    let results = opts
        .results
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
    std::fs::create_dir_all(&results)?;
    std::fs::write(results.join("report.txt"), &out)?;
    let page = report::html(&report::Run {
        title: &format!(
            "kiwi-jepsen {} nodes, {} s, {}",
            opts.nodes,
            opts.time_limit,
            opts.nemesis.join(",")
        ),
        summary: &out,
        valid,
        history: &history,
        report: &report,
        faults: &intervals,
    });
    std::fs::write(results.join("index.html"), page)?;
    std::fs::write(results.join("history.edn"), write_history(&history))?;
    let ops: Vec<String> = history.ops.iter().map(|o| o.to_string()).collect();
    std::fs::write(results.join("history.txt"), ops.join("\n"))?;
    eprintln!("kiwi-jepsen: report in {}", results.display());
    if opts.keep || !valid {
        let kept = work.keep();
        eprintln!("kiwi-jepsen: kept {}", kept.display());
    }
    Ok(if valid {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}
