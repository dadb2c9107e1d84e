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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kiwi_resp::{decode_frame, Frame};

/// The ports [`free_port`] hands out: below Linux's ephemeral range
/// (32768–60999). A port the kernel picks with `bind(0)` comes from that
/// range, and while many tests connect in parallel an outgoing
/// connection's source port could take it before the server binds it
/// (CI once saw a Raft port "already in use" that way).
const TEST_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A port that was free a moment ago, from [`TEST_PORTS`]. Each call
/// starts at a random place (pid and clock) and steps through the range
/// until a port binds, so parallel test processes rarely pick the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU32;
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let len = TEST_PORTS.end - TEST_PORTS.start;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    for _attempt in 0..len {
        // 7919 is prime and does not divide the range: every port is visited.
        let step = CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919);
        let port = TEST_PORTS.start + start.wrapping_add(step) % len;
        let port = u16::try_from(port).expect("TEST_PORTS fits in u16");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {TEST_PORTS:?}");
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

    /// Waits up to `bound` for the process to exit by itself (SHUTDOWN);
    /// `None` if it is still running then.
    pub fn wait_exit(mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
        Redis::start_with(&[])
    }

    /// With extra `redis-server` arguments (later ones override earlier).
    pub fn start_with(extra: &[&str]) -> Redis {
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
            .args(extra)
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

    /// Bounds how long [`RespClient::read_frame`] waits (`None` = forever);
    /// a read that times out counts as a closed connection.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.stream
            .set_read_timeout(timeout)
            .expect("set_read_timeout");
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

/// Writers set five keys to one value per MULTI/EXEC (and push it on two
/// lists), readers check with single commands and with read-only
/// transactions that the five always agree and the lists stay equal: no
/// client may ever see half a transaction. Clients spread over `ports`.
pub fn check_transaction_atomicity(ports: &[u16], run_for: Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let keys = ["k1", "k2", "k3", "k4", "k5"];
    let mut c = RespClient::connect(ports[0]);
    let mut init = vec!["MSET"];
    for k in &keys {
        init.extend([*k, "0"]);
    }
    assert_eq!(c.call(&init), Frame::ok());
    let checked = std::thread::scope(|s| {
        for w in 0..3 {
            let (stop, port) = (stop.clone(), ports[w % ports.len()]);
            s.spawn(move || {
                let mut c = RespClient::connect(port);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let v = format!("{w}-{i}");
                    assert_eq!(c.call(&["MULTI"]), Frame::ok());
                    for k in &keys {
                        assert_eq!(c.call(&["SET", k, &v]), Frame::simple("QUEUED"));
                    }
                    c.call(&["RPUSH", "la", &v]);
                    c.call(&["RPUSH", "lb", &v]);
                    match c.call(&["EXEC"]) {
                        Frame::Array(r) => assert_eq!(r.len(), keys.len() + 2),
                        other => panic!("EXEC: {}", show(&other)),
                    }
                }
            });
        }
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (stop, port) = (stop.clone(), ports[(r + 1) % ports.len()]);
                s.spawn(move || {
                    let mut c = RespClient::connect(port);
                    let mut checked = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let mget = c.call(&["MGET", "k1", "k2", "k3", "k4", "k5"]);
                        let Frame::Array(vals) = &mget else {
                            panic!("MGET: {}", show(&mget))
                        };
                        assert!(
                            vals.iter().all(|v| v == &vals[0]),
                            "half a transaction: {}",
                            show(&mget)
                        );
                        assert_eq!(c.call(&["MULTI"]), Frame::ok());
                        c.call(&["GET", "k1"]);
                        c.call(&["GET", "k5"]);
                        c.call(&["LLEN", "la"]);
                        c.call(&["LLEN", "lb"]);
                        let exec = c.call(&["EXEC"]);
                        let Frame::Array(r) = &exec else {
                            panic!("EXEC: {}", show(&exec))
                        };
                        assert!(
                            r[0] == r[1] && r[2] == r[3],
                            "half a transaction: {}",
                            show(&exec)
                        );
                        checked += 1;
                    }
                    checked
                })
            })
            .collect();
        std::thread::sleep(run_for);
        stop.store(true, Ordering::Relaxed);
        readers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert!(checked > 10, "readers checked only {checked} times");
    let la = c.call(&["LRANGE", "la", "0", "-1"]);
    assert_eq!(la, c.call(&["LRANGE", "lb", "0", "-1"]));
}

/// Optimistic increments (WATCH, GET, MULTI, SET, EXEC, retry on a null
/// EXEC) from `clients` clients spread over `ports`, `increments` each: the
/// counter must end at exactly their total, which only holds if every
/// conflicting EXEC failed; and some must have conflicted, or the check
/// exercised nothing.
pub fn check_watch_compare_and_set(ports: &[u16], clients: usize, increments: usize) {
    let retries: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let port = ports[i % ports.len()];
                s.spawn(move || {
                    let mut c = RespClient::connect(port);
                    let mut retries = 0;
                    for _ in 0..increments {
                        loop {
                            assert_eq!(c.call(&["WATCH", "counter"]), Frame::ok());
                            let now = match c.call(&["GET", "counter"]) {
                                Frame::Bulk(b) => {
                                    String::from_utf8_lossy(&b).parse::<i64>().unwrap()
                                }
                                Frame::Null => 0,
                                other => panic!("GET: {}", show(&other)),
                            };
                            assert_eq!(c.call(&["MULTI"]), Frame::ok());
                            let next = (now + 1).to_string();
                            assert_eq!(c.call(&["SET", "counter", &next]), Frame::simple("QUEUED"));
                            match c.call(&["EXEC"]) {
                                Frame::Array(r) if r == vec![Frame::ok()] => break,
                                Frame::NullArray => retries += 1,
                                other => panic!("EXEC: {}", show(&other)),
                            }
                        }
                    }
                    retries
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let mut c = RespClient::connect(ports[0]);
    assert_eq!(
        c.call(&["GET", "counter"]),
        Frame::Bulk((clients * increments).to_string().into())
    );
    assert!(retries > 0, "no EXEC ever conflicted");
}

/// Plays every scenario on a real redis-server and on kiwi-server and
/// requires identical transcripts (`play(port, steps)` returns one).
pub fn scenarios_match_redis<S>(scenarios: &[(&str, S)], play: impl Fn(u16, &S) -> Vec<String>) {
    let kiwi = Kiwi::start();
    let redis = Redis::start();
    for (name, steps) in scenarios {
        let want = play(redis.port, steps);
        let got = play(kiwi.port, steps);
        assert_eq!(
            got.join("\n"),
            want.join("\n"),
            "scenario '{name}' differs from redis-server"
        );
    }
}

/// One HTTP GET of `path` on `port` (the metrics endpoint): (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    try_http_get(port, path).expect("an HTTP response")
}

/// [`http_get`], or the I/O error if the server closed without answering.
pub fn try_http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: kiwi\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, body.to_string()))
}

/// The samples of an OpenMetrics scrape: `name{labels}` → value.
pub fn scrape(port: u16) -> std::collections::BTreeMap<String, f64> {
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(
        body.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("sample: name value");
            (
                name.to_string(),
                value.parse().expect("numeric sample value"),
            )
        })
        .collect()
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate,
/// made with the `openssl` command in `dir`.
pub fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed (ci/test.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kiwi-test-ca",
    ]);
    for who in ["server", "client"] {
        let (key, csr, crt, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.crt"),
            format!("{who}.ext"),
        );
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={who}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}
