//! End-to-end tests: a real kiwi-server process, real clients over TCP.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bulk, show, Kiwi, RespClient};
use kiwi_resp::Frame;
use redis::Commands;

#[test]
fn redis_crate_strings_and_keys() {
    let kiwi = Kiwi::start();
    let mut con = kiwi.redis_client();
    let _: () = con.set("greeting", "hello").unwrap();
    assert_eq!(con.get::<_, String>("greeting").unwrap(), "hello");
    assert_eq!(con.incr::<_, _, i64>("counter", 5).unwrap(), 5);
    assert_eq!(con.incr::<_, _, i64>("counter", -2).unwrap(), 3);
    assert_eq!(con.append::<_, _, i64>("greeting", " world").unwrap(), 11);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["greeting", "missing", "counter"])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        vals,
        vec![Some("hello world".into()), None, Some("3".into())]
    );
    assert!(con.expire::<_, bool>("greeting", 100).unwrap());
    let ttl: i64 = con.ttl("greeting").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        con.exists::<_, i64>(&["greeting", "counter", "nope"][..])
            .unwrap(),
        2
    );
    let mut keys: Vec<String> = con.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, vec!["counter", "greeting"]);
    let _: () = con.rename("counter", "c2").unwrap();
    assert_eq!(con.get::<_, i64>("c2").unwrap(), 3);
    assert_eq!(con.del::<_, i64>(&["c2", "greeting"][..]).unwrap(), 2);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
    // Errors come back as Redis errors the crate understands.
    let err = redis::cmd("INCR")
        .arg("x")
        .arg("y")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );
}

#[test]
fn scan_iterates_all_keys() {
    let kiwi = Kiwi::start();
    let mut con = kiwi.redis_client();
    for i in 0..300 {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    let mut seen: Vec<String> = con.scan_match("key:*").unwrap().collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 300);
}

#[test]
fn redis_cli_works_against_kiwi() {
    let kiwi = Kiwi::start();
    let port = kiwi.port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "k", "v", "EX", "100"]), "OK");
    assert_eq!(cli(&["GET", "k"]), "v");
    assert_eq!(cli(&["TYPE", "k"]), "string");
    assert_eq!(cli(&["DBSIZE"]), "1");
    assert!(cli(&["INFO", "server"]).contains("redis_version:7.0.15"));
    assert_eq!(
        cli(&["NOSUCH", "a"]),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a'"
    );
    // redis-cli in a pipe (no tty) sends inline-free RESP; also try a script via stdin.
    let mut child = Command::new("redis-cli")
        .args(["-p", &port])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SET a 1\nINCRBY a 41\nGET a\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n42\n42\n");
}

#[test]
fn pipelined_replies_stay_in_order() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let mut wire = Vec::new();
    for i in 0..2000 {
        wire.extend(RespClient::encode(&[
            "SET",
            &format!("k{i}"),
            &i.to_string(),
        ]));
        wire.extend(RespClient::encode(&["GET", &format!("k{i}")]));
        // Connection-level commands interleaved with storage commands.
        if i % 100 == 0 {
            wire.extend(RespClient::encode(&["ECHO", &format!("e{i}")]));
        }
    }
    c.send_raw(&wire);
    for i in 0..2000 {
        assert_eq!(c.read_frame().unwrap(), Frame::ok());
        assert_eq!(c.read_frame().unwrap(), bulk(&i.to_string()));
        if i % 100 == 0 {
            assert_eq!(c.read_frame().unwrap(), bulk(&format!("e{i}")));
        }
    }
}

#[test]
fn inline_commands_work() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    c.send_raw(b"SET inline \"a b\"\r\nGET inline\r\nPING\n");
    assert_eq!(c.read_frame().unwrap(), Frame::ok());
    assert_eq!(c.read_frame().unwrap(), bulk("a b"));
    assert_eq!(c.read_frame().unwrap(), Frame::simple("PONG"));
}

#[test]
fn protocol_errors_close_only_that_connection() {
    let kiwi = Kiwi::start();
    let mut bystander = kiwi.client();
    assert_eq!(bystander.call(&["SET", "safe", "1"]), Frame::ok());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad multibulk length", b"*abc\r\n".to_vec()),
        ("expected dollar", b"*1\r\n:12\r\n".to_vec()),
        ("negative bulk", b"*1\r\n$-3\r\n".to_vec()),
        ("bulk over limit", b"*1\r\n$999999999999\r\n".to_vec()),
        ("unbalanced quotes", b"SET \"abc\r\n".to_vec()),
        ("huge inline", vec![b'x'; 70 * 1024]),
    ];
    let mut report = String::new();
    for (name, input) in cases {
        let mut c = kiwi.client();
        c.send_raw(&input);
        let reply = c.read_frame().expect("an error reply before closing");
        report.push_str(&format!("{name}: {}\n", show(&reply)));
        assert!(c.is_closed(), "{name}: connection must be closed");
    }
    insta::assert_snapshot!(report);
    // A huge declared argument count costs nothing until the data arrives.
    let mut c = kiwi.client();
    c.send_raw(b"*2147483647\r\n");
    drop(c);
    assert_eq!(bystander.call(&["GET", "safe"]), bulk("1"));
}

