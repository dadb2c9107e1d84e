#!/usr/bin/env bash
# The simulator's planted bugs (canary features, docs/simulation.md) against
# real processes: builds kiwi-server once per canary and runs kiwi-jepsen on
# it, which must judge the run INVALID. A canary that survives fails this
# script. Each canary gets up to ATTEMPTS runs of SECONDS s.
#
# usage: ci/jepsen-canaries.sh [feature ...]   (default: all canaries)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
SECONDS_LIMIT="${SECONDS_LIMIT:-30}"
ATTEMPTS="${ATTEMPTS:-5}"
CANARIES=("$@")
[ ${#CANARIES[@]} -gt 0 ] || CANARIES=(canary-stale-read canary-early-ack canary-skip-apply-index canary-watch-ignored)
# The faults that expose each planted bug.
nemesis_for() {
    case "$1" in
        canary-stale-read) echo partition ;;            # an isolated old leader reads locally
        canary-early-ack) echo kill,partition ;;        # an acknowledged write never commits
        canary-skip-apply-index) echo kill ;;           # a restart re-applies entries
        canary-openraft-read-barrier) echo pause ;;     # a resumed old leader reads locally
        *) echo kill,pause,partition,member ;;
    esac
}
cargo build --bin kiwi-jepsen
survivors=()
for canary in "${CANARIES[@]}"; do
    echo "==> $canary"
    cargo build -p kiwi-server --bin kiwi-server --features "$canary" --target-dir target/canary
    caught=no
    for attempt in $(seq 1 "$ATTEMPTS"); do
        set +e
        target/debug/kiwi-jepsen test --server target/canary/debug/kiwi-server \
            --time-limit "$SECONDS_LIMIT" --rate 200 --nemesis "$(nemesis_for "$canary")" \
            --results target/jepsen-canaries/"$canary" \
            > target/canary/"$canary".out 2>&1
        rc=$?
        set -e
        # A failed run keeps its work directory (data, node logs) for
        # debugging; a canary's failure is expected: drop it.
        kept="$(sed -n 's/^kiwi-jepsen: kept //p' target/canary/"$canary".out)"
        [ -z "$kept" ] || rm -rf "$kept"
        grep -E '^(VALID|INVALID)$' target/canary/"$canary".out || true
        if [ "$rc" -eq 1 ]; then
            caught=yes
            echo "canary caught: $canary on run $attempt"
            grep -E '^(key |cannot linearize|recovery)' target/canary/"$canary".out | head -n 3
            break
        elif [ "$rc" -ne 0 ]; then
            echo "kiwi-jepsen failed to run (exit $rc)"; cat target/canary/"$canary".out; exit 2
        fi
    done
    [ "$caught" = yes ] || survivors+=("$canary")
done
if [ ${#survivors[@]} -gt 0 ]; then
    echo "canaries NOT caught by real-process runs: ${survivors[*]}"
    exit 1
fi
echo "every canary caught"
