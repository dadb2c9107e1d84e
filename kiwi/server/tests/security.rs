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

/// One step of an ACL scenario: which connection sends which command.
type Step = (usize, &'static [&'static str]);

/// Plays `steps` over fresh connections (opened on first use) and returns
/// each reply as text.
fn play(port: u16, steps: &[Step]) -> Vec<String> {
    let mut conns: Vec<RespClient> = Vec::new();
    steps
        .iter()
        .map(|(conn, args)| {
            while conns.len() <= *conn {
                conns.push(RespClient::connect(port));
            }
            format!(
                "{conn} {args:?} -> {}",
                common::show(&conns[*conn].call(args))
            )
        })
        .collect()
}

const RULES_AND_LISTING: &[Step] = &[
    (
        0,
        &[
            "ACL", "SETUSER", "alice", "on", ">pw", "~cache:*", "+get", "+@string", "-set", "&ch*",
        ],
    ),
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "GETUSER", "alice"]),
    (0, &["ACL", "GETUSER", "nosuch"]),
    (0, &["ACL", "SETUSER", "bob"]),
    (0, &["ACL", "GETUSER", "bob"]),
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "bob",
            "+@all",
            "-@dangerous",
            "+config|get",
            "allkeys",
        ],
    ),
    (0, &["ACL", "LIST"]),
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "bob",
            "nocommands",
            "+client|getname",
            "-config|set",
            "+@hash",
            "+hget",
        ],
    ),
    (0, &["ACL", "GETUSER", "bob"]),
    (0, &["ACL", "SETUSER", "x", "on", "bogus"]),
    (0, &["ACL", "SETUSER", "x", "+nosuchcmd"]),
    (0, &["ACL", "SETUSER", "x", "+@nosuch"]),
    (0, &["ACL", "SETUSER", "x", "#abc"]),
    (0, &["ACL", "SETUSER", "x", "<nosuch"]),
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "u2",
            "on",
            "nopass",
            "allkeys",
            "allchannels",
            "+@all",
        ],
    ),
    (0, &["ACL", "SETUSER", "u2", "~foo"]),
    (0, &["ACL", "SETUSER", "u2", "&foo"]),
    (
        0,
        &["ACL", "SETUSER", "u2", "reset", "+@read", "~a", "~b", "&c"],
    ),
    (0, &["ACL", "USERS"]),
    (0, &["ACL", "LIST"]),
    (0, &["ACL", "CAT"]),
    (0, &["ACL", "CAT", "bogus"]),
    (0, &["ACL", "DELUSER", "default"]),
    (0, &["ACL", "DELUSER", "alice", "bob", "u2", "nobody"]),
    (0, &["ACL", "USERS"]),
    (0, &["ACL", "WHOAMI"]),
];

const PERMISSIONS: &[Step] = &[
    (
        0,
        &[
            "ACL",
            "SETUSER",
            "t",
            "on",
            ">p",
            "~k*",
            "&c*",
            "+get",
            "+set",
            "+publish",
            "+subscribe",
            "+client|getname",
            "+multi",
            "+exec",
            "+zunionstore",
            "+lmpop",
            "+sort",
        ],
    ),
    (1, &["GET", "k1"]),
    (1, &["AUTH", "t", "wrong"]),
    (1, &["AUTH", "nobody", "p"]),
    (1, &["HELLO", "3", "AUTH", "t", "wrong"]),
    (1, &["AUTH", "t", "p"]),
    (1, &["GET", "k1"]),
    (1, &["GET", "x"]),
    (1, &["SET", "k1", "v"]),
    (1, &["DEL", "k1"]),
    (1, &["MSET", "k1", "a", "x", "b"]),
    (1, &["CLIENT", "GETNAME"]),
    (1, &["CLIENT", "LIST"]),
    (1, &["ACL", "WHOAMI"]),
    (1, &["PUBLISH", "zz", "m"]),
    (1, &["PUBLISH", "cc", "m"]),
    (1, &["ZUNIONSTORE", "k2", "2", "k3", "secret"]),
    (1, &["ZUNIONSTORE", "k2", "1", "k3"]),
    (1, &["LMPOP", "2", "k1", "secret", "LEFT"]),
    (1, &["SORT", "k1", "STORE", "secret"]),
    (1, &["MULTI"]),
    (1, &["SET", "k5", "v"]),
    (1, &["DEL", "k5"]),
    (1, &["EXEC"]),
    (1, &["SUBSCRIBE", "zz"]),
    (1, &["SUBSCRIBE", "c1"]),
    // Disabling a user keeps its connections; new logins fail.
    (0, &["ACL", "SETUSER", "t", "off"]),
    (2, &["AUTH", "t", "p"]),
    (0, &["ACL", "SETUSER", "t", "on", "-get"]),
    (2, &["AUTH", "t", "p"]),
    (2, &["GET", "k1"]),
    (2, &["AUTH", "default", "anything"]),
    (2, &["GET", "k1"]),
    (0, &["ACL", "DELUSER", "t"]),
];