#[test]
fn error_texts_match_redis() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let calls: Vec<Vec<&str>> = vec![
        vec!["GET"],
        vec!["FOO", "bar", "baz"],
        vec!["SET", "k", "v", "EX", "0"],
        vec!["SET", "k", "v", "NX", "XX"],
        vec!["SET", "k", "v", "EX", "abc"],
        vec!["INCR", "k"],
        vec!["SET", "n", "9223372036854775807"],
        vec!["INCR", "n"],
        vec!["INCRBYFLOAT", "n", "abc"],
        vec!["SELECT", "16"],
        vec!["SELECT", "x"],
        vec!["EXPIRE", "k", "10", "NX", "XX"],
        vec!["EXPIRE", "k", "10", "GT", "LT"],
        vec!["EXPIRE", "k", "10", "FOO"],
        vec!["RENAME", "missing", "x"],
        vec!["MOVE", "k", "0"],
        vec!["SCAN", "abc"],
        vec!["SETRANGE", "k", "-1", "x"],
        vec!["AUTH", "pw"],
        vec!["HELLO", "4"],
        vec!["CONFIG", "SET", "nosuch", "1"],
        vec!["CONFIG", "SET", "port", "1"],
        vec!["CONFIG", "GET"],
        vec!["OBJECT", "nosuch"],
        vec!["CLIENT", "SETNAME", "a b"],
        vec!["SWAPDB", "a", "1"],
    ];
    let mut report = String::new();
    for call in calls {
        report.push_str(&format!(
            "{}  =>  {}\n",
            call.join(" "),
            show(&c.call(&call))
        ));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn resp3_hello_and_typed_replies() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let hello = c.call(&["HELLO", "3"]);
    let Frame::Map(pairs) = &hello else {
        panic!("HELLO 3 must reply a map, got {}", show(&hello))
    };
    assert!(pairs.contains(&(bulk("proto"), Frame::Integer(3))));
    assert_eq!(c.call(&["GET", "missing"]), Frame::Null);
    assert!(matches!(c.call(&["CONFIG", "GET", "port"]), Frame::Map(_)));
    assert!(matches!(
        c.call(&["INFO", "server"]),
        Frame::Verbatim { .. }
    ));
    assert_eq!(
        c.call(&["HELLO", "2"])
            .to_bytes(kiwi_resp::Protocol::Resp2)
            .first(),
        Some(&b'*')
    );
}

#[test]
fn requirepass_gates_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let kiwi = Kiwi::start_in(tmp.path(), &["--requirepass", "s3cret"]);
    let mut c = kiwi.client();
    assert_eq!(
        c.call(&["GET", "k"]),
        Frame::error("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.call(&["AUTH", "wrong"]),
        Frame::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.call(&["AUTH", "s3cret"]), Frame::ok());
    assert_eq!(c.call(&["GET", "k"]), Frame::Null);
    let mut c2 = kiwi.client();
    assert!(matches!(
        c2.call(&["HELLO", "3", "AUTH", "default", "s3cret"]),
        Frame::Map(_)
    ));
    assert_eq!(c2.call(&["PING"]), Frame::simple("PONG"));
}

#[test]
fn client_commands() {
    let kiwi = Kiwi::start();
    let mut a = kiwi.client();
    let mut b = kiwi.client();
    assert_eq!(a.call(&["CLIENT", "SETNAME", "alpha"]), Frame::ok());
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), bulk("alpha"));
    let Frame::Integer(b_id) = b.call(&["CLIENT", "ID"]) else {
        panic!()
    };
    let Frame::Bulk(list) = a.call(&["CLIENT", "LIST"]) else {
        panic!()
    };
    let list = String::from_utf8_lossy(&list).to_string();
    assert!(list.contains("name=alpha"), "{list}");
    assert_eq!(list.lines().count(), 2);
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Frame::Integer(1)
    );
    assert!(b.is_closed());
}

