#!/usr/bin/env python3
"""Latency probe for ci/bench-isolation.sh: one connection sends PING,
CLIENT ID and INFO in turn (2 ms apart) for SECONDS and prints, per command,
the sample count and p50/p99/max in microseconds as JSON. With a metrics
port it also samples Kiwi's /metrics every 200 ms and reports the largest
storage queue depth and resident set seen."""
import json
import socket
import sys
import threading
import time
import urllib.request

COMMANDS = {"PING": [b"PING"], "CLIENT ID": [b"CLIENT", b"ID"], "INFO": [b"INFO"]}


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        if n >= 0:
            f.read(n + 2)
    elif line[:1] in (b"-", b""):
        raise RuntimeError("bad reply %r" % line)


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def sample_metrics(port, stop, seen):
    while not stop.is_set():
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
            for line in body.splitlines():
                for name in ("kiwi_storage_queue_depth", "kiwi_storage_queue_capacity", "kiwi_resident_memory_bytes"):
                    if line.startswith(name + " "):
                        seen[name] = max(seen.get(name, 0), float(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.2)


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    metrics_port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
    seen, stop = {}, threading.Event()
    sampler = None
    if metrics_port:
        sampler = threading.Thread(target=sample_metrics, args=(metrics_port, stop, seen))
        sampler.start()
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    lat = {name: [] for name in COMMANDS}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, args in COMMANDS.items():
            t0 = time.perf_counter()
            s.sendall(encode(args))
            read_reply(f)
            lat[name].append((time.perf_counter() - t0) * 1e6)
            time.sleep(0.002)
    stop.set()
    if sampler:
        sampler.join()
    result = {
        name: {"n": len(xs), "p50_us": round(percentile(xs, 0.5)), "p99_us": round(percentile(xs, 0.99)), "max_us": round(max(xs))}
        for name, xs in lat.items()
    }
    result["metrics"] = seen
    print(json.dumps(result))


if __name__ == "__main__":
    main()
