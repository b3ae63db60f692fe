#!/usr/bin/env bash
# The test suite under the sanitizers, as CI runs it:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (GCC), on the build without OpenMP (CONVKIT_OPENMP=OFF, which
#      links OpenBLAS's serial build): every test but the package consumers (which build their own programs without
#      the sanitizer runtime), so the whole suite passes without OpenMP too (scripts/test.sh runs it with OpenMP);
#      multi-threaded runs then go through the tests' own thread pools (Plan::run_on). Any report fails the run:
#      UBSan halts on the first.
#   2. ThreadSanitizer (GCC): convkit's worker pool and caller's pools (test_threading: every unit once, stealing,
#      nested calls, calls from many threads), every implementation on a std::thread pool, then the concurrency
#      tests (many plans from many threads, one plan from four threads, four threads making plans from one
#      PackedWeights).
#      Every convkit call in the latter runs single-threaded (CONVKIT_STRESS_PLAN_THREADS=1, OMP_NUM_THREADS=1):
#      OpenBLAS's OpenMP threads are not built for ThreadSanitizer, which cannot see their synchronisation.
# The per-ISA kernel files build at -O1 (CONVKIT_KERNEL_OPTIONS): instrumented at -O2, GCC spends most of CI's time
# on their unrolled register tiles; at -O1 seconds. Everything else builds as RelWithDebInfo.
# Usage: scripts/sanitize.sh [asan|tsan] (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
which=${1:-all}
common=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONVKIT_KERNEL_OPTIONS=-O1 -DCONVKIT_BUILD_BENCHMARKS=OFF -DCONVKIT_BUILD_EXAMPLES=OFF -Wno-dev)

if [ "$which" = all ] || [ "$which" = asan ]; then
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B build/asan "${common[@]}" -DCONVKIT_OPENMP=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags"
  cmake --build build/asan -j "$jobs"
  # allocator_may_return_null: the out-of-memory tests ask for terabytes and must get std::bad_alloc, not a report.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_WAIT_POLICY=passive CONVKIT_STRESS_SECONDS=2 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" -E '^package_'
fi

if [ "$which" = all ] || [ "$which" = tsan ]; then
  flags="-fsanitize=thread -fno-omit-frame-pointer"
  cmake -S . -B build/tsan "${common[@]}" -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags"
  cmake --build build/tsan -j "$jobs" --target test_robustness test_plan test_threading test_implementations \
    test_packed_weights
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/tests/test_threading
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OMP_NUM_THREADS=1 CONVKIT_STRESS_PLAN_THREADS=1
  export CONVKIT_STRESS_SECONDS=5
  build/tsan/tests/test_robustness --test-case='stress*'
  build/tsan/tests/test_plan --test-case='four threads running one plan at once*'
  build/tsan/tests/test_implementations --test-case="on the caller's thread pool*"
  build/tsan/tests/test_packed_weights --test-case='four threads making plans from one packed weights*'
fi