#[test]
fn config_set_applies_limits() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    assert_eq!(
        c.call(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        Frame::ok()
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "proto-max-bulk-len"]),
        Frame::Array(vec![bulk("proto-max-bulk-len"), bulk("1048576")])
    );
    let mut big = kiwi.client();
    big.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    assert_eq!(
        big.read_frame().unwrap(),
        Frame::error("ERR Protocol error: invalid bulk length")
    );
    assert!(big.is_closed());
    assert_eq!(
        c.call(&["CONFIG", "SET", "appendfsync", "always"]),
        Frame::ok()
    );
    assert_eq!(c.call(&["SET", "durable", "1"]), Frame::ok());
}

#[test]
fn data_survives_kill_dash_nine() {
    let tmp = tempfile::tempdir().unwrap();
    let kiwi = Kiwi::start_in(tmp.path(), &[]);
    let mut c = kiwi.client();
    for i in 0..1000 {
        assert_eq!(
            c.call(&["SET", &format!("p{i}"), &format!("v{i}")]),
            Frame::ok()
        );
    }
    assert_eq!(c.call(&["SELECT", "5"]), Frame::ok());
    assert_eq!(c.call(&["SET", "in5", "x", "EX", "1000"]), Frame::ok());
    assert_eq!(c.call(&["SET", "short", "x", "PX", "50"]), Frame::ok());
    kiwi.kill9();
    let kiwi = Kiwi::start_in(tmp.path(), &[]);
    let mut c = kiwi.client();
    assert_eq!(c.call(&["DBSIZE"]), Frame::Integer(1000));
    for i in (0..1000).step_by(97) {
        assert_eq!(c.call(&["GET", &format!("p{i}")]), bulk(&format!("v{i}")));
    }
    assert_eq!(c.call(&["SELECT", "5"]), Frame::ok());
    assert_eq!(c.call(&["GET", "in5"]), bulk("x"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        c.call(&["GET", "short"]),
        Frame::Null,
        "TTL survives restart"
    );
    // Active expiry removes the expired key without anyone touching it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.call(&["DBSIZE"]) != Frame::Integer(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry did not remove the key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let tmp = tempfile::tempdir().unwrap();
    let kiwi = Kiwi::start_in(tmp.path(), &[]);
    let mut c = kiwi.client();
    assert_eq!(c.call(&["SET", "k", "v"]), Frame::ok());
    let status = kiwi.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(c.is_closed());
    let kiwi = Kiwi::start_in(tmp.path(), &[]);
    assert_eq!(kiwi.client().call(&["GET", "k"]), bulk("v"));
}

#[test]
fn info_and_command_shapes() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let Frame::Bulk(info) = c.call(&["INFO"]) else {
        panic!("INFO must be a bulk string in RESP2")
    };
    // Field names and section layout are what tools parse; values vary per run.
    let shape: Vec<String> = String::from_utf8_lossy(&info)
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((k, _)) if !line.starts_with('#') => format!("{k}:<v>"),
            _ => line.to_string(),
        })
        .collect();
    let mut report = shape.join("\n");
    for call in [
        vec!["COMMAND", "INFO", "get", "nosuch"],
        vec!["COMMAND", "DOCS", "get"],
        vec!["HELLO"],
    ] {
        let reply = c.call(&call);
        let text = show(&reply).replace(&format!(":{}", kiwi.port), ":<port>");
        let text = regex_free_id(&text);
        report.push_str(&format!("\n\n{}\n{}", call.join(" "), text));
    }
    insta::assert_snapshot!(report);
}

/// Masks the connection id in a HELLO reply.
fn regex_free_id(text: &str) -> String {
    match text.find("\"id\", :") {
        Some(i) => {
            let rest = &text[i + 7..];
            let end = rest
                .find(|ch: char| !ch.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}\"id\", :<id>{}", &text[..i], &rest[end..])
        }
        None => text.to_string(),
    }
}

#[test]
fn maxclients_and_idle_timeout() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "maxclients", "2"]),
        Frame::ok()
    );
    let mut second = kiwi.client();
    assert_eq!(second.call(&["PING"]), Frame::simple("PONG"));
    let mut third = kiwi.client();
    assert_eq!(
        third.read_frame(),
        Some(Frame::error("ERR max number of clients reached"))
    );
    assert!(third.is_closed());
    drop(second);
    assert_eq!(
        admin.call(&["CONFIG", "SET", "maxclients", "100", "timeout", "1"]),
        Frame::ok()
    );
    let mut idle = kiwi.client();
    assert_eq!(idle.call(&["PING"]), Frame::simple("PONG"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        idle.is_closed(),
        "idle client must be closed after `timeout` seconds"
    );
}

