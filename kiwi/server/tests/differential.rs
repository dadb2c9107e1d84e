//! Differential test: random command sequences go to kiwi-server and to a
//! real redis-server (the spec); every reply must match exactly, except TTL
//! readings which may differ by the few milliseconds between the two calls.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{show, Kiwi, Redis};
use kiwi_resp::Frame;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["k0", "k1", "k2", "k3"]).prop_map(String::from)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "a", "hello", "10", "-5", "3.5", "007", " 1", "abc def", "1e3",
    ])
    .prop_map(String::from)
}

fn small_int() -> impl Strategy<Value = String> {
    prop_oneof![
        (-20i64..20).prop_map(|n| n.to_string()),
        Just("abc".to_string()),
        Just("9223372036854775807".to_string())
    ]
}

/// TTLs long enough that no key expires between the two servers' calls.
fn ttl_secs() -> impl Strategy<Value = String> {
    prop_oneof![
        (100i64..10_000).prop_map(|n| n.to_string()),
        Just("0".into()),
        Just("-1".into()),
        Just("x".into())
    ]
}

fn set_opts() -> impl Strategy<Value = Vec<String>> {
    let opt = prop_oneof![
        Just(vec!["NX".to_string()]),
        Just(vec!["XX".to_string()]),
        Just(vec!["GET".to_string()]),
        Just(vec!["KEEPTTL".to_string()]),
        ttl_secs().prop_map(|t| vec!["EX".to_string(), t]),
        ttl_secs().prop_map(|t| vec!["PX".to_string(), format!("{t}000")]),
        // A past EXAT would leave an expired key whose removal time (active
        // expiry) is nondeterministic in Redis itself; use a future one.
        Just(vec!["EXAT".to_string(), "4102444800".to_string()]),
        Just(vec!["BOGUS".to_string()]),
    ];
    prop::collection::vec(opt, 0..3).prop_map(|v| v.concat())
}

