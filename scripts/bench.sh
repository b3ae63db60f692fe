#!/usr/bin/env bash
# Builds convkit (Release) and runs the benchmarks on the layer suite, at 1 and 2 threads, with a 2048^3 SGEMM as the
# baseline of the same run. Installs missing packages first. Extra arguments go to Google Benchmark, e.g.
#   scripts/bench.sh --benchmark_filter='resnet50'
# The JSON results are written to build/release/bench_conv.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -Wno-dev
cmake --build build/release -j "$(nproc)" --target bench_conv
build/release/benchmarks/bench_conv --benchmark_out=build/release/bench_conv.json --benchmark_out_format=json "$@"
