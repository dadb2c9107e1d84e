//! Security against a real redis-server: protected mode (and, with it, what
//! a client from another host sees).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::{Kiwi, Redis, RespClient};
use kiwi_resp::Frame;

/// This host's address on its default route (not loopback): connecting to
/// it from here makes the server see a non-loopback peer. A UDP "connect"
/// sends nothing; it only asks the kernel for the route.
fn non_loopback_ip() -> IpAddr {
    let s = UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    s.connect("192.0.2.255:9")
        .or_else(|_| s.connect("10.255.255.255:9"))
        .expect("a non-loopback route: the protected-mode test needs a network interface");
    let ip = s.local_addr().expect("local address").ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "got {ip}");
    ip
}

/// Everything the server sends to a client from `ip` after it sends PING,
/// until it closes the connection (or stays quiet for 200 ms after a reply).
fn ping_from(ip: IpAddr, port: u16) -> (String, bool) {
    let mut s = TcpStream::connect((ip, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = s.write_all(b"PING\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut closed = false;
    loop {
        let n = match s.read(&mut buf) {
            // Closed with our PING unread: the kernel resets the connection.
            Ok(0) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Ok(n) => n,
            Err(_) => break, // quiet: still open
        };
        if n == 0 {
            closed = true;
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"\r\n") {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[test]
fn protected_mode_refuses_remote_clients_like_redis_until_a_password_is_set() {
    let ip = non_loopback_ip();
    let redis = Redis::start_with(&["--bind", "0.0.0.0"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let kiwi = Kiwi::start_in(tmp.path(), &["--bind", "0.0.0.0"]);

    let want = ping_from(ip, redis.port);
    assert!(
        want.0
            .starts_with("-DENIED Redis is running in protected mode"),
        "{want:?}"
    );
    assert!(want.1, "redis closes the connection");
    assert_eq!(ping_from(ip, kiwi.port), want, "the same bytes, then close");
    // Loopback clients are served.
    assert_eq!(kiwi.client().call(&["PING"]), Frame::simple("PONG"));

    // A password for the default user lifts it: remote clients must AUTH.
    for port in [redis.port, kiwi.port] {
        let mut admin = RespClient::connect(port);
        assert_eq!(
            admin.call(&["CONFIG", "SET", "requirepass", "s3cret"]),
            Frame::ok()
        );
        assert!(ping_from(ip, port).0.starts_with("-NOAUTH"), "port {port}");
        assert_eq!(admin.call(&["AUTH", "s3cret"]), Frame::ok());
        assert_eq!(
            admin.call(&["CONFIG", "SET", "requirepass", ""]),
            Frame::ok()
        );
        // So does turning protected mode off (from loopback).
        assert_eq!(
            admin.call(&["CONFIG", "SET", "protected-mode", "maybe"]),
            Frame::error("ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'")
        );
        assert_eq!(
            admin.call(&["CONFIG", "SET", "protected-mode", "no"]),
            Frame::ok()
        );
        assert_eq!(
            ping_from(ip, port),
            ("+PONG\r\n".into(), false),
            "port {port}"
        );
        assert_eq!(
            admin.call(&["CONFIG", "GET", "protected-mode"]),
            Frame::Array(vec![common::bulk("protected-mode"), common::bulk("no")])
        );
    }
}
