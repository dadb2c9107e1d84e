#!/usr/bin/env bash
# Longer Jepsen-style runs against the release server than CI's 30 s one.
#
# usage: ci/jepsen.sh [seconds] [nemesis] [workload] [nodes]
#   defaults: 120 s, kill,pause,partition,member, all, 5 nodes
# Reports land in results/<time>/ (index.html, history.edn, report.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
SECONDS_LIMIT="${1:-120}"
NEMESIS="${2:-kill,pause,partition,member}"
WORKLOAD="${3:-all}"
NODES="${4:-5}"
cargo build --release --bin kiwi-server --bin kiwi-jepsen
target/release/kiwi-jepsen test --server target/release/kiwi-server \
    --nodes "$NODES" --time-limit "$SECONDS_LIMIT" --nemesis "$NEMESIS" \
    --workload "$WORKLOAD" --rate 200