const DEFAULT_USER_PASSWORD: &[Step] = &[
    (0, &["AUTH", "x"]),
    (0, &["CONFIG", "SET", "requirepass", "s3"]),
    (0, &["ACL", "GETUSER", "default"]),
    (1, &["GET", "a"]),
    (1, &["AUTH", "wrong"]),
    (1, &["AUTH", "s3"]),
    (1, &["ACL", "WHOAMI"]),
    (2, &["AUTH", "default", "s3"]),
    (2, &["HELLO", "2", "AUTH", "default", "wrong"]),
    (0, &["ACL", "SETUSER", "default", "resetpass", ">other"]),
    (3, &["AUTH", "s3"]),
    (3, &["AUTH", "other"]),
    (0, &["ACL", "SETUSER", "default", "nopass"]),
    (0, &["CONFIG", "SET", "requirepass", ""]),
    (0, &["ACL", "LIST"]),
];

#[test]
fn acl_users_rules_and_permissions_match_redis() {
    common::scenarios_match_redis(
        &[
            ("rules and listing", RULES_AND_LISTING),
            ("permissions", PERMISSIONS),
            ("default user password", DEFAULT_USER_PASSWORD),
        ],
        |port, steps| play(port, steps),
    );
}

#[test]
fn deleting_a_user_closes_its_connections() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "gone", "on", ">p", "+@all", "~*"]),
        Frame::ok()
    );
    let mut c = kiwi.client();
    let Frame::Array(hello) = c.call(&["HELLO", "2", "AUTH", "gone", "p"]) else {
        panic!("HELLO replies with a map (an array in RESP2)");
    };
    assert_eq!(hello[0], common::bulk("server"));
    assert_eq!(c.call(&["ACL", "WHOAMI"]), common::bulk("gone"));
    let Frame::Bulk(list) = admin.call(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST is a bulk string");
    };
    assert!(String::from_utf8_lossy(&list).contains("user=gone"));
    assert_eq!(admin.call(&["ACL", "DELUSER", "gone"]), Frame::Integer(1));
    c.set_read_timeout(Some(Duration::from_secs(5)));
    assert!(c.is_closed(), "the deleted user's connection is closed");
    assert_eq!(admin.call(&["PING"]), Frame::simple("PONG"));
}

#[test]
fn acl_categories_hold_the_same_commands_as_in_redis() {
    let redis = Redis::start();
    let kiwi = Kiwi::start();
    let names = |port: u16, args: &[&str]| -> Vec<String> {
        let Frame::Array(items) = RespClient::connect(port).call(args) else {
            panic!("ACL CAT replies with an array");
        };
        let mut v: Vec<String> = items.iter().map(common::show).collect();
        v.sort();
        v
    };
    let categories = names(redis.port, &["ACL", "CAT"]);
    assert_eq!(names(kiwi.port, &["ACL", "CAT"]), categories);
    // Kiwi's commands (and their subcommands), as COMMAND LIST names them.
    let kiwi_commands = names(kiwi.port, &["COMMAND", "LIST"]);
    let is_kiwis = |entry: &String| {
        let command = entry
            .trim_matches('"')
            .split('|')
            .next()
            .unwrap_or_default();
        kiwi_commands.contains(&format!("\"{command}\""))
    };
    for category in categories {
        let category = category.trim_matches('"').to_string();
        let want: Vec<String> = names(redis.port, &["ACL", "CAT", &category])
            .into_iter()
            .filter(is_kiwis)
            .collect();
        let got = names(kiwi.port, &["ACL", "CAT", &category]);
        assert_eq!(got, want, "category {category}");
    }
}