#[test]
fn collection_scans_return_every_stable_element_across_writes() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    // Large enough to be scanned in several calls (small ones come at once).
    let mut cmd = vec!["HSET".to_string(), "h".into()];
    for i in 0..600 {
        cmd.extend([format!("stable:{i}"), "v".into()]);
    }
    c.call(&cmd);
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        // Churn between calls: new fields appear, others come and go.
        c.call(&["HSET", "h", &format!("churn:{calls}"), "x"]);
        c.call(&["HDEL", "h", &format!("churn:{}", calls / 2)]);
        let Frame::Array(parts) = c.call(&["HSCAN", "h", &cursor, "COUNT", "25"]) else {
            panic!("HSCAN reply shape");
        };
        let (Frame::Bulk(next), Frame::Array(items)) = (&parts[0], &parts[1]) else {
            panic!("HSCAN reply shape");
        };
        // Bounded batches even though every field shares a long prefix.
        assert!(items.len() <= 2 * 2 * 25, "batch of {} frames", items.len());
        for pair in items.chunks(2) {
            seen.insert(show(&pair[0]));
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        calls += 1;
        if cursor == "0" {
            break;
        }
        assert!(calls < 1000, "HSCAN did not terminate");
    }
    assert!(calls > 5, "the scan took several calls ({calls})");
    for i in 0..600 {
        assert!(
            seen.contains(&format!("{:?}", format!("stable:{i}"))),
            "stable:{i} missed"
        );
    }
}

/// INFO commandstats/errorstats count calls, failures and rejections like
/// Redis (times aside), and SLOWLOG keeps what ran over the threshold.
#[test]
fn commandstats_errorstats_and_slowlog_like_redis() {
    let kiwi = Kiwi::start();
    let redis = common::Redis::start();
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["GET", "a"],
        &["GET", "a"],
        &["LPUSH", "a", "x"],
        &["NOSUCHCMD"],
        &["GET"],
        &["PING"],
        &["MULTI"],
        &["INCR", "a"],
        &["EXEC"],
    ];
    let stats = |port: u16| {
        let mut c = RespClient::connect(port);
        assert_eq!(c.call(&["CONFIG", "RESETSTAT"]), Frame::ok());
        for cmd in script {
            c.call(cmd);
        }
        let text = match c.call(&["INFO", "commandstats"]) {
            Frame::Bulk(t) => String::from_utf8_lossy(&t).into_owned(),
            other => panic!("INFO: {}", show(&other)),
        };
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_config"))
            .map(|l| {
                // calls=N,usec=..,usec_per_call=..,rejected_calls=N,failed_calls=N
                let (name, fields) = l.split_once(':').unwrap();
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                format!("{name}:{}", kept.join(","))
            })
            .collect();
        lines.sort();
        let errors = match c.call(&["INFO", "errorstats"]) {
            Frame::Bulk(t) => String::from_utf8_lossy(&t).into_owned(),
            other => panic!("INFO: {}", show(&other)),
        };
        lines.extend(
            errors
                .lines()
                .filter(|l| l.starts_with("errorstat_"))
                .map(String::from),
        );
        lines
    };
    let (got, want) = (stats(kiwi.port), stats(redis.port));
    // Kiwi counts EXEC but not the commands inside it (docs/compatibility.md).
    let want: Vec<String> = want
        .into_iter()
        .filter(|l| !l.starts_with("cmdstat_incr"))
        .collect();
    assert_eq!(got, want);

    let mut c = kiwi.client();
    assert_eq!(
        c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        Frame::ok()
    );
    assert_eq!(c.call(&["SLOWLOG", "RESET"]), Frame::ok());
    let long = "v".repeat(200);
    c.call(&["SET", "k", &long]);
    c.call(&["CLIENT", "SETNAME", "me"]);
    let Frame::Array(entries) = c.call(&["SLOWLOG", "GET", "2"]) else {
        panic!("SLOWLOG GET")
    };
    assert_eq!(entries.len(), 2);
    let Frame::Array(set) = &entries[1] else {
        panic!("entry")
    };
    assert_eq!(
        set[3],
        Frame::Array(vec![
            common::bulk("SET"),
            common::bulk("k"),
            common::bulk(&format!("{}... (72 more bytes)", "v".repeat(128)))
        ])
    );
    let Frame::Array(setname) = &entries[0] else {
        panic!("entry")
    };
    assert_eq!(
        setname[5],
        common::bulk("me"),
        "the client's name is recorded"
    );
    assert_eq!(c.call(&["SLOWLOG", "LEN"]), Frame::Integer(4));
    assert_eq!(
        c.call(&["SLOWLOG", "GET", "-2"]),
        Frame::error("ERR count should be greater than or equal to -1")
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        Frame::ok()
    );
    c.call(&["SLOWLOG", "RESET"]);
    c.call(&["GET", "k"]);
    assert_eq!(c.call(&["SLOWLOG", "LEN"]), Frame::Integer(0));
}

