#!/usr/bin/env bash
# Long soak of the fault-injection simulation: N seeds (default 1000) from
# FIRST (default 1), each 60 simulated seconds of faults and clients, every
# history checked for linearizability. Prints one line per seed, then the
# totals with simulated seconds per wall second; a failing seed stops the
# soak and prints the one line that replays it.
#
# usage: ci/sim-soak.sh [N] [FIRST]
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
export RUSTFLAGS="--cfg madsim"
export SIM_SEEDS="${1:-1000}" MADSIM_TEST_SEED="${2:-1}"
exec cargo test -p kiwi-sim --release --target-dir target/madsim --test nemesis \
    -- nemesis_histories_are_linearizable --nocapture
