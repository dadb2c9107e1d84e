#!/usr/bin/env bash
# Cluster-mode throughput: a 3-node Kiwi cluster on this machine against the
# same build in standalone mode, started side by side in the same run, both
# measured with redis-benchmark against the leader / the single node.
# Prints a Markdown table with the cluster/standalone ratio (the issue's bars:
# SET >= 0.3x, GET >= 0.5x).
#
# With TLS=1 the cluster's nodes talk mutual TLS (tls-cluster, certificates
# made here with openssl): run once with and once without to see its cost.
#
# KIWI_BIN=path benchmarks that binary instead of building target/release's
# (A/B runs: copy each build aside, then run the script once per copy).
#
# usage: [TESTS=set,get] [PIPELINES="1 16"] [ROUNDS=3] [TLS=1] [KIWI_BIN=path] ci/bench-cluster.sh [requests]   (default 100000; 50 clients)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
CLIENTS="${CLIENTS:-50}"
TESTS="${TESTS:-set,get}"
KIWI="${KIWI_BIN:-target/release/kiwi-server}"
if [ -z "${KIWI_BIN:-}" ]; then
    source ci/rocksdb-env.sh
    cargo build --release --bin kiwi-server >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_ping() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done; echo "no server on $1" >&2; exit 1; }

CLUSTER_ARGS=()
if [ "${TLS:-0}" = 1 ]; then
    (
        cd "$WORK"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca
        openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=node
        # An extension makes it X.509 v3 (rustls refuses v1 certificates).
        echo "subjectAltName=IP:127.0.0.1" > node.ext
        openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out node.crt -days 2 -extfile node.ext
    ) >/dev/null 2>&1
    CLUSTER_ARGS=(--tls-cluster yes --tls-cert-file "$WORK/node.crt" --tls-key-file "$WORK/node.key" --tls-ca-cert-file "$WORK/ca.crt")
fi

SOLO=$(free_port)
"$KIWI" --port "$SOLO" --dir "$WORK/solo" --loglevel warning &
SOLO_PID=$!
PIDS+=($SOLO_PID)
declare -a PORT RAFT NODE_PID
for i in 1 2 3; do
    PORT[$i]=$(free_port); RAFT[$i]=$(free_port)
    init=""; [ "$i" = 1 ] && init="--init-cluster"
    RUST_LOG=warn "$KIWI" --port "${PORT[$i]}" --dir "$WORK/n$i" --loglevel warning \
        --node-id "$i" --raft-addr "127.0.0.1:${RAFT[$i]}" "${CLUSTER_ARGS[@]}" $init 2>"$WORK/n$i.log" &
    NODE_PID[$i]=$!
    PIDS+=($!)
done
for p in "$SOLO" "${PORT[1]}" "${PORT[2]}" "${PORT[3]}"; do wait_ping "$p"; done
for _ in $(seq 100); do redis-cli -p "${PORT[1]}" raft.leader 2>/dev/null | grep -q 127.0.0.1 && break; sleep 0.1; done
for i in 2 3; do
    redis-cli -p "${PORT[1]}" raft.node add "$i" "127.0.0.1:${RAFT[$i]}" "127.0.0.1:${PORT[$i]}" >/dev/null
done

run() { # port pipeline
    redis-benchmark -p "$1" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$2" --csv 2>/dev/null \
        | tail -n +2 | grep -v 'needed to benchmark' | tr -d '"' | sed -E 's/ \([^)]*\)//' | awk -F, '{print $1, $2}'
}

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cluster_ticks() { echo $(( $(cpu_ticks "${NODE_PID[1]}") + $(cpu_ticks "${NODE_PID[2]}") + $(cpu_ticks "${NODE_PID[3]}") )); }
TICKS_PER_S=$(getconf CLK_TCK)

# Alternate standalone and cluster runs ROUNDS times and report medians:
# on a shared 2-core machine single runs swing by +-20%. CPU time per
# request (all three nodes together for the cluster) is steadier than
# throughput when other work shares the cores.
ROUNDS="${ROUNDS:-3}"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
REQUESTS_PER_RUN=$(( N * $(echo "$TESTS" | tr ',' '\n' | wc -l) ))
# Microseconds of CPU per request, for clock ticks spent over all rounds.
per_request_us() { echo $(( $1 * 1000000 / TICKS_PER_S / (REQUESTS_PER_RUN * ROUNDS) )); }
CPU_LINES=()
echo "| test | pipeline | cluster (3 nodes) req/s | standalone req/s | cluster/standalone |"
echo "|---|---|---|---|---|"
for P in ${PIPELINES:-1 16}; do
    : > "$WORK/solo.txt"; : > "$WORK/cluster.txt"
    solo_ticks=0; all_ticks=0
    for _ in $(seq "$ROUNDS"); do
        before=$(cpu_ticks "$SOLO_PID")
        run "$SOLO" "$P" >> "$WORK/solo.txt"
        solo_ticks=$(( solo_ticks + $(cpu_ticks "$SOLO_PID") - before ))
        before=$(cluster_ticks)
        run "${PORT[1]}" "$P" >> "$WORK/cluster.txt"
        all_ticks=$(( all_ticks + $(cluster_ticks) - before ))
    done
    CPU_LINES+=("P=$P: CPU per request: standalone $(per_request_us "$solo_ticks") us, cluster $(per_request_us "$all_ticks") us (3 nodes together; tests $TESTS)")
    for test in $(awk '{print $1}' "$WORK/solo.txt" | sort -u); do
        s=$(awk -v t="$test" '$1 == t {print $2}' "$WORK/solo.txt" | median)
        c=$(awk -v t="$test" '$1 == t {print $2}' "$WORK/cluster.txt" | median)
        ratio=$(awk -v a="$c" -v b="$s" 'BEGIN { printf "%.2f", a / b }')
        echo "| $test | $P | $c | $s | $ratio |"
    done
done
echo
printf '%s\n' "${CPU_LINES[@]}"
# How many of the leader's read barriers needed an extra heartbeat round
# (kiwi_raft::leadership): each one costs a GET about a round trip.
echo "leader: $(redis-cli -p "${PORT[1]}" info raft | tr -d '\r' | grep -E '^raft_read_(index_calls|reconfirms):' | tr '\n' ' ')"
echo "command: TLS=${TLS:-0} TESTS=$TESTS PIPELINES=\"${PIPELINES:-1 16}\" ROUNDS=$ROUNDS CLIENTS=$CLIENTS ci/bench-cluster.sh $N  (binary: $KIWI; medians of $ROUNDS alternating runs; redis-benchmark -t $TESTS -n $N -c $CLIENTS -P <pipeline> against the leader; appendfsync=everysec, raft log fsynced per append)"
