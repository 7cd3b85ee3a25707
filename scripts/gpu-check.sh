#!/usr/bin/env bash
# The device check of the `gpu` feature, for a machine with an NVIDIA GPU:
#   1. the GPU tests (f32 GPU against f64 CPU within backend::GPU_RTOL, and the
#      fallback test, which must take its GPU branch here);
#   2. `hairtrigger passes --device cuda`: the gradient of [1024, w, 1024, 10] at
#      w = 1,024 … 65,536 on the GPU, with the f64 CPU run while it finishes a
#      width within a minute: times, GFLOP/s, speedup, agreement (written to
#      target/gpu-check/passes.csv and .json).
# Usage: bash scripts/gpu-check.sh [widths] [cpu budget s]
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true

echo "== GPU tests"
cargo test --release --features gpu --test backend -- --include-ignored --nocapture

echo "== GPU vs CPU sweep"
cargo run --release --features gpu -- passes --device cuda \
  --widths "${1:-1024,2048,4096,8192,16384,32768,65536}" --cpu-budget "${2:-60}" \
  --out target/gpu-check