/// CLIENT PAUSE WRITE holds back writes (and a transaction with one) but
/// lets reads through; CLIENT UNPAUSE releases the held commands, which
/// then run in order. CLIENT PAUSE ALL holds back everything until it ends.
#[test]
fn client_pause_holds_writes_until_unpause() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut writer = kiwi.client();
    let mut reader = kiwi.client();
    assert_eq!(admin.call(&["SET", "k", "before"]), Frame::ok());
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Frame::ok()
    );
    writer.send_raw(&RespClient::encode(&["SET", "k", "during"]));
    writer.send_raw(&RespClient::encode(&["GET", "k"]));
    writer.set_read_timeout(Some(Duration::from_millis(300)));
    assert_eq!(writer.read_frame(), None, "a write waits out the pause");
    assert_eq!(reader.call(&["GET", "k"]), bulk("before"), "reads pass");
    assert_eq!(reader.call(&["MULTI"]), Frame::simple("OK"));
    assert_eq!(reader.call(&["GET", "k"]), Frame::simple("QUEUED"));
    assert_eq!(reader.call(&["EXEC"]), Frame::Array(vec![bulk("before")]));
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), Frame::ok());
    writer.set_read_timeout(Some(Duration::from_secs(30)));
    assert_eq!(writer.read_frame(), Some(Frame::ok()));
    assert_eq!(writer.read_frame(), Some(bulk("during")));

    assert_eq!(admin.call(&["CLIENT", "PAUSE", "2000"]), Frame::ok());
    reader.send_raw(&RespClient::encode(&["GET", "k"]));
    reader.set_read_timeout(Some(Duration::from_millis(300)));
    assert_eq!(reader.read_frame(), None, "ALL holds reads too");
    reader.set_read_timeout(Some(Duration::from_secs(30)));
    assert_eq!(reader.read_frame(), Some(bulk("during")), "until it ends");

    for (args, want) in [
        (
            &["CLIENT", "PAUSE", "x"][..],
            "-ERR timeout is not an integer or out of range",
        ),
        (&["CLIENT", "PAUSE", "-1"][..], "-ERR timeout is negative"),
        (
            &["CLIENT", "PAUSE", "1", "SOME"][..],
            "-ERR CLIENT PAUSE mode must be WRITE or ALL",
        ),
        (&["CLIENT", "NO-EVICT", "maybe"][..], "-ERR syntax error"),
    ] {
        assert_eq!(show(&admin.call(args)), want, "{args:?}");
    }
    assert_eq!(admin.call(&["CLIENT", "NO-EVICT", "on"]), Frame::ok());
    let info = show(&admin.call(&["CLIENT", "INFO"]));
    assert!(info.contains(" flags=e "), "{info}");
}

/// CONFIG REWRITE writes what CONFIG SET changed into the TOML file the
/// server started from, keeping its comments and other keys, and a restart
/// from that file has the new settings. Without a file it is Redis's error.
#[test]
fn config_rewrite_updates_the_toml_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("kiwi.toml");
    std::fs::write(
        &file,
        "# operator's notes stay\nmaxclients = 500 # per node\nhz = 10\n",
    )
    .expect("write config");
    let data = tmp.path().join("data");
    let file_arg = file.to_string_lossy().into_owned();
    let kiwi = Kiwi::start_in(&data, &["-c", &file_arg]);
    let mut c = kiwi.client();
    for (k, v) in [
        ("maxclients", "123"),
        ("notify-keyspace-events", "KEA"),
        ("slowlog-max-len", "7"),
    ] {
        assert_eq!(c.call(&["CONFIG", "SET", k, v]), Frame::ok());
    }
    assert_eq!(c.call(&["CONFIG", "REWRITE"]), Frame::ok());
    let text = std::fs::read_to_string(&file).expect("read config");
    assert!(
        text.starts_with("# operator's notes stay\nmaxclients = 123 # per node\nhz = 10\n"),
        "{text}"
    );
    assert!(text.contains("notify-keyspace-events = \"KEA\""), "{text}");
    assert!(text.contains("slowlog-max-len = 7"), "{text}");
    assert!(
        !text.contains("timeout"),
        "defaults are not spelled out: {text}"
    );
    drop(c);
    kiwi.terminate();

    let kiwi = Kiwi::start_in(&data, &["-c", &file_arg]);
    let mut c = kiwi.client();
    assert_eq!(
        show(&c.call(&["CONFIG", "GET", "maxclients"])),
        r#"["maxclients", "123"]"#
    );
    let plain = Kiwi::start();
    assert_eq!(
        show(&plain.client().call(&["CONFIG", "REWRITE"])),
        "-ERR The server is running without a config file"
    );
}

