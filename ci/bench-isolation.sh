#!/usr/bin/env bash
# Fault isolation: while a write flood saturates the storage runtime, do
# PING / CLIENT ID / INFO on another connection stay fast, and does the
# storage queue stay bounded? Kiwi answers those three on the network
# runtime; the flood's SETs queue for the storage runtime. A real
# redis-server (one event loop) runs the same flood side by side.
#
# The load generator and the probe share the machine's cores with the
# server. For experiments: FLOOD_NICE=n runs the flood at that niceness
# (standing in for clients on other machines), PROBE_NICE=n the probe
# (negative needs root), EXTRA_KIWI_ARGS adds kiwi-server flags.
#
# usage: [FLOOD_NICE=n] [PROBE_NICE=n] [EXTRA_KIWI_ARGS=...] ci/bench-isolation.sh [seconds]   (default 10 per phase)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_PHASE="${1:-10}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
METRICS_PORT=$(free_port)
KIWI_ARGS="--metrics-addr 127.0.0.1:$METRICS_PORT ${EXTRA_KIWI_ARGS:-}"
source ci/bench-servers.sh

# 50 clients, pipelines of 16 SETs of 16 KiB random keys: memtable flushes
# and compactions run throughout.
FLOOD=(-t set -d 16384 -r 100000000 -n 1000000000 -c 50 -P 16 -q)

probe() { # port [metrics port]
    nice -n "${PROBE_NICE:-0}" python3 ci/isolation_probe.py "$1" "$SECONDS_PER_PHASE" "${2:-}"
}

flooded() { # port [metrics port]
    nice -n "${FLOOD_NICE:-0}" redis-benchmark -p "$1" "${FLOOD[@]}" >/dev/null 2>&1 &
    local flood=$!
    sleep 1 # let the flood build up
    probe "$@"
    kill "$flood" 2>/dev/null || true
    wait "$flood" 2>/dev/null || true
}

kiwi_idle=$(probe "$KIWI_PORT")
redis_idle=$(probe "$REDIS_PORT")
kiwi_flood=$(flooded "$KIWI_PORT" "$METRICS_PORT")
redis_flood=$(flooded "$REDIS_PORT")

python3 - "$kiwi_idle" "$kiwi_flood" "$redis_idle" "$redis_flood" <<'PY'
import json, sys
ki, kf, ri, rf = (json.loads(a) for a in sys.argv[1:])
print("| command | kiwi idle p99 µs | kiwi flood p99 µs | kiwi flood/idle | redis idle p99 µs | redis flood p99 µs | redis flood/idle |")
print("|---|---|---|---|---|---|---|")
for cmd in ("PING", "CLIENT ID", "INFO"):
    a, b, c, d = ki[cmd]["p99_us"], kf[cmd]["p99_us"], ri[cmd]["p99_us"], rf[cmd]["p99_us"]
    print(f"| {cmd} | {a} | {b} | {b / max(a, 1):.1f}x | {c} | {d} | {d / max(c, 1):.1f}x |")
m = kf["metrics"]
print()
print(f"kiwi under the flood: storage queue depth max {m.get('kiwi_storage_queue_depth', 0):.0f} of "
      f"{m.get('kiwi_storage_queue_capacity', 0):.0f}; resident memory max "
      f"{m.get('kiwi_resident_memory_bytes', 0) / 2**20:.0f} MiB; probe samples per command: "
      f"{kf['PING']['n']} (p50 PING {kf['PING']['p50_us']} µs, max {kf['PING']['max_us']} µs)")
PY
echo
echo "command: FLOOD_NICE=${FLOOD_NICE:-0} PROBE_NICE=${PROBE_NICE:-0} EXTRA_KIWI_ARGS='${EXTRA_KIWI_ARGS:-}' ci/bench-isolation.sh $SECONDS_PER_PHASE  (flood: redis-benchmark ${FLOOD[*]})"
