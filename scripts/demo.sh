#!/usr/bin/env bash
# The main job on a small default. For now: the kernel benchmark suites in quick mode, printing a
# table of our throughput against tfjs (WebGPU on the same device, and wasm) and plain JS.
# Full-size runs: `npx nx run kernels:bench` (writes bench-results/*.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
export LP_NUM_THREADS="${LP_NUM_THREADS:-8}" REPIRL_BENCH_QUICK="${REPIRL_BENCH_QUICK:-1}"
echo "[demo] running the kernel benchmarks (quick sizes; set REPIRL_BENCH_QUICK=0 for full sizes)"
npx nx run kernels:bench --output-style=stream