/// What the server sends back to raw `payload` until it closes the
/// connection (`<closed>`) or stays quiet for a second (`<open>`).
fn raw_exchange(port: u16, payload: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let _ = s.write_all(payload);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break "<closed>",
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "<closed>",
            Err(_) => break "<open>",
        }
    };
    format!("{}{end}", String::from_utf8_lossy(&got))
}

#[test]
fn hostile_clients_hit_limits_like_redis_and_others_stay_served() {
    let redis = Redis::start();
    let kiwi = Kiwi::start();
    let mut bystander = kiwi.client();
    assert_eq!(bystander.call(&["SET", "k", "v"]), Frame::ok());
    let hostile: &[&[u8]] = &[
        // A bulk longer than proto-max-bulk-len.
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000000\r\n",
        // Garbage where a multibulk count belongs.
        b"*x\r\n",
        b"*3\r\n$3\r\nSET\r\n$-5\r\n",
    ];
    for payload in hostile {
        assert_eq!(
            raw_exchange(kiwi.port, payload),
            raw_exchange(redis.port, payload),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    // Before AUTH, requests must be small (Redis's unauthenticated limits).
    for port in [redis.port, kiwi.port] {
        let mut admin = RespClient::connect(port);
        assert_eq!(
            admin.call(&["CONFIG", "SET", "requirepass", "pw"]),
            Frame::ok()
        );
    }
    assert_eq!(bystander.call(&["AUTH", "pw"]), Frame::ok());
    for payload in [&b"*100\r\n"[..], b"*2\r\n$3\r\nGET\r\n$20000\r\n"] {
        let want = raw_exchange(redis.port, payload);
        assert!(
            want.starts_with("-ERR Protocol error: unauthenticated"),
            "{want}"
        );
        assert_eq!(raw_exchange(kiwi.port, payload), want);
    }
    // AUTH lifts those limits for the very next request of the same
    // pipeline (Redis parses one command at a time; Kiwi's batch decoding
    // stops after AUTH). A failed AUTH does not.
    let value = "x".repeat(20_000);
    let pipeline = |password: &str| {
        format!(
            "*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$20000\r\n{value}\r\n",
            password.len()
        )
    };
    let logged_in = raw_exchange(kiwi.port, pipeline("pw").as_bytes());
    assert_eq!(logged_in, "+OK\r\n+OK\r\n<open>");
    assert_eq!(
        logged_in,
        raw_exchange(redis.port, pipeline("pw").as_bytes())
    );
    let refused = raw_exchange(kiwi.port, pipeline("nope").as_bytes());
    assert!(refused.contains("unauthenticated bulk length"), "{refused}");
    assert_eq!(
        refused,
        raw_exchange(redis.port, pipeline("nope").as_bytes())
    );
    // The query buffer is bounded: a client streaming one endless argument
    // is cut off at client-query-buffer-limit, not buffered.
    assert_eq!(
        bystander.call(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        Frame::ok()
    );
    let mut flood = TcpStream::connect(("127.0.0.1", kiwi.port)).expect("connect");
    let _ = flood.write_all(b"AUTH pw\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 8 << 20 {
        match flood.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // closed by the server
        }
    }
    flood
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    let closed = match flood.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed,
        "the server kept the flooding connection open ({sent} bytes sent)"
    );
    assert_eq!(bystander.call(&["GET", "k"]), common::bulk("v"));
}

#[test]
fn tls_clients_with_certificates_like_redis_cli_tls() {
    let certs = tempfile::tempdir().expect("tempdir");
    common::make_certificates(certs.path());
    let file = |name: &str| certs.path().join(name).display().to_string();
    let tls_port = common::free_port().to_string();
    let data = tempfile::tempdir().expect("tempdir");
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let kiwi = Kiwi::start_in(
        data.path(),
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
        ],
    );
    let cli = |extra: &[&str], cmd: &[&str]| redis_cli_tls(&tls_port, &file("ca.crt"), extra, cmd);
    let with_cert = ["--cert", &file("client.crt"), "--key", &file("client.key")];
    assert_eq!(cli(&with_cert, &["SET", "over", "tls"]), "OK");
    assert_eq!(cli(&with_cert, &["GET", "over"]), "tls");
    // The plain port serves the same data.
    assert_eq!(kiwi.client().call(&["GET", "over"]), common::bulk("tls"));
    // tls-auth-clients yes (the default): no client certificate, no service.
    let refused = cli(&[], &["PING"]);
    assert!(!refused.contains("PONG"), "{refused}");
    // Plain RESP on the TLS port is not understood as commands either.
    let mut plain = RespClient::connect(tls_port.parse().expect("port"));
    plain.send_raw(b"PING\r\n");
    plain.set_read_timeout(Some(Duration::from_secs(5)));
    assert_ne!(plain.read_frame(), Some(Frame::simple("PONG")));
    assert_eq!(kiwi.client().call(&["PING"]), Frame::simple("PONG"));
}

