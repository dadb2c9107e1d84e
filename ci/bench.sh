#!/usr/bin/env bash
# Throughput of kiwi-server vs a real redis-server started side by side in
# the same run, measured with redis-benchmark. Prints each figure and the
# kiwi/redis ratio as a Markdown table (paste into docs/benchmarks.md).
#
# usage: [TESTS=lpush,rpop,...] ci/bench.sh [requests]   (default 200000; 50 clients;
#        TESTS defaults to set,get,incr,mset)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200000}"
CLIENTS=50
TESTS="${TESTS:-set,get,incr,mset}"

source ci/bench-servers.sh

# Prints "<test> <requests/sec>" lines.
run() { # port pipeline
    redis-benchmark -p "$1" -t "$TESTS" -n "$N" -c "$CLIENTS" -P "$2" --csv 2>/dev/null \
        | tail -n +2 | grep -v 'needed to benchmark' | tr -d '"' | sed -E 's/ \([^)]*\)//' | awk -F, '{print $1, $2}'
}

echo "| test | pipeline | kiwi req/s | redis req/s | kiwi/redis |"
echo "|---|---|---|---|---|"
for P in 1 16; do
    run "$REDIS_PORT" "$P" > "$WORK/redis.txt"
    run "$KIWI_PORT" "$P" > "$WORK/kiwi.txt"
    join <(sort "$WORK/kiwi.txt") <(sort "$WORK/redis.txt") | while read -r test kiwi redis; do
        ratio=$(awk -v a="$kiwi" -v b="$redis" 'BEGIN { printf "%.2f", a / b }')
        echo "| $test | $P | $kiwi | $redis | $ratio |"
    done
done
echo
echo "command: ci/bench.sh $N  (redis-benchmark -t $TESTS -n $N -c $CLIENTS [-P 16]); kiwi appendfsync=everysec"
