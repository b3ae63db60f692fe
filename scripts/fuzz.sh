#!/usr/bin/env bash
# Fuzzes the C API with libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer: tests/fuzz/fuzz_conv2d.cpp
# (every valid problem checked against the oracle, every invalid one rejected with the output untouched), then
# tests/fuzz/fuzz_conv_transpose.cpp (the same for transposed and 1-D convolutions and ONNX's output_shape), then
# tests/fuzz/fuzz_packed_weights.cpp (damaged saved weights rejected cleanly, or loaded into a plan that runs). The
# seconds are split among the three: half to the convolutions, a quarter to the transposed and 1-D ones, a quarter to
# the saved weights.
#   scripts/fuzz.sh            about a minute (CI)
#   scripts/fuzz.sh 3600       an hour; any finding is written to build/fuzz/ as crash-*, and the run stops
# fuzz_conv2d starts from the committed seed corpus (tests/fuzz/corpus) and adds what it finds to build/fuzz/corpus;
# fuzz_conv_transpose and fuzz_packed_weights keep their own in build/fuzz/corpus_conv_transpose and
# build/fuzz/corpus_packed_weights.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
packed_seconds=$((seconds / 4))
transposed_seconds=$((seconds / 4))
conv_seconds=$((seconds - packed_seconds - transposed_seconds))
scripts/install-deps.sh clang libclang-rt-14-dev libomp-14-dev
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The per-ISA kernels at -O1, as in scripts/sanitize.sh: with the sanitizers their build is the longest step of this
# script, and the fuzzer looks for bad inputs, not speed.
cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCONVKIT_KERNEL_OPTIONS=-O1 \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link $sanitizers" -DCMAKE_EXE_LINKER_FLAGS="$sanitizers" \
  -DCONVKIT_FUZZ=ON -DCONVKIT_BUILD_TESTS=OFF -DCONVKIT_BUILD_BENCHMARKS=OFF -DCONVKIT_BUILD_EXAMPLES=OFF \
  -DCONVKIT_INSTALL=OFF -Wno-dev
cmake --build build/fuzz -j "$(nproc)" --target fuzz_conv2d fuzz_conv_transpose fuzz_packed_weights
mkdir -p build/fuzz/corpus build/fuzz/corpus_conv_transpose build/fuzz/corpus_packed_weights
# One convkit thread per call (libFuzzer runs one input at a time; the sweeps cover the threads), and OpenMP kept
# from spinning between calls.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
cd build/fuzz
./tests/fuzz/fuzz_conv2d -max_total_time="$conv_seconds" -max_len=64 -timeout=20 -rss_limit_mb=4096 \
  -print_final_stats=1 corpus ../../tests/fuzz/corpus
./tests/fuzz/fuzz_conv_transpose -max_total_time="$transposed_seconds" -max_len=64 -timeout=20 -rss_limit_mb=4096 \
  -print_final_stats=1 corpus_conv_transpose
./tests/fuzz/fuzz_packed_weights -max_total_time="$packed_seconds" -max_len=256 -timeout=20 -rss_limit_mb=4096 \
  -print_final_stats=1 corpus_packed_weights