/// LATENCY's replies while nothing was recorded are Redis's, byte for
/// byte; with a threshold set, a slow command becomes a `command` sample.
#[test]
fn latency_monitor_like_redis() {
    let scenarios = [(
        "idle latency monitor",
        vec![
            "LATENCY LATEST",
            "LATENCY HISTORY command",
            "LATENCY RESET",
            "LATENCY RESET command fast-command",
            "LATENCY DOCTOR",
            // (HELP differs: GRAPH and HISTOGRAM are not implemented.)
            "LATENCY NOPE",
            "LATENCY LATEST extra",
            "CONFIG SET latency-monitor-threshold 100000",
            "LATENCY DOCTOR",
            "CONFIG GET latency-monitor-threshold",
            "CONFIG SET latency-monitor-threshold 0",
        ],
    )];
    common::scenarios_match_redis(&scenarios, replies_to);

    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    c.call(&["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    // 20 000 keys in one MSET: far more than a millisecond of RocksDB writes.
    let mut mset = vec!["MSET".to_string()];
    for i in 0..20_000 {
        mset.push(format!("key:{i}"));
        mset.push("v".into());
    }
    assert_eq!(c.call(&mset), Frame::ok());
    let Frame::Array(latest) = c.call(&["LATENCY", "LATEST"]) else {
        panic!("LATENCY LATEST is an array");
    };
    let events: Vec<String> = latest.iter().map(show).collect();
    assert!(
        events.iter().any(|e| e.starts_with(r#"["command", :"#)),
        "{events:?}"
    );
    let Frame::Array(history) = c.call(&["LATENCY", "HISTORY", "command"]) else {
        panic!("LATENCY HISTORY is an array");
    };
    assert!(!history.is_empty());
    assert_eq!(c.call(&["LATENCY", "RESET"]), Frame::Integer(1));
    assert_eq!(c.call(&["LATENCY", "LATEST"]), Frame::Array(vec![]));
}

/// MEMORY USAGE: nil for a missing key and Redis's errors (differential);
/// the estimate grows with the value and with a collection's size.
#[test]
fn memory_usage_like_redis() {
    let scenarios = [(
        "memory usage errors",
        vec![
            "SET s hello",
            "MEMORY USAGE nope",
            "MEMORY USAGE s SAMPLES -1",
            "MEMORY USAGE s SAMPLES x",
            "MEMORY USAGE s foo",
            "MEMORY USAGE",
            "MEMORY NOPE",
            "MEMORY PURGE",
            // DEBUG is off in Redis 7's default configuration, and in Kiwi.
            "DEBUG SLEEP 0",
            "DEBUG",
        ],
    )];
    common::scenarios_match_redis(&scenarios, replies_to);

    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let usage = |c: &mut RespClient, args: &[&str]| match c.call(args) {
        Frame::Integer(n) => n,
        other => panic!("{args:?}: {}", show(&other)),
    };
    c.call(&["SET", "small", "x"]);
    c.call(&["SET", "big", &"x".repeat(10_000)]);
    let small = usage(&mut c, &["MEMORY", "USAGE", "small"]);
    let big = usage(&mut c, &["MEMORY", "USAGE", "big"]);
    assert!(small > 0 && big > small + 9_000, "{small} {big}");
    for i in 0..1_000 {
        c.call(&["HSET", "h", &format!("field:{i}"), "value"]);
    }
    let all = usage(&mut c, &["MEMORY", "USAGE", "h", "SAMPLES", "0"]);
    let sampled = usage(&mut c, &["MEMORY", "USAGE", "h"]);
    assert!(all > 1_000 * 10, "{all}");
    assert!(sampled > all / 2 && sampled < all * 2, "{sampled} vs {all}");
}

/// MONITOR shows what other clients run, as Redis does: the same lines
/// once the timestamp and client address are set aside (db, quoting,
/// redacted passwords, admin commands left out), in order.
#[test]
fn monitor_streams_commands_like_redis() {
    let steps: Vec<Vec<&'static str>> = vec![
        vec!["SET", "a", "1"],
        vec!["GET", "a"],
        vec!["CONFIG", "SET", "maxclients", "1000"],
        vec!["CLIENT", "LIST"],
        vec!["SELECT", "2"],
        vec!["SET", "b", "x y\n\"q\"\u{1}"],
        vec!["MULTI"],
        vec!["INCR", "c"],
        vec!["EXEC"],
        vec!["AUTH", "nobody", "wrong"],
        vec!["HELLO", "2", "AUTH", "default", "wrong"],
        vec!["NOSUCHCOMMAND", "x"],
        vec!["GET"],
        vec!["ECHO", "done"],
    ];
    let scenarios = [("monitor", steps)];
    common::scenarios_match_redis(&scenarios, |port, steps| {
        let mut monitor = RespClient::connect(port);
        assert_eq!(monitor.call(&["MONITOR"]), Frame::ok());
        let mut c = RespClient::connect(port);
        for s in steps {
            c.call(s);
        }
        let mut lines = Vec::new();
        loop {
            let Some(Frame::Simple(line)) = monitor.read_frame() else {
                panic!("MONITOR sends status lines");
            };
            let line = String::from_utf8_lossy(&line).into_owned();
            // `<secs>.<micros> [<db> <addr>] args`: keep the db and args.
            let (stamp, rest) = line.split_once(" [").expect("timestamp");
            assert!(
                stamp.split_once('.').is_some_and(|(_, us)| us.len() == 6),
                "{line}"
            );
            let (db, rest) = rest.split_once(' ').expect("db");
            let (_addr, args) = rest.split_once("] ").expect("address");
            lines.push(format!("[{db}] {args}"));
            if args == r#""ECHO" "done""# || args == r#""echo" "done""# {
                break;
            }
        }
        lines
    });
}

/// WAIT on a server without replicas answers as Redis does: 0, at once
/// when no replica is wanted, after the timeout otherwise, and at once
/// inside MULTI; its errors are Redis's.
#[test]
fn wait_without_replicas_like_redis() {
    let scenarios = [(
        "wait",
        vec![
            "SET k v",
            "WAIT 0 0",
            "WAIT 1 50",
            "WAIT -1 0",
            "WAIT x 0",
            "WAIT 1 x",
            "WAIT 1 -1",
            "MULTI",
            "WAIT 5 0",
            "EXEC",
        ],
    )];
    common::scenarios_match_redis(&scenarios, replies_to);
}

/// Every field of Redis 7.0's default INFO sections is in Kiwi's INFO, in
/// the same section and the same order (tools parse them by name); Kiwi's
/// own fields come after Redis's.
#[test]
fn info_has_every_redis_field_in_order() {
    let fields = |port: u16| -> Vec<(String, Vec<String>)> {
        let Frame::Bulk(info) = RespClient::connect(port).call(&["INFO"]) else {
            panic!("INFO is a bulk string in RESP2");
        };
        let mut sections: Vec<(String, Vec<String>)> = Vec::new();
        for line in String::from_utf8_lossy(&info).split("\r\n") {
            if let Some(title) = line.strip_prefix("# ") {
                sections.push((title.to_string(), Vec::new()));
            } else if let (Some((name, _)), Some(last)) =
                (line.split_once(':'), sections.last_mut())
            {
                // Database and error lines depend on the data, not the server.
                if !last.0.eq("Keyspace") && !last.0.eq("Errorstats") {
                    last.1.push(name.to_string());
                }
            }
        }
        sections
    };
    let redis = common::Redis::start();
    let kiwi = Kiwi::start();
    let (want, got) = (fields(redis.port), fields(kiwi.port));
    let titles = |s: &[(String, Vec<String>)]| s.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(titles(&got), titles(&want), "sections");
    for ((title, want), (_, got)) in want.iter().zip(&got) {
        assert_eq!(
            &got[..want.len().min(got.len())],
            &want[..],
            "section {title}"
        );
    }
}

/// CLIENT REPLY OFF / SKIP / ON decide which replies the client gets, as in
/// Redis: the same pipelined script gets the same replies from both.
#[test]
fn client_reply_like_redis() {
    let script: Vec<Vec<&'static str>> = vec![
        vec!["SET", "a", "1"],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["INCR", "a"],
        vec!["GET", "a"],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["INCR", "a"],
        vec!["NOSUCH"],
        vec!["GET", "a"],
        vec!["CLIENT", "REPLY", "ON"],
        vec!["GET", "a"],
        vec!["CLIENT", "REPLY", "MAYBE"],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["RESET"],
        vec!["GET", "a"],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["PING"],
        // A silenced command that blocks, then times out, stays silent.
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["BLPOP", "nokey", "0.05"],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["BLPOP", "nokey", "0.05"],
        vec!["WAIT", "1", "10"],
        vec!["CLIENT", "REPLY", "ON"],
        vec!["ECHO", "last"],
    ];
    let scenarios = [("client reply", script)];
    common::scenarios_match_redis(&scenarios, |port, script| {
        let mut c = RespClient::connect(port);
        // One pipelined write: replies must come out exactly as silenced.
        let mut bytes = Vec::new();
        for cmd in script {
            bytes.extend(RespClient::encode(cmd));
        }
        c.send_raw(&bytes);
        let mut replies = Vec::new();
        loop {
            let frame = c.read_frame().expect("reply");
            let shown = show(&frame);
            replies.push(shown.clone());
            if shown == r#""last""# {
                break;
            }
        }
        replies
    });
}

