#!/usr/bin/env bash
# Builds convkit (Release) and runs convkit_bench at 1 and 2 threads, in both layouts, every figure measured in this
# run against the 2048^3 SGEMM peak, bare OpenBLAS on the layer's own GEMM shape, and oneDNN in its preferred layouts
# (about 6 minutes). Installs missing packages first, oneDNN (libdnnl-dev) included.
#   1. the whole layer suite, strict math: auto and im2col_gemm  -> build/release/convkit_bench.{txt,json,csv,svg}
#   2. the suite's 3x3 stride-1 layers, fast math: auto (which then picks Winograd), winograd and im2col_gemm
#                                                               -> build/release/convkit_bench_fast.{txt,json,csv,svg}
#   3. shared cores: the whole suite, auto and oneDNN, with one busy process beside every measurement, and each
#      layer's 2-thread time over its 1-thread time                -> build/release/convkit_bench_shared.txt
#   4. the depthwise layers of real networks (benchmarks/depthwise.txt), auto
#                                                          -> build/release/convkit_bench_depthwise.{txt,json,csv}
#   5. whole network blocks with fused epilogues, fused against unfused and oneDNN with post-ops
#                                                          -> build/release/convkit_bench_blocks.txt
#   6. the suite's auto plans on convkit's own workers and on a caller's thread pool (Plan::run_on), alternated
#                                                          -> build/release/convkit_bench_pool.txt
#   7. what making plans costs per layer: from the raw weights, from shared PackedWeights, saving and loading them
#                                                          -> build/release/convkit_bench_creation.txt
#   8. transposed convolutions of real decoders (benchmarks/decoder_layers.txt: U-Net, DCGAN, FCN, HiFi-GAN), the auto
#      plan against oneDNN's deconvolution, alternated, with the difference of their outputs
#                                                          -> build/release/convkit_bench_transposed.txt
# Extra arguments go to every run of convkit_bench (--help lists them), e.g. scripts/bench.sh --threads=2
# The Google Benchmark suite (per-algorithm micro-benchmarks, plans on the tiny shapes) is build/release/benchmarks/bench_conv.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's oneDNN CMake config requires OpenCL's development files, or CMake does not find oneDNN at all.
scripts/install-deps.sh libdnnl-dev ocl-icd-opencl-dev opencl-headers
# The tools choose OpenBLAS's best kernels for this CPU themselves (benchmarks/blas_core.hpp) and print which ran; a
# core forced in the environment (some machines set OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs) would measure a
# slower BLAS. To time a particular core, run build/release/benchmarks/convkit_bench with it set.
unset OPENBLAS_CORETYPE
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -Wno-dev
cmake --build build/release -j "$(nproc)" --target convkit_bench bench_conv
bench=build/release/benchmarks/convkit_bench
out=build/release/convkit_bench
"$bench" --layout=both --json="$out.json" --csv="$out.csv" --svg="$out.svg" "$@" | tee "$out.txt"
layers_3x3=resnet50_res2_3x3,resnet50_res3_3x3,resnet50_res4_3x3,resnet50_res5_3x3,vgg16_conv1_2,resnet50_res4_3x3_b8
"$bench" --layers="$layers_3x3" --math=fast --algorithms=auto,winograd,im2col_gemm --layout=both \
  --json="${out}_fast.json" --csv="${out}_fast.csv" --svg="${out}_fast.svg" "$@" | tee "${out}_fast.txt"
"$bench" --neighbours=1 --algorithms=auto --layout=both "$@" | tee "${out}_shared.txt"
"$bench" --suite=benchmarks/depthwise.txt --algorithms=auto --layout=both \
  --json="${out}_depthwise.json" --csv="${out}_depthwise.csv" "$@" | tee "${out}_depthwise.txt"
"$bench" --blocks --layout=both "$@" | tee "${out}_blocks.txt"
"$bench" --pool --layout=both "$@" | tee "${out}_pool.txt"
"$bench" --creation --layout=both "$@" | tee "${out}_creation.txt"
"$bench" --transposed --layout=both --min-time=0.2 "$@" | tee "${out}_transposed.txt"
