// Make sure a benchmark measures OpenBLAS's best kernels for this CPU, not its fallback.
//
// Debian's OpenBLAS 0.3.21 is a DYNAMIC_ARCH build that picks its kernel set ("core") from CPUID when the library is
// loaded. CPUs newer than the release (such as this machine's) are not recognised, and it silently falls back to the
// "Prescott" SSE3 kernels -- several times slower than the AVX-512 "SkylakeX" kernels the CPU can run. The only
// override is the environment variable OPENBLAS_CORETYPE, and OpenBLAS reads it once, in its load-time constructor,
// before main() runs. Setting it from main() is therefore too late for this process: the program has to be started
// again with the variable in its environment. ensure_best_blas_core does that, once.
#ifndef CONVKIT_BENCH_BLAS_CORE_HPP
#define CONVKIT_BENCH_BLAS_CORE_HPP

#include <unistd.h>

#include <cerrno>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace convkit_bench {

/// Call first thing in main, with main's own argc/argv (before anything parses or rewrites them).
/// If convkit reports the BLAS as degraded and OPENBLAS_CORETYPE is not set, sets it to the recommended core and
/// re-executes this program (same arguments) so that OpenBLAS picks it up when it loads; does not return then.
/// If the variable is already set (by the user, or by the re-execution) and the BLAS is still degraded, only warns:
/// trying again could not help and would loop. Failures to re-execute are warnings too: the benchmark still runs,
/// just on the slower kernels, which the context lines printed by the benchmark make visible.
inline void ensure_best_blas_core(int argc, char** argv) {
  const convkit::BlasInfo info = convkit::blas_info();
  if (!info.degraded || info.recommended_core.empty()) return;

  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (forced != nullptr && forced[0] != '\0') {
    std::fprintf(stderr,
                 "warning: OPENBLAS_CORETYPE=%s is set but OpenBLAS still runs its %s kernels (this CPU could run "
                 "%s); measuring the degraded BLAS\n",
                 forced, info.core.c_str(), info.recommended_core.c_str());
    return;
  }
  if (argc < 1 || argv == nullptr || argv[0] == nullptr) {
    std::fprintf(stderr, "warning: OpenBLAS runs its %s kernels; set OPENBLAS_CORETYPE=%s for the faster %s ones\n",
                 info.core.c_str(), info.recommended_core.c_str(), info.recommended_core.c_str());
    return;
  }
  if (setenv("OPENBLAS_CORETYPE", info.recommended_core.c_str(), 1) != 0) {
    std::fprintf(stderr, "warning: cannot set OPENBLAS_CORETYPE (%s); measuring OpenBLAS's %s kernels\n",
                 std::strerror(errno), info.core.c_str());
    return;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  // /proc/self/exe rather than argv[0]: argv[0] need not be a path to this binary (PATH lookup, wrappers).
  // argv is main's, so it is null-terminated as execv requires.
  execv("/proc/self/exe", argv);
  // Only reached when execv failed. Leave the variable set (harmless: OpenBLAS has already loaded) and go on.
  std::fprintf(stderr,
               "warning: cannot re-execute with OPENBLAS_CORETYPE=%s (execv: %s); measuring OpenBLAS's %s kernels\n",
               info.recommended_core.c_str(), std::strerror(errno), info.core.c_str());
}

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_BLAS_CORE_HPP
