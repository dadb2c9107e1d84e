//! Throughput of the server's request decoder on pipelined SET/GET traffic
//! shaped like redis-benchmark's (issue bar: at least 1 GB/s).
//!
//! Run: `cargo bench -p kiwi-resp --bench decode` (see docs/benchmarks.md).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kiwi_resp::{RequestDecoder, RequestLimits};

/// `commands` pipelined requests alternating `SET key:<n> <value>` and `GET key:<n>`.
fn traffic(commands: usize, value_len: usize) -> Vec<u8> {
    let value = "x".repeat(value_len);
    let mut out = Vec::new();
    for i in 0..commands {
        let key = format!("key:{:012}", i % 100_000);
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["SET", &key, &value]
        } else {
            vec!["GET", &key]
        };
        out.extend(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    out
}

fn decode_all(mut buf: BytesMut) -> usize {
    let mut decoder = RequestDecoder::new();
    let limits = RequestLimits::default();
    let mut n = 0;
    while let Ok(Some(args)) = decoder.decode(&mut buf, &limits) {
        n += args.len();
    }
    assert!(buf.is_empty(), "traffic decodes completely");
    n
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_decoder");
    // redis-benchmark's default 3-byte values, and 100-byte values.
    for value_len in [3usize, 100] {
        let wire = traffic(200_000, value_len);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function(format!("set_get_pipelined_{value_len}b_values"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                decode_all,
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
