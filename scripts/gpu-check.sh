#!/usr/bin/env bash
# The device check of the `gpu` feature, for a machine with an NVIDIA GPU:
#   1. the GPU tests (f32 GPU against f64 CPU within backend::GPU_RTOL, and the
#      fallback test, which must take its GPU branch here);
#   2. `hairtrigger passes --device cuda`: the gradient of [1024, w, 1024, 10] at
#      w = 1,024 … 65,536 on the GPU, with the f64 CPU run while it finishes a
#      width within a minute: times, GFLOP/s, speedup, agreement (written to
#      $OUT_DIR/passes.csv and .json);
#   3. `hairtrigger meta-device`, when the binary has it: the meta-learning loop of
#      the toy task on the GPU beside the CPU (time per meta-step, agreement of
#      the meta-gradient and of the outcome).
#
# Usage: bash scripts/gpu-check.sh [widths] [cpu budget s]
#
# Without cargo on the device (a machine with no Rust), build here with
#   cargo build --release --features gpu --bin hairtrigger
#   cargo test --release --features gpu --test backend --no-run
# copy the two binaries into a folder (say .devbin/, as hairtrigger and
# backend-test) and run with HT_BIN_DIR=.devbin.
#
# cudarc (built against CUDA 12.6) loads libcublas.so / libnvrtc.so or their
# .so.12 names. On a CUDA 13 machine only the .so.13 files may exist; then this
# script links them under the names cudarc looks for, in a temporary folder put
# first on LD_LIBRARY_PATH (the APIs the crate calls are unchanged in 13).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT_DIR:-target/gpu-check}"
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv || true

libdir=$(mktemp -d)
for lib in cublas cublasLt nvrtc nvrtc-builtins; do
  if ! ldconfig -p | grep -q "lib$lib\.so \|lib$lib\.so\.12 "; then
    found=$(find / -xdev \( -name "lib$lib.so.1[23]*" -o -name "lib$lib.so" \) 2>/dev/null \
      | grep -v "/proc/" | sort | tail -1 || true)
    if [ -n "$found" ]; then
      ln -sf "$found" "$libdir/lib$lib.so"
      ln -sf "$found" "$libdir/lib$lib.so.12"
      echo "linked $found as lib$lib.so"
      # the library's own folder too (cuBLAS needs cuBLASLt beside it)
      export LD_LIBRARY_PATH="$(dirname "$found"):${LD_LIBRARY_PATH:-}"
    fi
  fi
done
export LD_LIBRARY_PATH="$libdir:${LD_LIBRARY_PATH:-}"

if [ -n "${HT_BIN_DIR:-}" ]; then
  HT="$HT_BIN_DIR/hairtrigger"
  TESTS=("$HT_BIN_DIR/backend-test")
else
  cargo build --release --features gpu --bin hairtrigger
  HT=target/release/hairtrigger
  TESTS=(cargo test --release --features gpu --test backend --)
fi

echo "== GPU tests"
"${TESTS[@]}" --include-ignored --nocapture --test-threads 1

echo "== GPU vs CPU sweep"
"$HT" passes --device cuda \
  --widths "${1:-1024,2048,4096,8192,16384,32768,65536}" --cpu-budget "${2:-60}" \
  --out "$OUT_DIR"

if "$HT" meta-device --help >/dev/null 2>&1; then
  echo "== meta-learning loop, GPU beside CPU"
  "$HT" meta-device --device cuda --steps "${META_STEPS:-20000}" --out "$OUT_DIR"
fi
