#!/usr/bin/env bash
# Builds the simulation once per canary feature (a planted bug, see
# docs/simulation.md) and checks that the simulation meant for it (the
# fault-injection run, or a targeted scenario) catches it within 200 seeds.
# A canary that survives fails this script.
#
# usage: ci/sim-canaries.sh [feature ...]   (default: all canaries)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/rocksdb-env.sh
export RUSTFLAGS="--cfg madsim"
CANARIES=("$@")
[ ${#CANARIES[@]} -gt 0 ] || CANARIES=(canary-stale-read canary-early-ack canary-skip-apply-index canary-watch-ignored canary-openraft-read-barrier canary-no-vote-fsync canary-wall-clock-reads)
for canary in "${CANARIES[@]}"; do
    echo "==> $canary"
    cargo test -p kiwi-sim --release --target-dir target/madsim --features "$canary" \
        --tests -- canary --nocapture 2>&1 | grep -E '^(canary caught|test |error|thread)'
done
