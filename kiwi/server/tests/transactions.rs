//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against a real kiwi-server:
//! scripted two-client scenarios replayed on a real redis-server with every
//! reply compared, a WATCH-based compare-and-set race between many clients,
//! and a checker that no client ever sees half a transaction.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::{
    check_transaction_atomicity, check_watch_compare_and_set, scenarios_match_redis, show, Kiwi,
    RespClient,
};
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
    scenarios_match_redis(&scenarios(), |port, steps| play(port, steps));
}

/// Optimistic increments from many clients at once (see
/// [`common::check_watch_compare_and_set`]).
#[test]
fn watch_makes_compare_and_set_safe_under_contention() {
    let kiwi = Kiwi::start();
    check_watch_compare_and_set(&[kiwi.port], 8, 50);
}

/// Writers set five keys to one value per transaction (and push it on two
/// lists); readers check with single commands and with read-only
/// transactions that all five always agree and the lists stay equal.
#[test]
fn no_client_ever_sees_half_a_transaction() {
    let kiwi = Kiwi::start();
    check_transaction_atomicity(&[kiwi.port], Duration::from_secs(3));
}
