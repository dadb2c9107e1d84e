#!/usr/bin/env bash
# Runs the madsim simulations (the real server code on simulated time,
# network and nodes). Replay a seed: MADSIM_TEST_SEED=<n> ci/sim.sh
# Extra arguments go to the test binary, e.g. a test name filter.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
# Its own target dir: different RUSTFLAGS would otherwise invalidate the
# normal build (and RocksDB is linked from the prebuilt archive, not rebuilt).
export RUSTFLAGS="--cfg madsim"
exec cargo test -p kiwi-sim --release --target-dir target/madsim -- "$@"
