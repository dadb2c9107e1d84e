#!/usr/bin/env bash
# Long soak of the fault-injection simulation: N seeds (default 1000) from
# FIRST (default 1), each 60 simulated seconds of faults and clients, every
# history checked for linearizability. Prints one line per seed, then the
# totals with simulated seconds per wall second; a failing seed stops its
# share of the soak and prints the one line that replays it.
#
# JOBS processes (default: one per CPU core) each run a contiguous share of
# the seeds on one copy of the test binary (a rebuild during the soak does
# not change what runs). Each process prints its own speed; the last line
# adds them up: simulated seconds of all processes per wall second of the
# soak. Logs: $SOAK_DIR (default a temp directory), one per process.
#
# usage: [JOBS=2] [SOAK_DIR=dir] ci/sim-soak.sh [N] [FIRST]
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
export RUSTFLAGS="--cfg madsim"
N="${1:-1000}"
FIRST="${2:-1}"
JOBS="${JOBS:-$(nproc)}"
[ "$JOBS" -ge 1 ] || JOBS=1
[ "$JOBS" -le "$N" ] || JOBS="$N"
SOAK_DIR="${SOAK_DIR:-$(mktemp -d)}"
mkdir -p "$SOAK_DIR"

bin=$(cargo test -p kiwi-sim --release --target-dir target/madsim --test nemesis --no-run \
    --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "nemesis" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "sim-soak: no nemesis test binary" >&2; exit 1; }
cp "$bin" "$SOAK_DIR/nemesis"

# One share of the seeds: its log in full, its seed and total lines echoed.
run_job() { # first share log
    (cd sim && SIM_SEEDS="$2" MADSIM_TEST_SEED="$1" \
        "$SOAK_DIR/nemesis" nemesis_histories_are_linearizable --nocapture 2>&1) \
        | tee "$3" | { grep --line-buffered -E '^(seed|nemesis:)' || true; }
    return "${PIPESTATUS[0]}"
}

start_s=$(date +%s.%N)
pids=()
first="$FIRST"
for j in $(seq 0 $((JOBS - 1))); do
    # Shares differ by at most one seed.
    share=$(( N / JOBS + (j < N % JOBS ? 1 : 0) ))
    echo "sim-soak: job $j runs seeds $first..$((first + share - 1)) (log $SOAK_DIR/job$j.log)"
    run_job "$first" "$share" "$SOAK_DIR/job$j.log" &
    pids+=($!)
    first=$((first + share))
done

failed=0
for j in "${!pids[@]}"; do
    wait "${pids[$j]}" || { failed=1; echo "sim-soak: job $j FAILED (log $SOAK_DIR/job$j.log)"; }
done
wall_s=$(python3 -c "import time; print(time.time() - $start_s)")
grep -h -E 'panicked|replay:' "$SOAK_DIR"/job*.log || true
# "nemesis: <n> seeds, <sim> simulated s in <wall> wall s (...)" per job.
{ grep -h "^nemesis:" "$SOAK_DIR"/job*.log || true; } | python3 -c "
import re, sys
seeds = sim = 0.0
for line in sys.stdin:
    m = re.match(r'nemesis: (\d+) seeds, (\d+) simulated s', line)
    if m:
        seeds += int(m.group(1)); sim += float(m.group(2))
wall = float('$wall_s')
print(f'sim-soak: {int(seeds)} seeds in {$JOBS} jobs, {sim:.0f} simulated s in {wall:.1f} wall s: '
      f'{sim / wall:.0f} simulated s per wall s together')
"
exit "$failed"