/// One server's side of the ACL file scenario: what each step replied,
/// with the server's own file path replaced by `FILE`.
fn play_acl_file(file: &std::path::Path, port: u16) -> Vec<String> {
    let path = file.display().to_string();
    let mut out = Vec::new();
    let mut admin = RespClient::connect(port);
    let step = |out: &mut Vec<String>, c: &mut RespClient, cmd: &[&str]| {
        let reply = common::show(&c.call(cmd)).replace(&path, "FILE");
        out.push(format!("{cmd:?} -> {reply}"));
    };
    step(&mut out, &mut admin, &["ACL", "LIST"]);
    step(
        &mut out,
        &mut admin,
        &["ACL", "SETUSER", "bob", "on", ">pw2", "+@read", "~*"],
    );
    step(&mut out, &mut admin, &["ACL", "SETUSER", "nobody", ""]);
    step(&mut out, &mut admin, &["ACL", "SAVE"]);
    let saved = std::fs::read_to_string(file).expect("the saved ACL file");
    out.push(format!("saved file: {saved:?}"));
    // A file with every kind of error: nothing changes.
    std::fs::write(
        file,
        "# a comment\nuser carol on +nosuchcmd\nuser alice on >pw\n\n  user alice off\nuser dave on \"+get\"\nuser eve on >p nosuchrule +get\n",
    )
    .expect("write");
    step(&mut out, &mut admin, &["ACL", "LOAD"]);
    step(&mut out, &mut admin, &["ACL", "LIST"]);
    // alice, logged in, is disconnected by a successful LOAD; a file
    // without a default user gets the stock one.
    let mut alice = RespClient::connect(port);
    step(&mut out, &mut alice, &["AUTH", "alice", "pw"]);
    std::fs::write(file, "user alice on >pw ~* +@all\r\nuser zed off\n").expect("write");
    step(&mut out, &mut admin, &["ACL", "LOAD"]);
    step(&mut out, &mut admin, &["ACL", "LIST"]);
    std::thread::sleep(Duration::from_millis(100));
    out.push(format!("alice's connection closed: {}", alice.is_closed()));
    std::fs::remove_file(file).expect("remove");
    step(&mut out, &mut admin, &["ACL", "LOAD"]);
    out
}

#[test]
fn acl_file_load_and_save_like_redis() {
    // One command per user: Redis 7.0 lists a user's commands in its
    // command table's hash order, which changes from run to run.
    let initial = "user default on nopass ~* &* +@all\nuser alice on >pw ~a:* &*  -@all +get\n";
    let tmp = tempfile::tempdir().expect("tempdir");
    let (kiwi_file, redis_file) = (tmp.path().join("kiwi.acl"), tmp.path().join("redis.acl"));
    std::fs::write(&kiwi_file, initial).expect("write");
    std::fs::write(&redis_file, initial).expect("write");
    let redis = Redis::start_with(&["--aclfile", redis_file.to_str().expect("utf-8")]);
    let kiwi = Kiwi::start_in(
        &tmp.path().join("data"),
        &["--aclfile", kiwi_file.to_str().expect("utf-8")],
    );
    let theirs = play_acl_file(&redis_file, redis.port);
    let ours = play_acl_file(&kiwi_file, kiwi.port);
    assert_eq!(ours, theirs);
    // Without an ACL file, LOAD and SAVE explain themselves as Redis does.
    let plain = Kiwi::start();
    for sub in ["LOAD", "SAVE"] {
        assert_eq!(
            plain.client().call(&["ACL", sub]),
            Redis::start().client().call(&["ACL", sub])
        );
    }
}

