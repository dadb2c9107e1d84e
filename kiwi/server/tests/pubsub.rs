//! Pub/sub against a real kiwi-server: two-client scenarios replayed on a
//! real redis-server with every frame compared (RESP2 subscribed mode,
//! RESP3 push messages interleaved with replies, patterns, PUBSUB
//! introspection), and a subscriber that stops reading is disconnected at
//! its output-buffer limit while everyone else carries on.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::time::{Duration, Instant};

use common::{scenarios_match_redis, show, Kiwi, RespClient};
use kiwi_resp::Frame;

enum Step {
    /// Send a command and read one frame.
    Call(usize, &'static str),
    /// Read one more frame (further replies, pushed messages).
    Read(usize),
}
use Step::{Call, Read};

fn play(port: u16, steps: &[Step]) -> Vec<String> {
    let mut clients = [RespClient::connect(port), RespClient::connect(port)];
    let mut transcript = Vec::new();
    for step in steps {
        let (who, what, mut frame) = match step {
            Call(who, cmd) => {
                let args: Vec<&str> = cmd.split(' ').collect();
                (*who, cmd.to_string(), clients[*who].call(&args))
            }
            Read(who) => (
                *who,
                "(read)".to_string(),
                clients[*who].read_frame().expect("connection closed"),
            ),
        };
        match &mut frame {
            // HELLO: client ids differ between the two servers.
            Frame::Map(fields) => fields.retain(|(k, _)| k != &Frame::Bulk("id".into())),
            // Active channels come in hash-table order in Redis.
            Frame::Array(items) if what.starts_with("PUBSUB CHANNELS") => items.sort_by_key(show),
            _ => {}
        }
        let kind = match &frame {
            Frame::Push(_) => "push ",
            _ => "",
        };
        transcript.push(format!("{who}> {what}\n{kind}{}", show(&frame)));
    }
    transcript
}

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "RESP2: subscribed mode, channels and patterns",
            vec![
                Call(0, "SUBSCRIBE news.a news.b"),
                Read(0),
                Call(1, "PUBLISH news.a hello"),
                Read(0),
                Call(0, "PSUBSCRIBE news.*"),
                Call(1, "PUBLISH news.a again"),
                Read(0),
                Read(0),
                Call(1, "PUBLISH other nobody"),
                Call(0, "GET x"),
                Call(0, "PING"),
                Call(0, "PING hi"),
                Call(1, "PUBSUB CHANNELS"),
                Call(1, "PUBSUB CHANNELS *.a"),
                Call(1, "PUBSUB NUMSUB news.a news.c"),
                Call(1, "PUBSUB NUMPAT"),
                Call(1, "PUBSUB NOPE"),
                Call(1, "PUBSUB NUMPAT x"),
                Call(0, "SUBSCRIBE news.a"),
                Call(0, "UNSUBSCRIBE news.a"),
                Call(0, "UNSUBSCRIBE"),
                Call(0, "PUNSUBSCRIBE"),
                Call(0, "GET x"),
                Call(0, "UNSUBSCRIBE"),
                Call(0, "PUNSUBSCRIBE nothing"),
                Call(1, "PUBSUB NUMPAT"),
            ],
        ),
        (
            "RESP3: pushes interleave with ordinary replies",
            vec![
                Call(0, "HELLO 3"),
                Call(0, "SUBSCRIBE ch"),
                Call(0, "SET k v"),
                Call(1, "PUBLISH ch m1"),
                Read(0),
                Call(0, "GET k"),
                Call(0, "PING"),
                Call(0, "UNSUBSCRIBE ch"),
                Call(1, "PUBLISH ch m2"),
                Call(0, "PING"),
            ],
        ),
        (
            "PUBLISH inside MULTI, RESET leaves subscribed mode",
            vec![
                Call(1, "SUBSCRIBE c"),
                Call(0, "MULTI"),
                Call(0, "PUBLISH c x"),
                Call(0, "EXEC"),
                Read(1),
                Call(1, "RESET"),
                Call(1, "GET k"),
                Call(0, "PUBLISH c y"),
                Call(0, "PUBSUB NUMSUB c"),
            ],
        ),
    ]
}

#[test]
fn pubsub_replies_like_redis() {
    scenarios_match_redis(&scenarios(), |port, steps| play(port, steps));
}

/// A subscriber that never reads is disconnected once its undelivered
/// messages pass the pubsub output-buffer limit; a reading subscriber gets
/// every message and the publisher is never slowed down.
#[test]
fn a_slow_subscriber_is_disconnected_at_its_output_limit() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    assert_eq!(
        admin.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 512kb 60"
        ]),
        Frame::ok()
    );
    let mut slow = kiwi.client();
    slow.call(&["SUBSCRIBE", "firehose"]);
    let mut fast = kiwi.client();
    fast.call(&["SUBSCRIBE", "firehose"]);
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        while got < 200 {
            match fast.read_frame() {
                Some(Frame::Array(parts)) if parts.len() == 3 => got += 1,
                other => panic!("reader got {other:?}"),
            }
        }
        (got, fast)
    });
    let payload = "x".repeat(100 * 1024);
    let mut publisher = kiwi.client();
    let started = Instant::now();
    let mut receivers = Vec::new();
    for _ in 0..200 {
        match publisher.call(&["PUBLISH", "firehose", &payload]) {
            Frame::Integer(n) => receivers.push(n),
            other => panic!("PUBLISH: {}", show(&other)),
        }
    }
    // 20 MB published; the slow subscriber could hold only ~1 MB queued
    // (plus what the sockets buffer), then dropped out of the count.
    assert_eq!(receivers[0], 2);
    assert_eq!(
        *receivers.last().unwrap(),
        1,
        "the slow subscriber is still counted"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let (got, _fast) = reader.join().unwrap();
    assert_eq!(got, 200);
    // Its connection is closed (after whatever was already in flight).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match slow.read_frame() {
            None => break,
            Some(_) => assert!(Instant::now() < deadline, "slow subscriber still connected"),
        }
    }
    assert_eq!(
        admin.call(&["PUBSUB", "NUMSUB", "firehose"]),
        Frame::Array(vec![Frame::bulk("firehose"), Frame::Integer(1)])
    );
    assert_eq!(admin.call(&["PING"]), Frame::simple("PONG"));
}

/// `timeout` closes idle clients but not subscribers (Redis exempts them):
/// they wait for messages, not for their own requests.
#[test]
fn idle_timeout_spares_subscribers() {
    let kiwi = Kiwi::start();
    let mut admin = kiwi.client();
    assert_eq!(admin.call(&["CONFIG", "SET", "timeout", "1"]), Frame::ok());
    let mut idle = kiwi.client();
    assert_eq!(idle.call(&["PING"]), Frame::simple("PONG"));
    let mut subscriber = kiwi.client();
    subscriber.call(&["SUBSCRIBE", "c"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        idle.is_closed(),
        "an idle client is closed after the timeout"
    );
    let mut publisher = kiwi.client();
    assert_eq!(
        publisher.call(&["PUBLISH", "c", "still here"]),
        Frame::Integer(1)
    );
    assert_eq!(
        subscriber.read_frame(),
        Some(Frame::Array(vec![
            Frame::bulk("message"),
            Frame::bulk("c"),
            Frame::bulk("still here")
        ]))
    );
}