/// Runs each step (arguments split on spaces) on one connection and
/// returns `step: reply` lines, for [`common::scenarios_match_redis`].
fn replies_to(port: u16, steps: &Vec<&'static str>) -> Vec<String> {
    let mut c = RespClient::connect(port);
    steps
        .iter()
        .map(|s| {
            let args: Vec<&str> = s.split(' ').collect();
            format!("{s}: {}", show(&c.call(&args)))
        })
        .collect()
}

#[test]
fn bgsave_takes_an_online_backup_that_a_new_server_restores() {
    // The replies match Redis's.
    let redis = common::Redis::start();
    let script: &[&[&str]] = &[
        &["SET", "before", "1"],
        &["SAVE"],
        &["BGSAVE", "NOW"],
        &["MULTI"],
        &["SAVE"],
        &["EXEC"],
        &["BGSAVE"],
    ];
    let data = tempfile::tempdir().expect("tempdir");
    let kiwi = Kiwi::start_in(data.path(), &[]);
    let (mut k, mut r) = (kiwi.client(), redis.client());
    let lastsave_before = match k.call(&["LASTSAVE"]) {
        Frame::Integer(s) => s,
        other => panic!("LASTSAVE replied {other:?}"),
    };
    for cmd in script {
        assert_eq!(show(&k.call(cmd)), show(&r.call(cmd)), "{cmd:?}");
    }
    assert!(matches!(k.call(&["LASTSAVE"]), Frame::Integer(s) if s >= lastsave_before));
    let info = match k.call(&["INFO", "persistence"]) {
        Frame::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO replied {other:?}"),
    };
    for line in [
        "rdb_saves:2",
        "rdb_changes_since_last_save:0",
        "rdb_last_bgsave_status:ok",
    ] {
        assert!(info.contains(line), "no {line} in {info}");
    }
    // Written after the backup: not in it.
    assert_eq!(k.call(&["SET", "after", "2"]), Frame::ok());
    // While the server keeps serving, a copy of `dir/backup` is a data
    // directory a second server starts on.
    let copy = tempfile::tempdir().expect("tempdir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(data.path().join("backup"))
        .arg(copy.path().join("restored"))
        .status()
        .expect("cp");
    assert!(status.success());
    let restored = Kiwi::start_in(&copy.path().join("restored"), &[]);
    let mut c = restored.client();
    assert_eq!(c.call(&["GET", "before"]), bulk("1"));
    assert_eq!(c.call(&["GET", "after"]), Frame::Null);
    assert_eq!(k.call(&["GET", "after"]), bulk("2"));
}

/// SHUTDOWN's argument errors are Redis's; then it stops the server the
/// way SIGTERM does: no reply, the connection closes, the process exits
/// with 0, and what was written is there after a restart.
#[test]
fn shutdown_stops_the_server_gracefully() {
    let redis = common::Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let kiwi = Kiwi::start_in(dir.path(), &[]);
    let mut c = kiwi.client();
    let mut r = redis.client();
    for call in [
        &["SHUTDOWN", "ABORT"][..],
        &["SHUTDOWN", "BOGUS"],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "ABORT", "NOW"],
    ] {
        assert_eq!(c.call(call), r.call(call), "{call:?}");
    }
    for conn in [&mut c, &mut r] {
        assert_eq!(conn.call(&["MULTI"]), Frame::ok());
        assert_eq!(
            conn.call(&["SHUTDOWN"]),
            Frame::error("ERR Command not allowed inside a transaction")
        );
        assert_eq!(conn.call(&["DISCARD"]), Frame::ok());
    }
    assert_eq!(c.call(&["SET", "k", "v"]), Frame::ok());
    c.set_read_timeout(Some(Duration::from_secs(10)));
    c.send_raw(&RespClient::encode(&["SHUTDOWN", "NOW"]));
    assert_eq!(c.read_frame(), None, "SHUTDOWN has no reply");
    let status = kiwi.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SHUTDOWN: {status:?}"
    );

    let kiwi = Kiwi::start_in(dir.path(), &[]);
    assert_eq!(kiwi.client().call(&["GET", "k"]), bulk("v"));
}