#[test]
fn a_server_whose_acl_file_does_not_load_does_not_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("users.acl");
    std::fs::write(&file, "user alice on +nosuchcmd\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiwi-server"))
        .args(["--port", "0", "--dir"])
        .arg(tmp.path().join("data"))
        .arg("--aclfile")
        .arg(&file)
        .output()
        .expect("run kiwi-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ACL errors") && stderr.contains("Unknown command or category name in ACL"),
        "{stderr}"
    );
}

/// What `redis-cli --tls` printed for `cmd` on `port`, trusting the CA in
/// `ca`, with `extra` flags (a client certificate).
fn redis_cli_tls(port: &str, ca: &str, extra: &[&str], cmd: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert", ca, "-p", port])
        .args(extra)
        .args(cmd)
        .output()
        .expect("redis-cli must be installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// PING over TLS on `port`, trusting `certs`'s CA and presenting its
/// client certificate.
fn tls_ping(port: u16, certs: &std::path::Path) -> String {
    let file = |name: &str| certs.join(name).display().to_string();
    let client_cert = ["--cert", &file("client.crt"), "--key", &file("client.key")];
    redis_cli_tls(&port.to_string(), &file("ca.crt"), &client_cert, &["PING"])
}

#[test]
fn config_set_of_a_tls_file_rotates_certificates_like_redis() {
    let (old, new, live) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    common::make_certificates(old.path());
    common::make_certificates(new.path());
    let install = |from: &std::path::Path| {
        for name in ["server.crt", "server.key", "ca.crt"] {
            std::fs::copy(from.join(name), live.path().join(name)).expect("copy");
        }
    };
    install(old.path());
    let file = |name: &str| live.path().join(name).display().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let tls_args = |tls_port: &str| -> Vec<String> {
        [
            "--tls-port",
            tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let kiwi_tls = common::free_port();
    let args = tls_args(&kiwi_tls.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let data = tempfile::tempdir().expect("tempdir");
    let kiwi = Kiwi::start_in(data.path(), &args);
    let redis_tls = common::free_port();
    let args = tls_args(&redis_tls.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let redis = Redis::start_with(&args);
    assert_eq!(tls_ping(kiwi_tls, old.path()), "PONG");

    // New files in place: nothing changes until CONFIG SET names them.
    install(new.path());
    assert_eq!(tls_ping(kiwi_tls, old.path()), "PONG");
    let (mut k, mut r) = (kiwi.client(), redis.client());
    let rotate = [
        "CONFIG",
        "SET",
        "tls-cert-file",
        &cert,
        "tls-key-file",
        &key,
        "tls-ca-cert-file",
        &ca,
    ];
    assert_eq!(k.call(&rotate), Frame::ok());
    assert_eq!(r.call(&rotate), Frame::ok());
    assert_eq!(tls_ping(kiwi_tls, new.path()), "PONG");
    assert_eq!(tls_ping(redis_tls, new.path()), "PONG");
    let refused = tls_ping(kiwi_tls, old.path());
    assert!(
        !refused.contains("PONG"),
        "the old CA still works: {refused}"
    );

    // A file that does not load, or a bad value: Redis's errors, and the
    // current certificates stay.
    for bad in [
        ["CONFIG", "SET", "tls-cert-file", "/nonexistent/server.crt"],
        ["CONFIG", "SET", "tls-auth-clients", "maybe"],
    ] {
        assert_eq!(
            common::show(&k.call(&bad)),
            common::show(&r.call(&bad)),
            "{bad:?}"
        );
    }
    assert_eq!(
        k.call(&["CONFIG", "GET", "tls-cert-file"]),
        r.call(&["CONFIG", "GET", "tls-cert-file"])
    );
    assert_eq!(tls_ping(kiwi_tls, new.path()), "PONG");
}
