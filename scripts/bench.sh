#!/usr/bin/env bash
# Builds convkit (Release) and runs convkit_bench on the layer suite at 1 and 2 threads, in both layouts: each
# layer's time and GFLOP/s for auto and im2col_gemm, against the 2048^3 SGEMM peak, bare OpenBLAS on the layer's own
# GEMM shape, and oneDNN in its preferred layouts, all measured in this run (about 2 minutes). Installs missing
# packages first, oneDNN (libdnnl-dev) included. Extra arguments go to convkit_bench (--help lists them), e.g.
#   scripts/bench.sh --layers=resnet50_res4_3x3 --threads=2
# Writes build/release/convkit_bench.{json,csv,svg} (the SVG is the chart of GFLOP/s per layer against the peak).
# The Google Benchmark suite (per-algorithm micro-benchmarks, plans on the tiny shapes) is build/release/benchmarks/bench_conv.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh libdnnl-dev
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -Wno-dev
cmake --build build/release -j "$(nproc)" --target convkit_bench bench_conv
out=build/release/convkit_bench
build/release/benchmarks/convkit_bench --layout=both --json="$out.json" --csv="$out.csv" --svg="$out.svg" "$@"
