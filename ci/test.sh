#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs system packages,
# builds RocksDB once, checks formatting and lints, then runs every test:
# unit, integration (real kiwi-server + redis-server + redis-cli processes),
# the differential test against redis-server, the madsim simulations, and a
# bounded run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=0
command -v redis-server >/dev/null 2>&1 || need_pkgs=1
command -v redis-cli >/dev/null 2>&1 || need_pkgs=1
command -v clang >/dev/null 2>&1 || need_pkgs=1
command -v openssl >/dev/null 2>&1 || need_pkgs=1
dpkg -s libclang-dev >/dev/null 2>&1 || need_pkgs=1
if [ "$need_pkgs" = 1 ]; then
    SUDO=""
    [ "$(id -u)" != 0 ] && SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y libclang-dev clang redis-server redis-tools openssl
fi

# Each step also prints the free disk and target/'s size: a full disk fails a
# build with an error far from its cause.
step() {
    printf '\n==> %s (%s; disk free %s, target/ %s)\n' "$1" "$(date +%T)" \
        "$(df -h --output=avail . | tail -n1 | tr -d ' ')" \
        "$(du -sh target 2>/dev/null | cut -f1)"
}

step "RocksDB (compiled once, then linked from target/rocksdb-prebuilt)"
source ci/rocksdb-env.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (includes the runtime-layer rule in clippy.toml)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy, madsim build (the runtime layer's simulated side)"
RUSTFLAGS="--cfg madsim" cargo clippy --workspace --all-targets --release --target-dir target/madsim -- -D warnings

step "tests (cargo nextest)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

step "madsim simulations (the nemesis runs SIM_SEEDS seeds x 60 simulated s)"
SIM_SEEDS="${SIM_SEEDS:-100}" ci/sim.sh

step "canaries: the simulator catches each planted bug within 200 seeds"
ci/sim-canaries.sh

step "Jepsen-style run: real processes under kill/pause/partition/membership faults (kiwi-jepsen)"
cargo run -p kiwi-jepsen -- test --server target/debug/kiwi-server --time-limit 30 --rate 100 \
    --nemesis kill,pause,partition,member --workload all --results target/jepsen-results

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    for target in resp_decode exec_commands raft_codec; do
        step "fuzz $target for ${FUZZ_SECONDS}s (ci/fuzz.sh; FUZZ_SECONDS=0 skips)"
        ci/fuzz.sh "$target" "$FUZZ_SECONDS"
    done
fi

step "all green"
