//! Keyspace notifications against a real redis-server: every scenario sets
//! `notify-keyspace-events`, runs commands on one connection and records,
//! after each command, every message a second connection subscribed to
//! `__key*__:*` received. Kiwi's transcript must equal Redis's: the same
//! events, channels, keys and order, command by command.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::{scenarios_match_redis, show, Kiwi, RespClient};
use kiwi_resp::Frame;

enum Step {
    /// Run a command (arguments split on spaces).
    Cmd(&'static str),
    /// Let time pass (TTLs run out).
    Sleep(u64),
}
use Step::{Cmd, Sleep};

struct Scenario {
    flags: &'static str,
    steps: Vec<Step>,
}

/// A message the subscriber got: `channel payload`.
fn message(frame: &Frame) -> Option<(String, String)> {
    let Frame::Array(parts) = frame else {
        return None;
    };
    let text = |f: &Frame| match f {
        Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => show(other),
    };
    match parts.as_slice() {
        [kind, _pattern, channel, payload] if text(kind) == "pmessage" => {
            Some((text(channel), text(payload)))
        }
        [kind, channel, payload] if text(kind) == "message" => Some((text(channel), text(payload))),
        _ => None,
    }
}

fn play(port: u16, scenario: &Scenario) -> Vec<String> {
    let mut client = RespClient::connect(port);
    let mut sub = RespClient::connect(port);
    let mut marker = RespClient::connect(port);
    client.call(&["FLUSHALL"]);
    let set = client.call(&["CONFIG", "SET", "notify-keyspace-events", scenario.flags]);
    let mut transcript = vec![format!("flags {} -> {}", scenario.flags, show(&set))];
    let shown = client.call(&["CONFIG", "GET", "notify-keyspace-events"]);
    transcript.push(format!("config get -> {}", show(&shown)));
    sub.call(&["PSUBSCRIBE", "__key*__:*"]);
    sub.call(&["SUBSCRIBE", "done"]);
    for step in &scenario.steps {
        let cmd = match step {
            Cmd(cmd) => cmd,
            Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
        };
        let args: Vec<&str> = cmd.split(' ').collect();
        let reply = client.call(&args);
        transcript.push(format!("> {cmd}: {}", show(&reply)));
        // Everything the command published arrives before this marker,
        // sent on its own connection (the client's may be inside MULTI).
        marker.call(&["PUBLISH", "done", "x"]);
        loop {
            let frame = sub.read_frame().expect("subscriber closed");
            match message(&frame) {
                Some((channel, _)) if channel == "done" => break,
                Some((channel, payload)) => transcript.push(format!("    {channel} {payload}")),
                None => transcript.push(format!("    (unexpected) {}", show(&frame))),
            }
        }
    }
    client.call(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    transcript
}

fn scenarios() -> Vec<(&'static str, Scenario)> {
    let all = |steps| Scenario {
        flags: "KEA",
        steps,
    };
    vec![
        (
            "strings",
            all(vec![
                Cmd("SET a 1"),
                Cmd("SET a 2 EX 100"),
                Cmd("SET b 1 KEEPTTL"),
                Cmd("SET a 3 NX"),
                Cmd("SET a 4 XX GET"),
                Cmd("SET zz 9 XX"),
                Cmd("SETEX c 10 v"),
                Cmd("PSETEX p 100000 v"),
                Cmd("SETNX a 1"),
                Cmd("SETNX n 1"),
                Cmd("MSET d 1 e 2 d 3"),
                Cmd("MSETNX f 1 g 2"),
                Cmd("MSETNX f 1 h 2"),
                Cmd("GETSET a 5"),
                Cmd("GETDEL a"),
                Cmd("GETDEL a"),
                Cmd("INCR i"),
                Cmd("DECRBY i 3"),
                Cmd("INCRBYFLOAT i 1.5"),
                Cmd("APPEND i x"),
                Cmd("SETRANGE i 0 y"),
                Cmd("SETRANGE s2 3 y"),
                Cmd("GETEX b EX 10"),
                Cmd("GETEX b PERSIST"),
                Cmd("GETEX b PERSIST"),
                Cmd("GETEX b PXAT 1"),
                Cmd("GET b"),
                Cmd("SET x 1"),
                Cmd("INCR x"),
                Cmd("INCR e"),
            ]),
        ),
        (
            "generic",
            all(vec![
                Cmd("SET a 1"),
                Cmd("SET b 1"),
                Cmd("DEL a b zz"),
                Cmd("SET a 1"),
                Cmd("UNLINK a nope"),
                Cmd("SET a 1"),
                Cmd("EXPIRE a 100"),
                Cmd("PEXPIRE a 100000"),
                Cmd("EXPIREAT a 99999999999"),
                Cmd("EXPIRE a 100 NX"),
                Cmd("EXPIRE nope 100"),
                Cmd("PERSIST a"),
                Cmd("PERSIST a"),
                Cmd("MOVE a 1"),
                Cmd("SET a 1"),
                Cmd("MOVE a 1"),
                Cmd("COPY a c"),
                Cmd("COPY a c"),
                Cmd("COPY a c REPLACE"),
                Cmd("COPY a c DB 2"),
                Cmd("RENAME a r"),
                Cmd("RENAME r r"),
                Cmd("RENAME r c"),
                Cmd("RENAMENX c r"),
                Cmd("SET s 1"),
                Cmd("RENAMENX c s"),
                Cmd("RENAME nope x"),
                Cmd("PEXPIRE c -1"),
                Cmd("SWAPDB 0 1"),
                Cmd("FLUSHDB"),
                Cmd("FLUSHALL"),
            ]),
        ),
        (
            "lists",
            all(vec![
                Cmd("LPUSH l a b c"),
                Cmd("RPUSHX l d"),
                Cmd("LPUSHX nope a"),
                Cmd("LMOVE l l2 LEFT RIGHT"),
                Cmd("RPOPLPUSH l l2"),
                Cmd("LMOVE l2 l2 LEFT LEFT"),
                Cmd("LINSERT l BEFORE b x"),
                Cmd("LINSERT l BEFORE nope x"),
                Cmd("LSET l 0 y"),
                Cmd("LREM l 0 y"),
                Cmd("LREM l 0 nope"),
                Cmd("LTRIM l 0 5"),
                Cmd("RPUSH l 1 2 3"),
                Cmd("LPOP l"),
                Cmd("RPOP l 2"),
                Cmd("LMPOP 2 nope l LEFT COUNT 10"),
                Cmd("LPOP nope"),
                Cmd("RPUSH t 1 2"),
                Cmd("LTRIM t 5 10"),
                Cmd("RPUSH m 1"),
                Cmd("LMOVE m m2 RIGHT LEFT"),
                Cmd("BLPOP l2 0"),
                Cmd("BRPOP l2 0"),
                Cmd("RPUSH n 3 1 2"),
                Cmd("SORT n STORE ns"),
                Cmd("SORT nope STORE ns"),
                Cmd("SORT nope STORE ns"),
            ]),
        ),
        (
            "hashes and sets",
            all(vec![
                Cmd("HSET h f v"),
                Cmd("HSET h f v"),
                Cmd("HSETNX h f v"),
                Cmd("HSETNX h g v"),
                Cmd("HMSET h a 1 b 2"),
                Cmd("HINCRBY h a 1"),
                Cmd("HINCRBYFLOAT h a 1.5"),
                Cmd("HINCRBY h2 a 1"),
                Cmd("HDEL h f zz"),
                Cmd("HDEL h nope"),
                Cmd("HDEL h g a b"),
                Cmd("SADD s a b"),
                Cmd("SADD s a"),
                Cmd("SREM s zz"),
                Cmd("SMOVE s s2 a"),
                Cmd("SMOVE s s2 a"),
                Cmd("SADD s3 b"),
                Cmd("SMOVE s s3 b"),
                Cmd("SADD s a b c"),
                Cmd("SMOVE s s s"),
                // One member left for each SPOP: its choice is random.
                Cmd("SREM s b c"),
                Cmd("SPOP s"),
                Cmd("SADD s a"),
                Cmd("SPOP s 5"),
                Cmd("SADD s1 x"),
                Cmd("SADD s2 y"),
                Cmd("SINTERSTORE d s1 s2"),
                Cmd("SUNIONSTORE d s1 s2"),
                Cmd("SDIFFSTORE d s1 s2"),
                Cmd("SINTERSTORE d s1 s2"),
                Cmd("SREM s1 x"),
            ]),
        ),
        (
            "sorted sets",
            all(vec![
                Cmd("ZADD z 1 a 2 b 3 c"),
                Cmd("ZADD z 1 a"),
                Cmd("ZADD z GT 0 a"),
                Cmd("ZADD z INCR 1 a"),
                Cmd("ZADD z XX 5 nope"),
                Cmd("ZADD nope XX 5 a"),
                Cmd("ZINCRBY z 2 a"),
                Cmd("ZREM z a nope"),
                Cmd("ZREM z nope"),
                Cmd("ZUNIONSTORE zu 1 z"),
                Cmd("ZINTERSTORE zu 2 z nope"),
                Cmd("ZINTERSTORE zu 2 z nope"),
                Cmd("ZDIFFSTORE zd 1 z"),
                Cmd("ZRANGESTORE zr z 0 -1"),
                Cmd("ZRANGESTORE zr nope 0 -1"),
                Cmd("ZPOPMIN z"),
                Cmd("ZPOPMAX z 5"),
                Cmd("ZPOPMIN z"),
                Cmd("ZADD z 1 a 2 b 3 c 4 d"),
                Cmd("ZREMRANGEBYSCORE z 1 1"),
                Cmd("ZREMRANGEBYSCORE z 100 200"),
                Cmd("ZREMRANGEBYRANK z 0 0"),
                Cmd("ZMPOP 1 z MAX"),
                Cmd("BZPOPMIN z 0"),
                Cmd("ZADD lex 0 a 0 b"),
                Cmd("ZREMRANGEBYLEX lex - +"),
            ]),
        ),
        (
            "bitmaps and hyperloglog",
            all(vec![
                Cmd("SETBIT bits 3 1"),
                Cmd("SETBIT bits 3 1"),
                Cmd("SETBIT bits 3 0"),
                Cmd("SETBIT zero 100 0"),
                Cmd("BITOP AND dest bits bits"),
                Cmd("BITOP AND dest nope"),
                Cmd("BITOP AND dest nope"),
                Cmd("BITFIELD bf SET u8 0 1"),
                Cmd("BITFIELD bf SET u8 0 1"),
                Cmd("BITFIELD bf GET u8 0"),
                Cmd("BITFIELD bf OVERFLOW FAIL INCRBY u2 0 100"),
                Cmd("PFADD hll a b"),
                Cmd("PFADD hll a"),
                Cmd("PFADD hll2"),
                Cmd("PFMERGE hll3 hll hll2"),
                Cmd("PFMERGE hll3 hll"),
                Cmd("PFCOUNT hll"),
            ]),
        ),
        (
            "expired, keymiss and new",
            Scenario {
                flags: "KEAmn",
                steps: vec![
                    // One volatile key at a time: lazy or active expiry,
                    // its `expired` comes before the read's `keymiss`.
                    Cmd("SET a 1 PX 1"),
                    Sleep(30),
                    Cmd("GET a"),
                    Cmd("RPUSH l a"),
                    Cmd("PEXPIRE l 1"),
                    Sleep(30),
                    Cmd("LRANGE l 0 -1"),
                    Cmd("GET nope"),
                    Cmd("HGET nope f"),
                    Cmd("EXISTS nope"),
                    Cmd("SET x 1"),
                    Cmd("SET x 2"),
                    Cmd("RENAME x y"),
                    Cmd("SET z 1"),
                    Cmd("RENAME y z"),
                    Cmd("COPY z z2"),
                    Cmd("INCR i"),
                    Cmd("SADD s a"),
                    Cmd("ZADD zs 1 a"),
                    Cmd("HSET h a 1"),
                    // Reads report misses; writes, as in Redis, do not.
                    Cmd("LPOP nope"),
                    Cmd("SPOP nope"),
                    Cmd("PERSIST nope"),
                    Cmd("MOVE nope 1"),
                    Cmd("RENAME nope x"),
                    Cmd("SMEMBERS nope"),
                    Cmd("TYPE nope"),
                    Cmd("TOUCH nope"),
                    Cmd("TTL nope"),
                    Cmd("COPY nope x"),
                    Cmd("GETDEL nope"),
                    Cmd("OBJECT ENCODING nope"),
                    Cmd("MGET x nope2"),
                ],
            },
        ),
        (
            "classes filter what is sent",
            Scenario {
                flags: "Elshz",
                steps: vec![
                    Cmd("SET a 1"),
                    Cmd("DEL a"),
                    Cmd("RPUSH l a"),
                    Cmd("SADD s a"),
                    Cmd("HSET h a 1"),
                    Cmd("ZADD z 1 a"),
                    Cmd("LPOP l"),
                ],
            },
        ),
        (
            "keyspace channel only, and no channel at all",
            Scenario {
                flags: "Kg$",
                steps: vec![
                    Cmd("SET a 1"),
                    Cmd("DEL a"),
                    Cmd("CONFIG SET notify-keyspace-events g$"),
                    Cmd("SET a 1"),
                ],
            },
        ),
        (
            "a bad class letter",
            Scenario {
                flags: "KEQ",
                steps: vec![Cmd("SET a 1")],
            },
        ),
        (
            "MULTI",
            all(vec![
                Cmd("MULTI"),
                Cmd("SET a 1"),
                Cmd("RPUSH l a b"),
                Cmd("DEL a"),
                Cmd("EXEC"),
            ]),
        ),
    ]
}

#[test]
fn keyspace_notifications_match_redis() {
    scenarios_match_redis(&scenarios(), play);
}

/// Events go to every subscriber of every matching channel, and a
/// subscriber to one key's channel sees only that key.
#[test]
fn keyspace_channel_of_one_key_sees_only_that_key() {
    let kiwi = Kiwi::start();
    let mut client = kiwi.client();
    let mut sub = kiwi.client();
    client.call(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
    sub.call(&["SUBSCRIBE", "__keyspace@0__:watched"]);
    client.call(&["SET", "other", "1"]);
    client.call(&["SET", "watched", "1"]);
    client.call(&["SELECT", "3"]);
    client.call(&["SET", "watched", "1"]);
    client.call(&["SELECT", "0"]);
    client.call(&["INCR", "watched"]);
    let got: Vec<String> = (0..2)
        .map(|_| show(&sub.read_frame().expect("subscriber closed")))
        .collect();
    assert_eq!(
        got,
        [
            r#"["message", "__keyspace@0__:watched", "set"]"#,
            r#"["message", "__keyspace@0__:watched", "incrby"]"#
        ]
    );
}
