# Sourced by the benchmark scripts: builds kiwi-server (release) and starts
# it and a real redis-server side by side on free loopback ports, with fresh
# data directories; both stop when the calling script exits.
# Sets KIWI_PORT, REDIS_PORT and WORK (a scratch directory). KIWI_ARGS
# (optional) adds kiwi-server flags; KIWI_BIN (optional) runs that binary
# instead of building target/release/kiwi-server (A/B of two builds).

source ci/rocksdb-env.sh
if [ -z "${KIWI_BIN:-}" ]; then
    cargo build --release --bin kiwi-server >&2
    KIWI_BIN=target/release/kiwi-server
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KIWI_PORT=$(free_port)
REDIS_PORT=$(free_port)
WORK=$(mktemp -d)
cleanup() {
    kill "$KIWI_PID" "$REDIS_PID" 2>/dev/null || true
    wait "$KIWI_PID" "$REDIS_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # KIWI_ARGS is a list of flags
"$KIWI_BIN" --port "$KIWI_PORT" --dir "$WORK/kiwi" --loglevel warning ${KIWI_ARGS:-} &
KIWI_PID=$!
redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" &
REDIS_PID=$!
for port in "$KIWI_PORT" "$REDIS_PORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