fn command() -> impl Strategy<Value = Vec<String>> {
    let c = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    prop_oneof![
        (key(), value(), set_opts())
            .prop_map(move |(k, v, o)| [c(&["SET"]), vec![k, v], o].concat()),
        key().prop_map(|k| vec!["GET".into(), k]),
        (key(), value()).prop_map(|(k, v)| vec!["SETNX".into(), k, v]),
        (key(), ttl_secs(), value()).prop_map(|(k, t, v)| vec!["SETEX".into(), k, t, v]),
        (key(), value()).prop_map(|(k, v)| vec!["GETSET".into(), k, v]),
        key().prop_map(|k| vec!["GETDEL".into(), k]),
        (
            key(),
            prop::sample::select(vec![
                "",
                "PERSIST",
                "EX 500",
                "PX 500000",
                "EXAT 1",
                "EX 0",
                "EX",
                "FOO"
            ])
        )
            .prop_map(|(k, o)| {
                let mut v = vec!["GETEX".to_string(), k];
                v.extend(o.split_whitespace().map(String::from));
                v
            }),
        (key(), key()).prop_map(|(a, b)| vec!["MGET".into(), a, b]),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| vec!["MSET".into(), a, x, b, y]),
        (key(), value(), key()).prop_map(|(a, x, b)| vec!["MSET".into(), a, x, b]),
        (key(), value(), key(), value()).prop_map(|(a, x, b, y)| vec!["MSETNX".into(), a, x, b, y]),
        (key(), value()).prop_map(|(k, v)| vec!["APPEND".into(), k, v]),
        key().prop_map(|k| vec!["STRLEN".into(), k]),
        key().prop_map(|k| vec!["INCR".into(), k]),
        key().prop_map(|k| vec!["DECR".into(), k]),
        (key(), small_int()).prop_map(|(k, n)| vec!["INCRBY".into(), k, n]),
        (key(), small_int()).prop_map(|(k, n)| vec!["DECRBY".into(), k, n]),
        (
            key(),
            prop::sample::select(vec![
                "1.5", "2", "-0.5", "abc", "10", "1e2", "inf", "0x1.8p1", "1e4935"
            ])
        )
            .prop_map(|(k, n)| vec!["INCRBYFLOAT".into(), k, n.into()]),
        (key(), small_int(), small_int()).prop_map(|(k, a, b)| vec!["GETRANGE".into(), k, a, b]),
        (key(), small_int(), small_int()).prop_map(|(k, a, b)| vec!["SUBSTR".into(), k, a, b]),
        (key(), 0u32..12, value()).prop_map(|(k, o, v)| vec![
            "SETRANGE".into(),
            k,
            o.to_string(),
            v
        ]),
        (
            key(),
            key(),
            prop::sample::select(vec![
                "",
                "LEN",
                "IDX",
                "IDX WITHMATCHLEN",
                "IDX MINMATCHLEN 2",
                "LEN IDX"
            ])
        )
            .prop_map(|(a, b, o)| {
                let mut v = vec!["LCS".to_string(), a, b];
                v.extend(o.split_whitespace().map(String::from));
                v
            }),
        (key(), key()).prop_map(|(a, b)| vec!["DEL".into(), a, b]),
        key().prop_map(|k| vec!["UNLINK".into(), k]),
        (key(), key()).prop_map(|(a, b)| vec!["EXISTS".into(), a, b]),
        (key(), key()).prop_map(|(a, b)| vec!["TOUCH".into(), a, b]),
        key().prop_map(|k| vec!["TYPE".into(), k]),
        (key(), key()).prop_map(|(a, b)| vec!["RENAME".into(), a, b]),
        (key(), key()).prop_map(|(a, b)| vec!["RENAMENX".into(), a, b]),
        (
            key(),
            key(),
            prop::sample::select(vec!["", "REPLACE", "DB 1", "DB 1 REPLACE", "DB 99"])
        )
            .prop_map(|(a, b, o)| {
                let mut v = vec!["COPY".to_string(), a, b];
                v.extend(o.split_whitespace().map(String::from));
                v
            }),
        (key(), prop::sample::select(vec!["0", "1", "2", "16", "x"])).prop_map(|(k, d)| vec![
            "MOVE".into(),
            k,
            d.into()
        ]),
        (
            key(),
            ttl_secs(),
            prop::sample::select(vec!["", "NX", "XX", "GT", "LT", "NX XX", "GT LT"])
        )
            .prop_map(|(k, t, o)| {
                let mut v = vec!["EXPIRE".to_string(), k, t];
                v.extend(o.split_whitespace().map(String::from));
                v
            }),
        (key(), ttl_secs()).prop_map(|(k, t)| vec!["PEXPIRE".into(), k, format!("{t}000")]),
        (key(), prop::sample::select(vec!["1", "4102444800"])).prop_map(|(k, t)| vec![
            "EXPIREAT".into(),
            k,
            t.into()
        ]),
        key().prop_map(|k| vec!["PERSIST".into(), k]),
        key().prop_map(|k| vec!["TTL".into(), k]),
        key().prop_map(|k| vec!["PTTL".into(), k]),
        key().prop_map(|k| vec!["EXPIRETIME".into(), k]),
        key().prop_map(|k| vec!["PEXPIRETIME".into(), k]),
        Just(c(&["DBSIZE"])),
        // Not a Redis command: INFO keyspace without `avg_ttl` (an estimate in Redis).
        Just(c(&["KEYSPACE"])),
        // Not a Redis command: the harness runs a whole SCAN iteration on
        // each server and compares the key sets (cursor values differ by design).
        prop::sample::select(vec![
            "",
            "MATCH k[0-1]",
            "TYPE string",
            "TYPE list",
            "TYPE hash",
            "TYPE set",
            "TYPE zset",
            "MATCH *3 TYPE string"
        ])
        .prop_map(|o| {
            let mut v = vec!["SCANALL".to_string()];
            v.extend(o.split_whitespace().map(String::from));
            v
        }),
        prop::sample::select(vec!["*", "k[0-1]", "k?", "*3", "nomatch"])
            .prop_map(|p| vec!["KEYS".into(), p.into()]),
        prop::sample::select(vec!["0", "1", "16", "-1"])
            .prop_map(|d| vec!["SELECT".into(), d.into()]),
        Just(c(&["SWAPDB", "0", "1"])),
        Just(c(&["FLUSHDB"])),
        prop::sample::select(vec![
            "GET",
            "SET k0",
            "EXPIRE k0",
            "NOSUCHCMD k0",
            "ECHO",
            "PING a b"
        ])
        .prop_map(|s| s.split_whitespace().map(String::from).collect()),
    ]
}

fn elem() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "1", "2", "-3", "10", "x y"]).prop_map(String::from)
}

fn index() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..6).prop_map(|n| n.to_string()),
        Just("100".to_string()),
        Just("-100".to_string()),
        Just("z".to_string())
    ]
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn cmd_with(head: Vec<String>, opts: &str) -> Vec<String> {
    [head, words(opts)].concat()
}

