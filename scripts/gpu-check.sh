#!/usr/bin/env bash
# GPU checks for a machine with an NVIDIA GPU but no Rust toolchain.
#
#   bash scripts/gpu-check.sh build   # here: builds the CUDA test and bench binaries
#                                     # into target/gpu-check (carry that folder)
#   bash scripts/gpu-check.sh run     # on the GPU machine: runs them; output in $OUT or ./gpu-check-out
#
# `run` sets ZKINFER_REQUIRE_GPU=1, so a missing device fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/gpu-check

case "${1:-}" in
build)
    rm -rf "$dest" && mkdir -p "$dest"
    copy_test() { # package, test target
        local exe
        exe=$(cargo test --release -p "$1" --features zkinfer-gpu/cuda --test "$2" --no-run --message-format=json 2>/dev/null |
            python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$2" | tail -1)
        cp "$exe" "$dest/$1-$2"
    }
    copy_test zkinfer-gpu device
    copy_test zkinfer-circuits accel
    cargo bench -p zkinfer-benches --features cuda --bench msm_ntt --no-run
    exe=$(ls -t target/release/deps/msm_ntt-* | grep -v '\.d$' | head -1)
    cp "$exe" "$dest/msm_ntt"
    strip "$dest"/zkinfer-* "$dest/msm_ntt" || true
    du -sh "$dest"
    ;;
run)
    out=${OUT:-gpu-check-out}
    mkdir -p "$out"
    export ZKINFER_REQUIRE_GPU=1
    nvidia-smi | tee "$out/nvidia-smi.txt" || true
    export ZKINFER_FIXTURES="$PWD/fixtures/models"
    "$dest/zkinfer-gpu-device" --test-threads 1 --nocapture 2>&1 | tee "$out/device-tests.txt"
    "$dest/zkinfer-circuits-accel" --nocapture 2>&1 | tee "$out/accel-tests.txt"
    "$dest/msm_ntt" --bench --noplot 2>&1 | tee "$out/msm-ntt-bench.txt"
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
