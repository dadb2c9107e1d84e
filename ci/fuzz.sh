#!/usr/bin/env bash
# Runs one cargo-fuzz target for a bounded time on the stable toolchain.
#
# usage: ci/fuzz.sh <target> <seconds> [extra libFuzzer flags]
#   targets: resp_decode, exec_commands, raft_codec   (fuzz/fuzz_targets/)
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer); RUSTC_BOOTSTRAP=1
# unlocks them on stable. The committed corpus is read-only here: new
# interesting inputs go to a scratch directory (copy them into
# fuzz/corpus/<target>/ by hand when worth keeping). Crashes land in
# fuzz/artifacts/<target>/ and fail the run.
#
# SANITIZER (address | none): resp_decode runs under AddressSanitizer (it is
# fast either way). exec_commands defaults to none: its cost is RocksDB,
# which is C++ built without ASan anyway, and the Rust above it is safe
# code; none triples its executions per second. raft_codec defaults to none
# too: it is safe Rust (serde + postcard) end to end. Panics abort under both.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="$1"
SECONDS_BUDGET="$2"
shift 2

source ci/rocksdb-env.sh
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

case "$TARGET" in
    exec_commands | raft_codec) SANITIZER="${SANITIZER:-none}" ;;
    *) SANITIZER="${SANITIZER:-address}" ;;
esac

# Without a sanitizer, targets that declare it (exec_commands) run on the
# server's allocator; ASan needs the system one.
FEATURES=()
[ "$SANITIZER" = none ] && FEATURES=(--features mimalloc)

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cargo fuzz run --sanitizer "$SANITIZER" "${FEATURES[@]}" "$TARGET" "$SCRATCH" "fuzz/corpus/$TARGET" -- \
    -max_total_time="$SECONDS_BUDGET" \
    -dict=fuzz/dict/resp.dict \
    -max_len=4096 \
    -timeout=10 \
    -rss_limit_mb=4096 \
    -print_final_stats=1 \
    "$@"
