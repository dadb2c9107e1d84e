#!/usr/bin/env bash
# Source this file: it makes every cargo build in this shell link one
# prebuilt static RocksDB instead of compiling its C++ again.
#
# RocksDB's C++ takes 10-15 minutes on 2 cores, and librocksdb-sys recompiles
# it whenever its build inputs change: another profile (dev/release), another
# RUSTFLAGS (the madsim build), or a feature change in its build dependencies.
# We compile it once into target/rocksdb-prebuilt/ and point
# ROCKSDB_LIB_DIR there; the build script then only runs bindgen and links.
set -euo pipefail
KIWI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIWI_ROCKSDB_DIR="${KIWI_ROCKSDB_DIR:-$KIWI_ROOT/target/rocksdb-prebuilt}"

if [ ! -f "$KIWI_ROCKSDB_DIR/librocksdb.a" ]; then
    mkdir -p "$KIWI_ROCKSDB_DIR"
    found="$(ls -t "$KIWI_ROOT"/target/*/build/librocksdb-sys-*/out/librocksdb.a \
        "$KIWI_ROOT"/target/*/*/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -n1 || true)"
    if [ -z "$found" ]; then
        echo "rocksdb-env: compiling RocksDB once (10-15 min on 2 cores)..." >&2
        (unset ROCKSDB_LIB_DIR ROCKSDB_STATIC RUSTFLAGS;
         cd "$KIWI_ROOT" && cargo build -p kiwi-storage --target-dir "$KIWI_ROOT/target/rocksdb-build" >&2)
        found="$(ls -t "$KIWI_ROOT"/target/rocksdb-build/*/build/librocksdb-sys-*/out/librocksdb.a | head -n1)"
    fi
    cp "$found" "$KIWI_ROCKSDB_DIR/librocksdb.a.tmp"
    mv "$KIWI_ROCKSDB_DIR/librocksdb.a.tmp" "$KIWI_ROCKSDB_DIR/librocksdb.a"
    # The one-off build's object files are a gigabyte nothing links again.
    rm -rf "$KIWI_ROOT/target/rocksdb-build"
fi
export ROCKSDB_LIB_DIR="$KIWI_ROCKSDB_DIR"
export ROCKSDB_STATIC=1
set +euo pipefail