/// Hash, list and set commands over the same keys as the string commands,
/// so WRONGTYPE paths are exercised too.
fn collection_command() -> impl Strategy<Value = Vec<String>> {
    let s = |x: &str| x.to_string();
    prop_oneof![
        // hashes
        (key(), elem(), value(), prop::option::of((elem(), value()))).prop_map(
            move |(k, f, v, more)| {
                let mut c = vec![s("HSET"), k, f, v];
                if let Some((f2, v2)) = more {
                    c.extend([f2, v2]);
                }
                c
            }
        ),
        (key(), elem(), value()).prop_map(move |(k, f, v)| vec![s("HSETNX"), k, f, v]),
        (key(), elem(), value()).prop_map(move |(k, f, v)| vec![s("HMSET"), k, f, v]),
        key().prop_map(move |k| vec![s("HSET"), k, s("f")]),
        (key(), elem()).prop_map(move |(k, f)| vec![s("HGET"), k, f]),
        (key(), elem(), elem()).prop_map(move |(k, f, g)| vec![s("HMGET"), k, f, g]),
        key().prop_map(move |k| vec![s("HGETALL"), k]),
        key().prop_map(move |k| vec![s("HKEYS"), k]),
        key().prop_map(move |k| vec![s("HVALS"), k]),
        key().prop_map(move |k| vec![s("HLEN"), k]),
        (key(), elem()).prop_map(move |(k, f)| vec![s("HSTRLEN"), k, f]),
        (key(), elem()).prop_map(move |(k, f)| vec![s("HEXISTS"), k, f]),
        (key(), elem(), elem()).prop_map(move |(k, f, g)| vec![s("HDEL"), k, f, g]),
        (key(), elem(), small_int()).prop_map(move |(k, f, n)| vec![s("HINCRBY"), k, f, n]),
        (
            key(),
            elem(),
            prop::sample::select(vec!["1.5", "-2", "abc", "inf", "1e3"])
        )
            .prop_map(move |(k, f, n)| vec![s("HINCRBYFLOAT"), k, f, s(n)]),
        (
            key(),
            prop::sample::select(vec![
                "",
                "100",
                "100 WITHVALUES",
                "-5",
                "-5 WITHVALUES",
                "0",
                "x",
                "1 BAD"
            ])
        )
            .prop_map(move |(k, o)| cmd_with(vec![s("HRANDFIELD"), k], o)),
        (
            key(),
            prop::sample::select(vec!["", "MATCH a*", "MATCH [12]"])
        )
            .prop_map(move |(k, o)| cmd_with(vec![s("HSCANALL"), k], o)),
        // lists
        (
            prop::sample::select(vec!["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]),
            key(),
            elem(),
            prop::option::of(elem())
        )
            .prop_map(move |(c, k, a, b)| {
                let mut v = vec![s(c), k, a];
                v.extend(b);
                v
            }),
        (
            prop::sample::select(vec!["LPOP", "RPOP"]),
            key(),
            prop::sample::select(vec!["", "1", "2", "0", "-1", "x", "100"])
        )
            .prop_map(move |(c, k, o)| cmd_with(vec![s(c), k], o)),
        key().prop_map(move |k| vec![s("LLEN"), k]),
        (key(), index()).prop_map(move |(k, i)| vec![s("LINDEX"), k, i]),
        (key(), index(), index()).prop_map(move |(k, a, b)| vec![s("LRANGE"), k, a, b]),
        (key(), index(), elem()).prop_map(move |(k, i, v)| vec![s("LSET"), k, i, v]),
        (key(), index(), index()).prop_map(move |(k, a, b)| vec![s("LTRIM"), k, a, b]),
        (key(), index(), elem()).prop_map(move |(k, n, v)| vec![s("LREM"), k, n, v]),
        (
            key(),
            prop::sample::select(vec!["BEFORE", "AFTER", "MIDDLE"]),
            elem(),
            elem()
        )
            .prop_map(move |(k, w, p, v)| vec![s("LINSERT"), k, s(w), p, v]),
        (
            key(),
            elem(),
            prop::sample::select(vec![
                "",
                "RANK 2",
                "RANK -1",
                "RANK 0",
                "COUNT 0",
                "COUNT 2 RANK -2",
                "MAXLEN 2",
                "COUNT -1",
                "BOGUS"
            ])
        )
            .prop_map(move |(k, v, o)| cmd_with(vec![s("LPOS"), k, v], o)),
        (
            key(),
            key(),
            prop::sample::select(vec![
                "LEFT LEFT",
                "LEFT RIGHT",
                "RIGHT LEFT",
                "RIGHT RIGHT",
                "UP LEFT"
            ])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("LMOVE"), a, b], o)),
        (key(), key()).prop_map(move |(a, b)| vec![s("RPOPLPUSH"), a, b]),
        (
            key(),
            key(),
            prop::sample::select(vec!["LEFT", "RIGHT COUNT 2", "LEFT COUNT 0", "UP"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("LMPOP"), s("2"), a, b], o)),
        // sets
        (key(), elem(), prop::option::of(elem())).prop_map(move |(k, a, b)| {
            let mut v = vec![s("SADD"), k, a];
            v.extend(b);
            v
        }),
        (key(), elem(), elem()).prop_map(move |(k, a, b)| vec![s("SREM"), k, a, b]),
        key().prop_map(move |k| vec![s("SMEMBERS"), k]),
        (key(), elem()).prop_map(move |(k, m)| vec![s("SISMEMBER"), k, m]),
        (key(), elem(), elem()).prop_map(move |(k, a, b)| vec![s("SMISMEMBER"), k, a, b]),
        key().prop_map(move |k| vec![s("SCARD"), k]),
        (key(), prop::sample::select(vec!["100", "0", "-1"]))
            .prop_map(move |(k, o)| cmd_with(vec![s("SPOP"), k], o)),
        (key(), prop::sample::select(vec!["", "100", "-4", "0", "x"]))
            .prop_map(move |(k, o)| cmd_with(vec![s("SRANDMEMBER"), k], o)),
        (key(), key(), elem()).prop_map(move |(a, b, m)| vec![s("SMOVE"), a, b, m]),
        (
            prop::sample::select(vec!["SINTER", "SUNION", "SDIFF"]),
            key(),
            key()
        )
            .prop_map(move |(c, a, b)| vec![s(c), a, b]),
        (
            prop::sample::select(vec!["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
            key(),
            key(),
            key()
        )
            .prop_map(move |(c, d, a, b)| vec![s(c), d, a, b]),
        (
            key(),
            key(),
            prop::sample::select(vec!["", "LIMIT 1", "LIMIT -1", "LIMIT"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("SINTERCARD"), s("2"), a, b], o)),
        (
            key(),
            prop::sample::select(vec!["", "MATCH a*", "MATCH [12]"])
        )
            .prop_map(move |(k, o)| cmd_with(vec![s("SSCANALL"), k], o)),
        // SORT, with weights and hash fields for BY/GET to find.
        (elem(), value()).prop_map(move |(e, v)| vec![s("SET"), format!("w_{e}"), v]),
        (elem(), value()).prop_map(move |(e, v)| vec![s("HSET"), format!("h_{e}"), s("f"), v]),
        (
            prop::sample::select(vec!["SORT", "SORT_RO"]),
            key(),
            prop::sample::select(vec![
                "",
                "DESC",
                "ALPHA",
                "ALPHA DESC",
                "LIMIT 0 2",
                "LIMIT 1 -1",
                "LIMIT -5 2",
                "LIMIT 2 0",
                "BY nosort",
                "BY w_*",
                "BY w_* DESC LIMIT 1 2",
                "GET # GET w_*",
                "BY h_*->f GET h_*->f GET #",
                "ALPHA GET nosuch",
                "STORE k1",
                "ALPHA STORE k2",
                "BY nosort STORE k3",
                "LIMIT 0",
                "BOGUS",
            ])
        )
            .prop_map(move |(c, k, o)| cmd_with(vec![s(c), k], o)),
        // Blocking forms with a 10 ms timeout: immediate pops, timeouts, errors.
        (
            prop::sample::select(vec!["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"]),
            key(),
            key(),
            prop::sample::select(vec!["0.01", "-1", "x"])
        )
            .prop_map(move |(c, a, b, t)| vec![s(c), a, b, s(t)]),
        (key(), key()).prop_map(move |(a, b)| cmd_with(vec![s("BLMOVE"), a, b], "RIGHT LEFT 0.01")),
        (key(), key()).prop_map(move |(a, b)| vec![s("BRPOPLPUSH"), a, b, s("0.01")]),
        (
            key(),
            key(),
            prop::sample::select(vec!["LEFT", "RIGHT COUNT 2", "BAD"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("BLMPOP"), s("0.01"), s("2"), a, b], o)),
        (
            key(),
            key(),
            prop::sample::select(vec!["MIN", "MAX COUNT 2"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("BZMPOP"), s("0.01"), s("2"), a, b], o)),
    ]
}

fn score() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "1", "2", "2.5", "-1", "0", "-0", "inf", "-inf", "1e3", "nan", "x", "0x10",
    ])
    .prop_map(String::from)
}

