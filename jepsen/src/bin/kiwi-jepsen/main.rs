//! `kiwi-jepsen`: Jepsen-style tests of the built `kiwi-server` binary.
//! Starts a cluster of real processes on loopback, runs clients, injects
//! faults (kill -9 and restart, SIGSTOP/SIGCONT, network partitions,
//! membership changes), heals,
//! checks that the cluster recovers and that every key's history is
//! linearizable, prints a report and cleans up every process it started.
//!
//! ```text
//! kiwi-jepsen test --nodes 3 --time-limit 60 --nemesis kill,pause,member --rate 200
//! ```
//!
//! The harness drives real processes from outside the server, so it reads
//! the real clock through tokio and spawns processes; the runtime-layer rule
//! is the server's, not its test driver's.

#[cfg(not(madsim))]
mod cluster;
#[cfg(not(madsim))]
mod nemesis;
#[cfg(not(madsim))]
mod proxy;
#[cfg(not(madsim))]
mod run;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = run::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiwi-jepsen: cannot start a tokio runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run::main(cli)) {
        Ok(run::Outcome::Valid) => std::process::ExitCode::SUCCESS,
        Ok(run::Outcome::Invalid) => std::process::ExitCode::FAILURE,
        Ok(run::Outcome::Unknown) => std::process::ExitCode::from(3),
        Err(e) => {
            eprintln!("kiwi-jepsen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The harness runs real processes; there is nothing to simulate.
#[cfg(madsim)]
fn main() {
    eprintln!("kiwi-jepsen drives real processes: build it without --cfg madsim");
}
