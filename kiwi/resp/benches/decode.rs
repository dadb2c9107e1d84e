//! Throughput of the server's request decoder on pipelined SET/GET traffic
//! shaped like redis-benchmark's (issue bar: at least 1 GB/s).
//!
//! Three ways through the same bytes:
//! * `batch`: [`RequestDecoder::decode_batch`], every argument visited as a
//!   borrowed slice: the decoder's own cost;
//! * `batch_owned`: the same plus one `Vec<Bytes>` per request, which is
//!   what the connection hands the command layer;
//! * `one_by_one`: [`RequestDecoder::decode`], one split of the buffer per
//!   request (the path before batches).
//!
//! Run: `cargo bench -p kiwi-resp --bench decode` (see docs/benchmarks.md).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kiwi_resp::{RequestBatch, RequestDecoder, RequestLimits};

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

/// Decodes everything in batches; `owned` also builds each request's
/// `Vec<Bytes>`. Returns the argument bytes seen, so nothing is optimized out.
fn decode_batches(mut buf: BytesMut, owned: bool) -> usize {
    let mut decoder = RequestDecoder::new();
    let mut batch = RequestBatch::default();
    let limits = RequestLimits::default();
    let mut n = 0;
    loop {
        decoder.decode_batch(&mut buf, &limits, |_| false, &mut batch);
        if batch.is_empty() {
            break;
        }
        for i in 0..batch.len() {
            if owned {
                n += batch.args(i).iter().map(|a| a.len()).sum::<usize>();
            } else {
                n += batch.arg_slices(i).map(|a| a.len()).sum::<usize>();
            }
        }
    }
    assert!(
        batch.error().is_none() && buf.is_empty(),
        "traffic decodes completely"
    );
    n
}

fn decode_one_by_one(mut buf: BytesMut) -> usize {
    let mut decoder = RequestDecoder::new();
    let limits = RequestLimits::default();
    let mut n = 0;
    while let Ok(Some(args)) = decoder.decode(&mut buf, &limits) {
        n += args.iter().map(|a| a.len()).sum::<usize>();
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
        group.bench_function(format!("batch_{value_len}b_values"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |buf| decode_batches(buf, false),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("batch_owned_{value_len}b_values"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |buf| decode_batches(buf, true),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("one_by_one_{value_len}b_values"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                decode_one_by_one,
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
