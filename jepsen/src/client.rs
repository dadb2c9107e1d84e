//! A minimal RESP client over the runtime layer's TCP: simulated under
//! madsim (the simulator's clients), real sockets in the real-process
//! harness. One command, one reply; replies are bounded in size.

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
