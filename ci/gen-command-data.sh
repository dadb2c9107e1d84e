#!/usr/bin/env bash
# Regenerates kiwi/cmd/data/*.resp: the COMMAND INFO and COMMAND DOCS replies
# of the real redis-server (the spec) for every command in Kiwi's table, in
# RESP3. Kiwi serves them verbatim, so redis-cli's hints and tools that read
# key specs see exactly what Redis publishes. Run after adding commands.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
redis-server --port "$PORT" --save "" --appendonly no --dir "$WORK" >/dev/null &
PID=$!
trap 'kill $PID; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
NAMES=$(grep -oE '^    cmd!\(\s*"[a-z_]+"' kiwi/cmd/src/table.rs | grep -oE '"[a-z_]+"' | tr -d '"' | tr '\n' ' ')
[ -n "$NAMES" ] || NAMES=$(grep -oE 'cmd!\(\s*"[a-z_]+"' -z kiwi/cmd/src/table.rs | tr '\0' '\n' | grep -oE '"[a-z_]+"' | tr -d '"' | tr '\n' ' ')
python3 - "$PORT" $NAMES <<'PY'
import socket, sys
port, names = int(sys.argv[1]), sys.argv[2:]
def call(sock, *args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    sock.sendall(out)
s = socket.create_connection(("127.0.0.1", port))
def read_all(sock, marker_cmd):
    # Ask for PING afterwards and read until its reply, so we know the previous reply is complete.
    data = b""
    call(sock, "PING", marker_cmd)
    end = b"$%d\r\n%s\r\n" % (len(marker_cmd), marker_cmd.encode())
    while not data.endswith(end):
        data += sock.recv(1 << 20)
    return data[: -len(end)]
call(s, "HELLO", "3"); read_all(s, "m0")
for kind in ["info", "docs"]:
    call(s, "COMMAND", kind.upper(), *names)
    body = read_all(s, "m-" + kind)
    open(f"kiwi/cmd/data/redis-7.0-command-{kind}.resp", "wb").write(body)
    print(kind, len(body), "bytes for", len(names), "commands")
PY
