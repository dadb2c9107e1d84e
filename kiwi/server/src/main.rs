//! The `kiwi-server` binary.

use clap::Parser;
use kiwi_server::cli::Cli;

/// The storage thread allocates reply values that network threads free;
/// glibc malloc handles that cross-thread pattern poorly (malloc and free
/// were about a fifth of the samples of an LRANGE_100 benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn log_filter(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        "nothing" => "off",
        _ => "info",
    }
}

fn main() -> std::process::ExitCode {
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
        kiwi_server::run(config, kiwi_runtime::signal::shutdown()).await
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
