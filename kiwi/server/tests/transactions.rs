//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against a real kiwi-server:
//! scripted two-client scenarios replayed on a real redis-server with every
//! reply compared, a WATCH-based compare-and-set race between many clients,
//! and a checker that no client ever sees half a transaction.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{show, Kiwi, Redis, RespClient};
use kiwi_resp::Frame;

/// One step of a scenario: which client sends what, or a pause.
enum Step {
    Call(usize, &'static str),
    SleepMs(u64),
}
use Step::{Call, SleepMs};

fn a(cmd: &'static str) -> Step {
    Call(0, cmd)
}
fn b(cmd: &'static str) -> Step {
    Call(1, cmd)
}

/// Runs `steps` with two fresh clients; returns a transcript of replies.
fn play(port: u16, steps: &[Step]) -> Vec<String> {
    let mut clients = [RespClient::connect(port), RespClient::connect(port)];
    clients[0].call(&["FLUSHALL"]);
    let mut transcript = Vec::new();
    for step in steps {
        match step {
            Call(who, cmd) => {
                let args: Vec<&str> = cmd.split(' ').collect();
                let mut reply = clients[*who].call(&args);
                if let Frame::Map(fields) = &mut reply {
                    // HELLO: client ids differ between the two servers.
                    fields.retain(|(k, _)| k != &Frame::Bulk("id".into()));
                }
                transcript.push(format!("{who}> {cmd}\n{}", show(&reply)));
            }
            SleepMs(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
    }
    transcript
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "queueing, EXECABORT and misuse errors",
            vec![
                a("EXEC"),
                a("DISCARD"),
                a("MULTI"),
                a("MULTI"),
                a("SET a 1"),
                a("NOSUCHCOMMAND x"),
                a("GET"),
                a("EXEC"),
                a("GET a"),
                a("MULTI"),
                a("WATCH a"),
                a("SET a 2"),
                a("EXEC"),
                a("WATCH"),
                a("UNWATCH x"),
                a("MULTI"),
                a("EXEC"),
            ],
        ),
        (
            "runtime errors stay per command; connection commands are queued",
            vec![
                a("MULTI"),
                a("SET a 1"),
                a("LPUSH a x"),
                a("INCR a"),
                a("PING"),
                a("ECHO hi"),
                a("SELECT 1"),
                a("SET b 1"),
                a("BLPOP nolist 0"),
                a("EXEC"),
                a("GET b"),
                a("SELECT 0"),
                a("GET b"),
                a("MULTI"),
                a("SET c 1"),
                a("DISCARD"),
                a("GET c"),
                a("MULTI"),
                a("SET c 1"),
                a("RESET"),
                a("EXEC"),
                a("GET c"),
            ],
        ),
        (
            "RESP3 inside and around EXEC",
            vec![
                a("HELLO 3"),
                a("RPUSH l x y"),
                a("HSET h f v"),
                a("MULTI"),
                a("HGETALL h"),
                a("LRANGE l 0 -1"),
                a("GET nokey"),
                a("EXEC"),
                a("WATCH l"),
                b("RPUSH l z"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
            ],
        ),
        (
            "a write by anyone to a watched key fails EXEC",
            vec![
                a("SET x 30"),
                a("SET y 1"),
                a("WATCH x y z"),
                b("SET z 1"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                // The failed EXEC unwatched everything.
                b("SET x 40"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                // Our own write counts too, and so does rewriting the same value.
                a("WATCH x"),
                a("SET x 40"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                // Element writes, deletes, renames.
                a("HSET h f 1"),
                a("WATCH h"),
                b("HSET h f 2"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                b("DEL x"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                b("DEL x"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SET s 1"),
                a("WATCH t"),
                b("RENAME s t"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
            ],
        ),
        (
            "EXEC, DISCARD and UNWATCH forget watched keys",
            vec![
                a("WATCH x"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                b("SET x 1"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                a("UNWATCH"),
                b("SET x 2"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                a("MULTI"),
                a("DISCARD"),
                b("SET x 3"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                a("MULTI"),
                a("UNWATCH"),
                b("SET x 4"),
                a("EXEC"),
            ],
        ),
        (
            "FLUSHALL, FLUSHDB and SWAPDB touch watched keys that exist",
            vec![
                a("SET x 30"),
                a("WATCH x"),
                b("FLUSHALL"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                b("FLUSHALL"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SET x 30"),
                a("WATCH x"),
                b("FLUSHDB"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SELECT 1"),
                a("SET x 1"),
                a("SELECT 0"),
                a("WATCH x"),
                b("SWAPDB 0 1"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH nothing"),
                b("SWAPDB 0 1"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("WATCH x"),
                b("FLUSHDB ASYNC"),
                b("SELECT 2"),
                b("FLUSHDB"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
            ],
        ),
        (
            "expiry: a key that expires after WATCH fails EXEC, one already expired does not",
            vec![
                a("SET x foo PX 100"),
                a("WATCH x"),
                SleepMs(300),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SET y foo PX 5"),
                SleepMs(50),
                a("WATCH y"),
                b("GET y"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SET z foo PX 5"),
                SleepMs(50),
                a("WATCH z"),
                b("FLUSHDB"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
                a("SET w foo PX 5"),
                SleepMs(50),
                a("WATCH w"),
                b("SET w bar"),
                a("MULTI"),
                a("PING"),
                a("EXEC"),
            ],
        ),
    ]
}

#[test]
fn transactions_reply_like_redis() {
    let kiwi = Kiwi::start();
    let redis = Redis::start();
    for (name, steps) in scenarios() {
        let want = play(redis.port, &steps);
        let got = play(kiwi.port, &steps);
        assert_eq!(
            got.join("\n"),
            want.join("\n"),
            "scenario '{name}' differs from redis-server"
        );
    }
}

/// Optimistic increments (WATCH, GET, MULTI, SET, EXEC, retry on a null
/// EXEC) from many clients at once: the counter ends at exactly the number
/// of increments, which only holds if every conflicting EXEC failed.
#[test]
fn watch_makes_compare_and_set_safe_under_contention() {
    let kiwi = Kiwi::start();
    const CLIENTS: usize = 8;
    const INCREMENTS: usize = 50;
    let port = kiwi.port;
    let retries: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                s.spawn(move || {
                    let mut c = RespClient::connect(port);
                    let mut retries = 0;
                    for _ in 0..INCREMENTS {
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
    let mut c = kiwi.client();
    assert_eq!(
        c.call(&["GET", "counter"]),
        Frame::Bulk((CLIENTS * INCREMENTS).to_string().into())
    );
    // With this much contention some EXECs must have lost a race; if none
    // did, the test exercised nothing.
    assert!(retries > 0, "no EXEC ever conflicted");
}

/// Writers set five keys to one value per transaction (and push it on two
/// lists); readers check with single commands and with read-only
/// transactions that all five always agree and the lists stay equal.
#[test]
fn no_client_ever_sees_half_a_transaction() {
    let kiwi = Kiwi::start();
    check_atomicity(&[kiwi.port], Duration::from_secs(3));
}

pub fn check_atomicity(ports: &[u16], run_for: Duration) {
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
