#!/usr/bin/env bash
# Latency of a 100-element ZRANGEBYSCORE over a 1 M-member sorted set, on
# kiwi-server and on a real redis-server started side by side (issue bar:
# under a millisecond). Also reports ZRANK and ZSCORE on the same set.
#
# usage: ci/bench-zrange.sh [members]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS="${1:-1000000}"

source ci/bench-servers.sh

# ZADD big <i> m<i> for i in 0..MEMBERS, 1000 pairs per command, as raw RESP.
python3 - "$MEMBERS" > "$WORK/load.resp" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, n, 1000):
    pairs = []
    for i in range(start, min(n, start + 1000)):
        pairs += [str(i).encode(), b"m%d" % i]
    args = [b"ZADD", b"big"] + pairs
    out.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY
for port in "$KIWI_PORT" "$REDIS_PORT"; do
    redis-cli -p "$port" --pipe < "$WORK/load.resp" >/dev/null
    [ "$(redis-cli -p "$port" zcard big)" = "$MEMBERS" ] || { echo "load failed on $port" >&2; exit 1; }
done

MID=$((MEMBERS / 2))
# Prints "avg_ms p99_ms" for one command (single client, no pipelining).
lat() { # port requests args...
    local port=$1 n=$2; shift 2
    redis-benchmark -p "$port" -n "$n" -c 1 --csv "$@" 2>/dev/null | tail -n 1 | tr -d '"' \
        | awk -F, '{print $3, $7}'
}
echo "| command ($MEMBERS members) | kiwi avg ms | kiwi p99 ms | redis avg ms | redis p99 ms |"
echo "|---|---|---|---|---|"
# ZRANK counts its way to the rank in Kiwi (O(rank)): few requests for it.
for cmd in "ZRANGEBYSCORE big $MID ($((MID + 100))" "ZRANGEBYSCORE big $MID ($((MID + 100)) WITHSCORES" \
           "ZRANGE big ($((MID + 100)) $MID BYSCORE REV" "ZSCORE big m$MID" "ZRANK big m$MID"; do
    n=20000
    [[ $cmd == ZRANK* ]] && n=50
    # shellcheck disable=SC2086
    read -r k_avg k_p99 < <(lat "$KIWI_PORT" "$n" $cmd)
    # shellcheck disable=SC2086
    read -r r_avg r_p99 < <(lat "$REDIS_PORT" "$n" $cmd)
    echo "| \`$cmd\` | $k_avg | $k_p99 | $r_avg | $r_p99 |"
done
echo
echo "command: ci/bench-zrange.sh $MEMBERS  (redis-benchmark -n 20000 -c 1 <command>; ZRANK -n 50)"
