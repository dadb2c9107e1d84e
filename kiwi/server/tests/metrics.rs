//! The Prometheus endpoint (`--metrics-addr`) and INFO rocksdb, against a
//! real kiwi-server process: the figures move with the commands clients run.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, http_get, scrape, try_http_get, Kiwi};
use kiwi_resp::Frame;

fn start_with_metrics() -> (Kiwi, u16, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let metrics_port = free_port();
    let at = format!("127.0.0.1:{metrics_port}");
    let kiwi = Kiwi::start_in(tmp.path(), &["--metrics-addr", &at]);
    (kiwi, metrics_port, tmp)
}

fn info_fields(kiwi: &Kiwi, section: &str) -> Vec<(String, String)> {
    let Frame::Bulk(text) = kiwi.client().call(&["INFO", section]) else {
        panic!("INFO is a bulk string in RESP2");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn metrics_follow_the_commands_clients_run() {
    let (kiwi, metrics_port, _tmp) = start_with_metrics();
    let mut c = kiwi.client();
    assert_eq!(c.call(&["SET", "a", "1"]), Frame::ok());
    assert_eq!(c.call(&["SET", "b", "2", "EX", "100"]), Frame::ok());
    assert_eq!(c.call(&["GET", "a"]), Frame::Bulk("1".into()));
    assert_eq!(c.call(&["GET", "missing"]), Frame::Null);
    assert!(matches!(c.call(&["LPUSH", "a", "x"]), Frame::Error(_)));
    assert!(matches!(c.call(&["GET"]), Frame::Error(_)));

    // Engine figures are copied once a second; wait for the keys to show.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = scrape(metrics_port);
        if m.get("kiwi_keys{db=\"0\"}") == Some(&2.0) || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let get = |name: &str| -> f64 {
        *m.get(name)
            .unwrap_or_else(|| panic!("no sample {name} in {:#?}", m.keys()))
    };
    assert_eq!(get("kiwi_keys{db=\"0\"}"), 2.0);
    assert_eq!(get("kiwi_expiring_keys{db=\"0\"}"), 1.0);
    assert_eq!(get("kiwi_command_calls_total{cmd=\"set\"}"), 2.0);
    assert_eq!(get("kiwi_command_calls_total{cmd=\"get\"}"), 2.0);
    assert_eq!(get("kiwi_command_failed_calls_total{cmd=\"lpush\"}"), 1.0);
    assert_eq!(get("kiwi_command_rejected_calls_total{cmd=\"get\"}"), 1.0);
    assert_eq!(get("kiwi_errors_total{code=\"WRONGTYPE\"}"), 1.0);
    assert_eq!(get("kiwi_keyspace_hits_total"), 1.0);
    assert_eq!(get("kiwi_keyspace_misses_total"), 1.0);
    assert_eq!(get("kiwi_connected_clients"), 1.0);
    assert_eq!(get("kiwi_storage_queue_capacity"), 1024.0);
    assert!(get("kiwi_rocksdb_memtable_bytes") > 0.0);
    assert_eq!(
        get("kiwi_rocksdb_block_cache_capacity_bytes"),
        (128u64 << 20) as f64
    );
    assert!(get("kiwi_net_input_bytes_total") > 0.0);
    // Histograms: count matches calls, buckets are cumulative up to +Inf.
    assert_eq!(get("kiwi_command_duration_seconds_count{cmd=\"set\"}"), 2.0);
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("kiwi_command_duration_seconds_bucket{") && k.ends_with("cmd=\"set\"}")
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets.len(), 28);
    assert!(buckets.iter().all(|&b| b <= 2.0));
    assert_eq!(
        get("kiwi_command_duration_seconds_bucket{le=\"+Inf\",cmd=\"set\"}"),
        2.0
    );
    assert!(get("kiwi_storage_queue_wait_seconds_count") >= 4.0);
    // No Raft figures in standalone mode.
    assert!(!m.keys().any(|k| k.starts_with("kiwi_raft_")));
}

#[test]
fn the_endpoint_answers_only_get_metrics_and_survives_hostile_clients() {
    let (kiwi, metrics_port, _tmp) = start_with_metrics();
    assert_eq!(http_get(metrics_port, "/").0, "HTTP/1.1 404 Not Found");
    // An oversized request head is dropped, not buffered.
    let mut big = TcpStream::connect(("127.0.0.1", metrics_port)).expect("connect");
    let _ = big.write_all(b"GET /metrics HTTP/1.1\r\n");
    let _ = big.write_all(&vec![b'x'; 64 * 1024]);
    // Many idle connections (beyond the concurrent-scrape bound) sending nothing.
    let idle: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", metrics_port)).ok())
        .collect();
    // The RESP side is unaffected, and scrapes resume once the idle ones
    // time out or go away.
    assert_eq!(kiwi.client().call(&["PING"]), Frame::simple("PONG"));
    drop(idle);
    drop(big);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if try_http_get(metrics_port, "/metrics")
            .is_ok_and(|(status, _)| status == "HTTP/1.1 200 OK")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics endpoint never recovered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn info_rocksdb_is_asked_for_by_name() {
    let kiwi = Kiwi::start();
    assert_eq!(kiwi.client().call(&["SET", "k", "v"]), Frame::ok());
    let fields = info_fields(&kiwi, "rocksdb");
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names[0], "rocksdb_memtable_bytes");
    assert!(names.contains(&"rocksdb_pending_compaction_bytes"));
    assert!(names.contains(&"storage_queue_wait_p99_usec"));
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(value("storage_queue_capacity"), "1024");
    // Published when the engine opens, then refreshed every second.
    assert_eq!(
        value("rocksdb_block_cache_capacity_bytes"),
        (128u64 << 20).to_string()
    );
    assert!(
        value("rocksdb_memtable_bytes")
            .parse::<u64>()
            .expect("number")
            > 0
    );
    // Not part of plain INFO (Redis tools compare its sections), and no
    // Raft section in standalone mode.
    assert!(info_fields(&kiwi, "default")
        .iter()
        .all(|(k, _)| !k.starts_with("rocksdb_")));
    assert!(info_fields(&kiwi, "raft").is_empty());
    assert!(info_fields(&kiwi, "everything")
        .iter()
        .any(|(k, _)| k == "rocksdb_sst_bytes"));
}

#[test]
fn info_latencystats_has_redis_shape() {
    // Per command: its field name and the percentile keys, each value a
    // number with three decimals, as redis-server prints them.
    let shape = |port: u16| -> Vec<String> {
        let mut c = common::RespClient::connect(port);
        for _ in 0..3 {
            c.call(&["SET", "k", "v"]);
            c.call(&["GET", "k"]);
        }
        let Frame::Bulk(text) = c.call(&["INFO", "latencystats"]) else {
            panic!("INFO is a bulk string in RESP2");
        };
        let mut lines = Vec::new();
        for line in String::from_utf8_lossy(&text).lines() {
            let Some((name, values)) = line.split_once(':') else {
                lines.push(line.to_string()); // the section header
                continue;
            };
            if !(name.ends_with("_get") || name.ends_with("_set")) {
                continue;
            }
            let keys: Vec<&str> = values
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    let decimals = v.split_once('.').map_or(0, |(_, d)| d.len());
                    assert!(v.parse::<f64>().is_ok() && decimals == 3, "{line}");
                    k
                })
                .collect();
            lines.push(format!("{name}:{}", keys.join(",")));
        }
        lines.sort();
        lines
    };
    let redis = common::Redis::start();
    let kiwi = Kiwi::start();
    let want = shape(redis.port);
    assert_eq!(
        want,
        vec![
            "# Latencystats",
            "latency_percentiles_usec_get:p50,p99,p99.9",
            "latency_percentiles_usec_set:p50,p99,p99.9",
        ]
    );
    assert_eq!(shape(kiwi.port), want);
}
