//! Blocking commands against a real kiwi-server: wake-ups, fairness,
//! timeouts, disconnects while blocked, chained BLMOVE, pipelining.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{show, Kiwi, RespClient};
use kiwi_resp::Frame;

/// Sends a command without waiting for its reply.
fn send(c: &mut RespClient, args: &[&str]) {
    c.send_raw(&RespClient::encode(args));
}

/// Waits until INFO reports `n` blocked clients (so wake-up order is known).
fn wait_blocked(admin: &mut RespClient, n: u64) {
    let want = format!("blocked_clients:{n}\r\n");
    for _ in 0..500 {
        if let Frame::Bulk(info) = admin.call(&["INFO", "clients"]) {
            if String::from_utf8_lossy(&info).contains(&want) {
                return;
            }
        }
        sleep(Duration::from_millis(10));
    }
    panic!("never saw {want:?}");
}

fn s(f: &Frame) -> String {
    show(f)
}

#[test]
fn blpop_wakes_up_on_push_and_serves_first_blocked_first() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut a = kiwi.client();
    let mut b = kiwi.client();
    send(&mut a, &["BLPOP", "q", "other", "0"]);
    wait_blocked(&mut admin, 1);
    send(&mut b, &["BLPOP", "q", "0"]);
    wait_blocked(&mut admin, 2);

    // RPUSH reports the length before the blocked clients pop.
    assert_eq!(admin.call(&["RPUSH", "q", "one"]), Frame::Integer(1));
    assert_eq!(s(&a.read_frame().unwrap()), r#"["q", "one"]"#);
    assert_eq!(admin.call(&["LLEN", "q"]), Frame::Integer(0));
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.call(&["RPUSH", "q", "two", "three"]),
        Frame::Integer(2)
    );
    assert_eq!(s(&b.read_frame().unwrap()), r#"["q", "two"]"#);
    assert_eq!(s(&admin.call(&["LRANGE", "q", "0", "-1"])), r#"["three"]"#);
    wait_blocked(&mut admin, 0);
}

#[test]
fn timeouts_answer_null_after_the_wait() {
    let kiwi = Kiwi::start();
    let mut c = kiwi.client();
    let started = Instant::now();
    assert_eq!(c.call(&["BLPOP", "none", "0.2"]), Frame::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        c.call(&["BLMOVE", "none", "d", "LEFT", "RIGHT", "0.05"]),
        Frame::NullArray
    );
    assert_eq!(c.call(&["BZPOPMIN", "none", "0.05"]), Frame::NullArray);
    assert_eq!(
        c.call(&["BLMPOP", "0.05", "1", "none", "LEFT"]),
        Frame::NullArray
    );
    assert_eq!(
        s(&c.call(&["BLPOP", "none", "-1"])),
        "-ERR timeout is negative"
    );
    assert_eq!(
        s(&c.call(&["BLPOP", "none", "soon"])),
        "-ERR timeout is not a float or out of range"
    );
    // The connection still works and nothing was left blocked.
    assert_eq!(c.call(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn a_client_that_disconnects_while_blocked_never_takes_an_element() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut gone = kiwi.client();
    send(&mut gone, &["BLPOP", "q", "0"]);
    wait_blocked(&mut admin, 1);
    drop(gone);
    let mut b = kiwi.client();
    send(&mut b, &["BRPOP", "q", "0"]);
    // The dead client is dropped from the queue once its connection notices.
    wait_blocked(&mut admin, 1);
    admin.call(&["RPUSH", "q", "x"]);
    assert_eq!(s(&b.read_frame().unwrap()), r#"["q", "x"]"#);
    assert_eq!(admin.call(&["EXISTS", "q"]), Frame::Integer(0));
}

#[test]
fn blmove_chains_wake_ups_and_zsets_wake_bzpopmin() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut mover = kiwi.client();
    let mut tail = kiwi.client();
    let mut z = kiwi.client();
    send(&mut mover, &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    send(&mut tail, &["BLPOP", "dst", "0"]);
    send(&mut z, &["BZPOPMAX", "zs", "0"]);
    wait_blocked(&mut admin, 3);
    admin.call(&["LPUSH", "src", "v"]);
    assert_eq!(s(&mover.read_frame().unwrap()), r#""v""#);
    assert_eq!(s(&tail.read_frame().unwrap()), r#"["dst", "v"]"#);
    admin.call(&["ZADD", "zs", "1", "a", "2", "b"]);
    assert_eq!(s(&z.read_frame().unwrap()), r#"["zs", "b", "2"]"#);
    assert_eq!(admin.call(&["ZCARD", "zs"]), Frame::Integer(1));
}

#[test]
fn a_key_of_another_type_keeps_the_client_blocked() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut c = kiwi.client();
    send(&mut c, &["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    admin.call(&["SET", "k", "string"]);
    admin.call(&["DEL", "k"]);
    wait_blocked(&mut admin, 1);
    admin.call(&["RPUSH", "k", "now"]);
    assert_eq!(s(&c.read_frame().unwrap()), r#"["k", "now"]"#);
}

#[test]
fn pipelined_commands_wait_behind_a_blocked_one() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    let mut c = kiwi.client();
    let mut pipeline = RespClient::encode(&["SET", "before", "1"]);
    pipeline.extend(RespClient::encode(&["BLPOP", "q", "0"]));
    pipeline.extend(RespClient::encode(&["GET", "q-seen"]));
    c.send_raw(&pipeline);
    // The reply before the blocking command arrives while it blocks.
    assert_eq!(c.read_frame(), Some(Frame::ok()));
    wait_blocked(&mut admin, 1);
    admin.call(&["SET", "q-seen", "yes"]);
    admin.call(&["RPUSH", "q", "go"]);
    assert_eq!(s(&c.read_frame().unwrap()), r#"["q", "go"]"#);
    assert_eq!(s(&c.read_frame().unwrap()), r#""yes""#);
}
