//! `kiwi-sim` runs the real kiwi-server inside madsim's deterministic
//! simulator (build with `RUSTFLAGS="--cfg madsim"`, see `ci/sim.sh`).
//!
//! This crate owns the simulation-side tools: a RESP client that speaks over
//! the runtime layer's (simulated) TCP, a simulated cluster ([`cluster`]),
//! recorded client workloads ([`workload`]) and the seeded fault injector
//! ([`nemesis`]); histories are checked with `kiwi-jepsen`.
//! The scenarios live in `tests/`. The same client also compiles against
//! real tokio, so it can be checked outside the simulator.

#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod workload;

use bytes::{Bytes, BytesMut};
use kiwi_resp::{decode_frame, Frame};
use kiwi_runtime::io::{AsyncReadExt, AsyncWriteExt};
use kiwi_runtime::net::TcpStream;

/// Longest reply the simulation client buffers before declaring the server broken.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub enum ClientError {
    Io(std::io::Error),
    Closed,
    BadReply(String),
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A minimal RESP client over the runtime layer's TCP.
pub struct RespConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl RespConn {
    pub async fn connect(addr: &str) -> Result<RespConn, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        Ok(RespConn {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Sends one command and waits for its reply.
    pub async fn call(&mut self, args: &[&str]) -> Result<Frame, ClientError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
        }
        self.stream.write_all(&out).await?;
        // madsim's TcpStream only sends on flush().
        self.stream.flush().await?;
        loop {
            match decode_frame(&self.buf) {
                Ok(Some((frame, used))) => {
                    let _ = self.buf.split_to(used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::BadReply(e.to_string())),
            }
            if self.buf.len() > MAX_REPLY_BYTES {
                return Err(ClientError::BadReply("reply too large".into()));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }
}

/// Serialises simulations within one test process. RocksDB keeps one
/// process-wide timer for its periodic tasks and names each task after the
/// DB's session id, which is drawn from the RNG; under madsim two runs with
/// the same seed draw the same id, so running them at the same time (cargo
/// runs tests in parallel threads) fails `DB::open` with "Failed to register
/// periodic task". Hold the returned guard for the whole simulation.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A panicking simulation poisons the lock; later ones may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The run's seed (`MADSIM_TEST_SEED`, default 1), announced with the one
/// line that replays it; the test harness shows it when the test fails.
pub fn replay_seed(test: &str) -> u64 {
    let seed = std::env::var("MADSIM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    eprintln!("replay: MADSIM_TEST_SEED={seed} ci/sim.sh {test}");
    seed
}

/// Convenience for assertions: a bulk reply.
pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}
