//! Test harness: real `kiwi-server` and `redis-server` processes on free
//! loopback ports, and a tiny raw RESP client that returns exact frames.
//!
//! Tests drive real processes from the outside in real time, so they use the
//! real clock, sockets and threads; the runtime-layer rule applies to server
//! code, not to this harness.
#![allow(clippy::disallowed_methods, clippy::disallowed_types, dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kiwi_resp::{decode_frame, Frame};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_until_accepting(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        if let Ok(mut c) = RespClient::try_connect(port) {
            if c.call(&["PING"]) == Frame::simple("PONG")
                || matches!(c.call(&["PING"]), Frame::Error(_))
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on {port}");
}

/// A real kiwi-server process.
pub struct Kiwi {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Kiwi {
    pub fn start() -> Kiwi {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut k = Kiwi::start_in(&dir, &[]);
        k._tmp = Some(tmp);
        k
    }

    /// Starts on `dir` (kept by the caller, so a restart sees the same data).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Kiwi {
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_kiwi-server"))
                .args(["--port", &port.to_string(), "--dir"])
                .arg(dir)
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn kiwi-server");
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(_)) = child.try_wait() {
                continue; // port race: try another
            }
            wait_until_accepting(port, &mut child, "kiwi-server");
            return Kiwi {
                child,
                port,
                dir: dir.to_path_buf(),
                _tmp: None,
            };
        }
        panic!("could not start kiwi-server");
    }

    pub fn client(&self) -> RespClient {
        RespClient::connect(self.port)
    }

    pub fn redis_client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection())
            .expect("redis crate connection")
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait kiwi-server")
    }
}

impl Drop for Kiwi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real redis-server (the spec), if installed.
pub struct Redis {
    child: Child,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(tmp.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (ci/test.sh installs it)");
        wait_until_accepting(port, &mut child, "redis-server");
        Redis {
            child,
            port,
            _tmp: tmp,
        }
    }

    pub fn client(&self) -> RespClient {
        RespClient::connect(self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal RESP client returning exact frames (no client-side interpretation).
pub struct RespClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RespClient {
    pub fn try_connect(port: u16) -> std::io::Result<RespClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RespClient {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn connect(port: u16) -> RespClient {
        RespClient::try_connect(port).expect("connect")
    }

    pub fn encode(args: &[impl AsRef<[u8]>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one frame; `None` if the server closed the connection.
    pub fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = decode_frame(&self.buf).expect("server sent invalid RESP")
            {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub fn call(&mut self, args: &[impl AsRef<[u8]>]) -> Frame {
        self.send_raw(&Self::encode(args));
        self.read_frame().expect("connection closed")
    }

    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        self.read_frame().is_none()
    }
}

/// Renders a frame compactly for assertions and snapshots.
pub fn show(f: &Frame) -> String {
    match f {
        Frame::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
        Frame::Error(s) => format!("-{}", String::from_utf8_lossy(s)),
        Frame::Integer(n) => format!(":{n}"),
        Frame::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Frame::Null => "(nil)".into(),
        Frame::NullArray => "(nil-array)".into(),
        Frame::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Frame::Set(items) => format!(
            "~[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Frame::Push(items) => format!(
            ">[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Frame::Double(d) => format!(",{d}"),
        Frame::Boolean(b) => format!("#{b}"),
        Frame::BigNumber(n) => format!("({}", String::from_utf8_lossy(n)),
        Frame::Verbatim { text, .. } => format!("={:?}", String::from_utf8_lossy(text)),
    }
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}