fn score_bound() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "-inf", "+inf", "0", "1", "(1", "2", "(2.5", "10", "x", "(", "nan",
    ])
    .prop_map(String::from)
}

fn lex_bound() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["-", "+", "[a", "(a", "[b", "(c", "[1", "x", "[x y"])
        .prop_map(String::from)
}

/// Sorted-set commands. Lex-range commands use their own key, holding only
/// score-0 members, where Redis defines lex order.
fn zset_command() -> impl Strategy<Value = Vec<String>> {
    let s = |x: &str| x.to_string();
    prop_oneof![
        (
            key(),
            prop::sample::select(vec![
                "", "NX", "XX", "GT", "LT", "CH", "XX CH", "GT CH", "INCR", "NX XX", "GT LT",
                "NX GT"
            ]),
            score(),
            elem(),
            prop::option::of((score(), elem()))
        )
            .prop_map(move |(k, o, sc, m, more)| {
                let mut c = cmd_with(vec![s("ZADD"), k], o);
                c.extend([sc, m]);
                if let Some((s2, m2)) = more {
                    c.extend([s2, m2]);
                }
                c
            }),
        (key(), score(), elem()).prop_map(move |(k, sc, m)| vec![s("ZINCRBY"), k, sc, m]),
        (key(), elem(), elem()).prop_map(move |(k, a, b)| vec![s("ZREM"), k, a, b]),
        key().prop_map(move |k| vec![s("ZCARD"), k]),
        (key(), elem()).prop_map(move |(k, m)| vec![s("ZSCORE"), k, m]),
        (key(), elem(), elem()).prop_map(move |(k, a, b)| vec![s("ZMSCORE"), k, a, b]),
        (key(), score_bound(), score_bound()).prop_map(move |(k, a, b)| vec![s("ZCOUNT"), k, a, b]),
        (
            prop::sample::select(vec!["ZRANK", "ZREVRANK"]),
            key(),
            elem()
        )
            .prop_map(move |(c, k, m)| vec![s(c), k, m]),
        (
            key(),
            index(),
            index(),
            prop::sample::select(vec![
                "",
                "WITHSCORES",
                "REV",
                "REV WITHSCORES",
                "LIMIT 0 1",
                "BYLEX WITHSCORES",
                "BOGUS"
            ])
        )
            .prop_map(move |(k, a, b, o)| cmd_with(vec![s("ZRANGE"), k, a, b], o)),
        (
            key(),
            score_bound(),
            score_bound(),
            prop::sample::select(vec![
                "BYSCORE",
                "BYSCORE WITHSCORES",
                "BYSCORE REV",
                "BYSCORE LIMIT 1 2",
                "BYSCORE LIMIT -1 2",
                "BYSCORE LIMIT 0 -1 WITHSCORES",
                "BYSCORE REV LIMIT 1 1"
            ])
        )
            .prop_map(move |(k, a, b, o)| cmd_with(vec![s("ZRANGE"), k, a, b], o)),
        (
            key(),
            index(),
            index(),
            prop::sample::select(vec!["", "WITHSCORES"])
        )
            .prop_map(move |(k, a, b, o)| cmd_with(vec![s("ZREVRANGE"), k, a, b], o)),
        (
            prop::sample::select(vec!["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]),
            key(),
            score_bound(),
            score_bound(),
            prop::sample::select(vec![
                "",
                "WITHSCORES",
                "LIMIT 1 1",
                "LIMIT 0 2 WITHSCORES",
                "REV"
            ])
        )
            .prop_map(move |(c, k, a, b, o)| cmd_with(vec![s(c), k, a, b], o)),
        (
            key(),
            key(),
            index(),
            index(),
            prop::sample::select(vec!["", "REV", "WITHSCORES"])
        )
            .prop_map(move |(d, k, a, b, o)| cmd_with(vec![s("ZRANGESTORE"), d, k, a, b], o)),
        (key(), index(), index()).prop_map(move |(k, a, b)| vec![s("ZREMRANGEBYRANK"), k, a, b]),
        (key(), score_bound(), score_bound()).prop_map(move |(k, a, b)| vec![
            s("ZREMRANGEBYSCORE"),
            k,
            a,
            b
        ]),
        (
            prop::sample::select(vec!["ZPOPMIN", "ZPOPMAX"]),
            key(),
            prop::sample::select(vec!["", "1", "2", "0", "-1", "x"])
        )
            .prop_map(move |(c, k, o)| cmd_with(vec![s(c), k], o)),
        (
            key(),
            key(),
            prop::sample::select(vec!["MIN", "MAX COUNT 2", "MIN COUNT 0", "UP"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("ZMPOP"), s("2"), a, b], o)),
        (
            key(),
            prop::sample::select(vec![
                "",
                "100",
                "100 WITHSCORES",
                "-3",
                "-3 WITHSCORES",
                "0",
                "1 BAD"
            ])
        )
            .prop_map(move |(k, o)| cmd_with(vec![s("ZRANDMEMBER"), k], o)),
        (
            prop::sample::select(vec!["ZUNION", "ZINTER", "ZDIFF"]),
            key(),
            key(),
            prop::sample::select(vec![
                "",
                "WITHSCORES",
                "WEIGHTS 2 3",
                "WEIGHTS 2 x",
                "AGGREGATE MIN WITHSCORES",
                "AGGREGATE MAX",
                "AGGREGATE BAD"
            ])
        )
            .prop_map(move |(c, a, b, o)| cmd_with(vec![s(c), s("2"), a, b], o)),
        (
            prop::sample::select(vec!["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
            key(),
            key(),
            key(),
            prop::sample::select(vec!["", "WEIGHTS 1 -1", "AGGREGATE MAX", "WITHSCORES"])
        )
            .prop_map(move |(c, d, a, b, o)| cmd_with(vec![s(c), d, s("2"), a, b], o)),
        (
            key(),
            key(),
            prop::sample::select(vec!["", "LIMIT 1", "LIMIT -1"])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("ZINTERCARD"), s("2"), a, b], o)),
        (
            key(),
            prop::sample::select(vec!["", "MATCH a*", "MATCH [12]"])
        )
            .prop_map(move |(k, o)| cmd_with(vec![s("ZSCANALL"), k], o)),
        elem().prop_map(move |m| vec![s("ZADD"), s("lex"), s("0"), m]),
        (
            prop::sample::select(vec![
                "ZRANGEBYLEX",
                "ZREVRANGEBYLEX",
                "ZLEXCOUNT",
                "ZREMRANGEBYLEX"
            ]),
            lex_bound(),
            lex_bound()
        )
            .prop_map(move |(c, a, b)| vec![s(c), s("lex"), a, b]),
        (
            lex_bound(),
            lex_bound(),
            prop::sample::select(vec![
                "BYLEX",
                "BYLEX REV",
                "BYLEX LIMIT 1 2",
                "BYLEX REV LIMIT 0 1"
            ])
        )
            .prop_map(move |(a, b, o)| cmd_with(vec![s("ZRANGE"), s("lex"), a, b], o)),
    ]
}

/// SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO over the
/// same keys as the string commands (so they meet ordinary values too).
fn bitmap_command() -> impl Strategy<Value = Vec<String>> {
    let s = |v: &str| v.to_string();
    let offset = prop_oneof![
        4 => (0u32..80).prop_map(|n| n.to_string()),
        1 => Just(s("-1")),
        1 => Just(s("4294967296")),
        1 => Just(s("x")),
    ];
    let range = prop_oneof![(-12i64..12).prop_map(|n| n.to_string()), Just(s("abc")),];
    let unit = prop::sample::select(vec![
        vec![],
        vec![s("BYTE")],
        vec![s("BIT")],
        vec![s("bogus")],
    ]);
    let field_type = prop::sample::select(vec![
        "u1", "u4", "i4", "u8", "i8", "i16", "u63", "i64", "u64", "x8", "i0",
    ])
    .prop_map(s);
    let field_offset = prop_oneof![
        (0u32..40).prop_map(|n| n.to_string()),
        (0u32..5).prop_map(|n| format!("#{n}")),
        Just(s("-3"))
    ];
    let field_value = prop_oneof![
        (-300i64..300).prop_map(|n| n.to_string()),
        Just(s("9223372036854775807")),
        Just(s("-9223372036854775808")),
        Just(s("z")),
    ];
    let field_op = prop_oneof![
        (field_type.clone(), field_offset.clone()).prop_map(move |(t, o)| vec![s("GET"), t, o]),
        (
            field_type.clone(),
            field_offset.clone(),
            field_value.clone()
        )
            .prop_map(move |(t, o, v)| vec![s("SET"), t, o, v]),
        (field_type, field_offset, field_value).prop_map(move |(t, o, v)| vec![
            s("INCRBY"),
            t,
            o,
            v
        ]),
        prop::sample::select(vec!["WRAP", "SAT", "FAIL", "NOPE"])
            .prop_map(move |w| vec![s("OVERFLOW"), s(w)]),
    ];
    prop_oneof![
        (
            key(),
            offset.clone(),
            prop::sample::select(vec!["0", "1", "2"])
        )
            .prop_map(move |(k, o, v)| vec![s("SETBIT"), k, o, s(v)]),
        (key(), offset).prop_map(move |(k, o)| vec![s("GETBIT"), k, o]),
        (
            key(),
            prop::collection::vec(range.clone(), 0..3),
            unit.clone()
        )
            .prop_map(move |(k, r, u)| [vec![s("BITCOUNT"), k], r, u].concat()),
        (
            key(),
            prop::sample::select(vec!["0", "1", "2"]),
            prop::collection::vec(range, 0..3),
            unit
        )
            .prop_map(move |(k, b, r, u)| [vec![s("BITPOS"), k, s(b)], r, u].concat()),
        (
            prop::sample::select(vec!["AND", "OR", "XOR", "NOT", "NAND"]),
            key(),
            prop::collection::vec(key(), 1..4)
        )
            .prop_map(move |(op, d, src)| [vec![s("BITOP"), s(op), d], src].concat()),
        (key(), prop::collection::vec(field_op.clone(), 0..4)).prop_map(move |(k, ops)| [
            vec![s("BITFIELD"), k],
            ops.concat()
        ]
        .concat()),
        (key(), prop::collection::vec(field_op, 1..3)).prop_map(move |(k, ops)| [
            vec![s("BITFIELD_RO"), k],
            ops.concat()
        ]
        .concat()),
    ]
}

/// PFADD (a few elements, or hundreds to force the dense encoding),
/// PFCOUNT, PFMERGE and GET of the raw representation; corrupted values.
fn hll_command() -> impl Strategy<Value = Vec<String>> {
    let s = |v: &str| v.to_string();
    let hkey = prop::sample::select(vec!["k0", "k1", "h0", "h1"]).prop_map(String::from);
    prop_oneof![
        4 => (hkey.clone(), prop::collection::vec(0u32..5000, 0..6))
            .prop_map(move |(k, e)| [vec![s("PFADD"), k], e.iter().map(|n| format!("e{n}")).collect()].concat()),
        1 => (hkey.clone(), 0u32..1000)
            .prop_map(move |(k, base)| [vec![s("PFADD"), k], (base..base + 400).map(|n| format!("m{n}")).collect()].concat()),
        2 => prop::collection::vec(hkey.clone(), 1..4).prop_map(move |ks| [vec![s("PFCOUNT")], ks].concat()),
        1 => prop::collection::vec(hkey.clone(), 1..4).prop_map(move |ks| [vec![s("PFMERGE")], ks].concat()),
        1 => hkey.clone().prop_map(move |k| vec![s("GET"), k]),
        // A sparse header whose opcodes cover too few registers.
        1 => hkey.prop_map(move |k| vec![s("SET"), k, s("HYLL\u{1}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{5}")]),
    ]
}

/// MULTI/EXEC/DISCARD/WATCH/UNWATCH, mixed into the sequences so that
/// random commands get queued, executed inside EXEC (replies compared one by
/// one) and WATCHed keys get touched by the sequence itself.
fn transaction_command() -> impl Strategy<Value = Vec<String>> {
    let s = |v: &str| v.to_string();
    prop_oneof![
        3 => Just(vec![s("MULTI")]),
        3 => Just(vec![s("EXEC")]),
        1 => Just(vec![s("DISCARD")]),
        2 => prop::collection::vec(key(), 1..3).prop_map(move |keys| [vec![s("WATCH")], keys].concat()),
        1 => Just(vec![s("UNWATCH")]),
    ]
}

/// Replies of commands whose element order Redis leaves unspecified (or
/// random) reduced to what both servers must agree on.
fn normalize(cmd: &[String], f: &Frame) -> Frame {
    let name = cmd[0].to_ascii_uppercase();
    let sorted = |items: &[Frame]| {
        let mut v = items.to_vec();
        v.sort_by_key(show);
        v
    };
    match (name.as_str(), f) {
        (_, Frame::Map(pairs)) => {
            let mut p = pairs.clone();
            p.sort_by_key(|(k, _)| show(k));
            Frame::Map(p)
        }
        (_, Frame::Set(items)) => Frame::Set(sorted(items)),
        ("HGETALL", Frame::Array(items)) => {
            let mut pairs: Vec<Vec<Frame>> = items.chunks(2).map(|c| c.to_vec()).collect();
            pairs.sort_by_key(|p| show(&p[0]));
            Frame::Array(pairs.concat())
        }
        (
            "HKEYS" | "HVALS" | "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "SPOP",
            Frame::Array(items),
        ) => Frame::Array(sorted(items)),
        // An unsorted SORT of a set comes out in set order.
        ("SORT" | "SORT_RO", Frame::Array(items))
            if cmd.iter().any(|a| a == "nosort") && !cmd.iter().any(|a| a == "STORE") =>
        {
            Frame::Array(sorted(items))
        }
        // Random picks: only the reply's shape and size must agree.
        ("HRANDFIELD" | "SRANDMEMBER" | "ZRANDMEMBER", Frame::Array(items)) => {
            Frame::Integer(items.len() as i64)
        }
        ("HRANDFIELD" | "SRANDMEMBER" | "ZRANDMEMBER", Frame::Bulk(_)) => Frame::bulk("<random>"),
        _ => f.clone(),
    }
}

/// Replies equal, allowing TTL-reading commands a small clock difference.
fn equivalent(cmd: &[String], kiwi: &Frame, redis: &Frame) -> bool {
    let name = cmd[0].to_ascii_uppercase();
    let tolerance = match name.as_str() {
        "TTL" | "EXPIRETIME" => 1,
        "PTTL" | "PEXPIRETIME" => 1500,
        _ => 0,
    };
    match (kiwi, redis) {
        (Frame::Integer(a), Frame::Integer(b)) if tolerance > 0 => {
            *a >= 0 && *b >= 0 && (a - b).abs() <= tolerance || a == b
        }
        (Frame::Array(a), Frame::Array(b)) if name == "KEYS" => {
            let mut a: Vec<String> = a.iter().map(show).collect();
            let mut b: Vec<String> = b.iter().map(show).collect();
            a.sort();
            b.sort();
            a == b
        }
        _ => normalize(cmd, kiwi) == normalize(cmd, redis),
    }
}

/// Runs SCAN to completion (COUNT 2, so it takes several calls) and returns
/// the sorted, de-duplicated keys as an array, or the first error.
fn scan_all(c: &mut common::RespClient, opts: &[String]) -> Frame {
    scan_to_end(c, &["SCAN".to_string()], opts, false)
}

/// Iterates a SCAN-family command (`head` = the command and its key, if
/// any) to completion with COUNT 2 and returns the sorted, de-duplicated
/// elements (`pairs`: "field=value" for HSCAN/ZSCAN) as an array, or the
/// first error. Cursor values differ between servers by design.
fn scan_to_end(c: &mut common::RespClient, head: &[String], opts: &[String], pairs: bool) -> Frame {
    let mut cursor = "0".to_string();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let mut call = head.to_vec();
        call.extend([cursor.clone(), "COUNT".into(), "2".into()]);
        call.extend(opts.iter().cloned());
        match c.call(&call) {
            Frame::Array(parts) if parts.len() == 2 => {
                let (Frame::Bulk(next), Frame::Array(batch)) = (&parts[0], &parts[1]) else {
                    return Frame::error("unexpected SCAN reply shape");
                };
                if pairs {
                    for p in batch.chunks(2) {
                        seen.insert(p.iter().map(show).collect::<Vec<_>>().join("="));
                    }
                } else {
                    seen.extend(batch.iter().map(show));
                }
                cursor = String::from_utf8_lossy(next).into_owned();
                if cursor == "0" {
                    return Frame::Array(seen.into_iter().map(|k| Frame::Bulk(k.into())).collect());
                }
            }
            other => return other,
        }
    }
    Frame::error("SCAN did not terminate")
}

/// `INFO keyspace` lines with the `avg_ttl` estimate cut off.
fn keyspace(c: &mut common::RespClient) -> Frame {
    let text = match c.call(&["INFO", "keyspace"]) {
        Frame::Bulk(t) | Frame::Verbatim { text: t, .. } => {
            String::from_utf8_lossy(&t).into_owned()
        }
        other => return other,
    };
    let lines: Vec<Frame> = text
        .lines()
        .filter(|l| l.starts_with("db"))
        .map(|l| Frame::Bulk(l.split(",avg_ttl").next().unwrap_or(l).to_string().into()))
        .collect();
    Frame::Array(lines)
}

/// Commands compared over the whole run (reported at the end).
static COMPARED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn run_sequence(
    kiwi: &Kiwi,
    redis: &Redis,
    resp3: bool,
    cmds: &[Vec<String>],
) -> Result<(), TestCaseError> {
    let mut k = kiwi.client();
    let mut r = redis.client();
    for c in [&mut k, &mut r] {
        assert_eq!(c.call(&["FLUSHALL"]), Frame::ok());
        if resp3 {
            assert!(matches!(c.call(&["HELLO", "3"]), Frame::Map(_)));
        }
    }
    // Commands queued since MULTI, to compare EXEC's replies one by one.
    let mut queued: Option<Vec<Vec<String>>> = None;
    for (i, cmd) in cmds.iter().enumerate() {
        // Multi-call pseudo-commands cannot be queued.
        let pseudo = cmd[0] == "KEYSPACE" || cmd[0].ends_with("SCANALL");
        if pseudo && queued.is_some() {
            continue;
        }
        // What Redis runs at once even inside MULTI (UNWATCH is queued).
        let immediate = matches!(cmd[0].as_str(), "MULTI" | "EXEC" | "DISCARD" | "WATCH");
        COMPARED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if cmd[0] == "EXEC" {
            let (kr, rr) = (k.call(cmd), r.call(cmd));
            let block = queued.take().unwrap_or_default();
            let same = match (&kr, &rr) {
                (Frame::Array(ka), Frame::Array(ra)) => {
                    ka.len() == ra.len()
                        && ka.len() == block.len()
                        && block
                            .iter()
                            .zip(ka.iter().zip(ra))
                            .all(|(c, (kf, rf))| equivalent(c, kf, rf))
                }
                _ => kr == rr,
            };
            prop_assert!(
                same,
                "step {i}: EXEC of {:?}\n  kiwi : {}\n  redis: {}",
                block,
                show(&kr),
                show(&rr)
            );
            continue;
        }
        match cmd[0].as_str() {
            "MULTI" if queued.is_none() => queued = Some(Vec::new()),
            "DISCARD" => queued = None,
            _ if !immediate => {
                if let Some(q) = queued.as_mut() {
                    q.push(cmd.clone());
                }
            }
            _ => {}
        }
        let (kr, rr) = if cmd[0] == "SCANALL" {
            (scan_all(&mut k, &cmd[1..]), scan_all(&mut r, &cmd[1..]))
        } else if matches!(cmd[0].as_str(), "HSCANALL" | "SSCANALL" | "ZSCANALL") {
            let head = [cmd[0][..5].to_string(), cmd[1].clone()];
            let pairs = cmd[0] != "SSCANALL";
            (
                scan_to_end(&mut k, &head, &cmd[2..], pairs),
                scan_to_end(&mut r, &head, &cmd[2..], pairs),
            )
        } else if cmd[0] == "KEYSPACE" {
            (keyspace(&mut k), keyspace(&mut r))
        } else {
            (k.call(cmd), r.call(cmd))
        };
        prop_assert!(
            equivalent(cmd, &kr, &rr),
            "step {i}: {:?}\n  kiwi : {}\n  redis: {}",
            cmd.join(" "),
            show(&kr),
            show(&rr)
        );
    }
    Ok(())
}

#[test]
fn kiwi_replies_like_redis() {
    // Both servers live for the whole run and are stopped when it ends.
    let kiwi = Kiwi::start();
    let redis = Redis::start();
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proptest-regressions/differential.txt"
        )))),
        source_file: Some(file!()),
        ..Config::default()
    };
    let strategy = (
        any::<bool>(),
        prop::collection::vec(
            prop_oneof![
                6 => command(),
                6 => collection_command(),
                6 => zset_command(),
                1 => transaction_command(),
                3 => bitmap_command(),
                2 => hll_command()
            ],
            1..40,
        ),
    );
    let result = TestRunner::new(config).run(&strategy, |(resp3, cmds)| {
        run_sequence(&kiwi, &redis, resp3, &cmds)
    });
    if let Err(e) = result {
        panic!("kiwi differs from redis-server: {e}");
    }
    eprintln!(
        "differential: {} commands compared with redis-server",
        COMPARED.load(std::sync::atomic::Ordering::Relaxed)
    );
}
