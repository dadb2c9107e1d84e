//! A minimal RESP client over the runtime layer's TCP: simulated under
//! madsim (the simulator's clients), real sockets in the real-process
//! harness. One command, one reply; replies are bounded in size. Also the
//! retry loops both drivers use for admin commands and liveness probes.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use kiwi_resp::{decode_frame, Frame};
use kiwi_runtime::io::{AsyncReadExt, AsyncWriteExt};
use kiwi_runtime::net::TcpStream;

/// Longest reply the client buffers before declaring the server broken.
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

/// Pause between two attempts of [`retry_on_servers`].
const RETRY_PAUSE_MS: u64 = 100;

/// Runs `attempt` against `servers` in turn (each try bounded by
/// `per_attempt`) until one returns `true`, for at most `patience`.
/// Returns whether one did.
pub async fn retry_on_servers<F, Fut>(
    servers: &[String],
    per_attempt: Duration,
    patience: Duration,
    mut attempt: F,
) -> bool
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(!servers.is_empty(), "retrying needs a server");
    let tries = async {
        for i in 0.. {
            let addr = servers[i % servers.len()].clone();
            if let Ok(true) = kiwi_runtime::time::timeout(per_attempt, attempt(addr)).await {
                return;
            }
            kiwi_runtime::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
        }
    };
    kiwi_runtime::time::timeout(patience, tries).await.is_ok()
}

/// Sends `args` (an admin command such as `RAFT.NODE ADD ...`) through the
/// servers in turn until one answers `+OK` (each try bounded by
/// `per_attempt`), within `patience`.
pub async fn call_until_ok(
    servers: &[String],
    args: &[String],
    per_attempt: Duration,
    patience: Duration,
) -> bool {
    retry_on_servers(servers, per_attempt, patience, |addr| async move {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let Ok(mut conn) = RespConn::connect(&addr).await else {
            return false;
        };
        matches!(conn.call(&argv).await, Ok(reply) if reply == Frame::ok())
    })
    .await
}

/// Liveness: whether some server serves a write and then a read of it
/// within `bound`, each try bounded by `per_attempt`.
pub async fn serves_write_and_read(
    servers: &[String],
    key: &str,
    per_attempt: Duration,
    bound: Duration,
) -> bool {
    retry_on_servers(servers, per_attempt, bound, |addr| async move {
        let Ok(mut conn) = RespConn::connect(&addr).await else {
            return false;
        };
        let set = conn.call(&["SET", key, "ok"]).await;
        let get = conn.call(&["GET", key]).await;
        matches!((set, get), (Ok(s), Ok(g)) if s == Frame::ok() && g == Frame::bulk("ok"))
    })
    .await
}
