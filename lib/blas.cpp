#include "blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <mutex>
#include <string>

#include "threading.hpp"

namespace convkit::detail {
namespace {

// OpenBLAS kernel families by the widest vector ISA they use; unknown names rank -1 and never count as degraded.
int isa_rank(std::string core) {
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* name : {"skylakex", "cooperlake", "sapphirerapids"})
    if (core == name) return 3;
  for (const char* name : {"haswell", "zen", "excavator"})
    if (core == name) return 2;
  for (const char* name : {"sandybridge", "bulldozer", "piledriver", "steamroller"})
    if (core == name) return 1;
  for (const char* name :
       {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "nano", "barcelona", "bobcat", "opteron",
        "opteron_sse3", "athlon", "katmai", "coppermine", "northwood", "banias"})
    if (core == name) return 0;
  return -1;
}

// The best OpenBLAS kernel family this CPU and OS can run, judged from CPUID (and XCR0, which GCC's checks include).
const char* recommended_core() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  if (__builtin_cpu_supports("avx")) return "SandyBridge";
#endif
  return "";
}

}  // namespace

bool fits_blas_index(std::int64_t value) { return value >= 0 && value <= INT_MAX; }

void sgemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
           std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const BlasThreads single(1);
#if !CONVKIT_HAVE_OPENMP
  // OpenBLAS's serial build, linked without OpenMP, shares its work buffers between calls: two threads of a caller's
  // pool multiplying at once gave other bits than one thread (test_conv_transpose on the BLAS engine), so its calls
  // take turns.
  static std::mutex serial_blas;
  const std::lock_guard<std::mutex> turn(serial_blas);
#endif
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

const BlasInfo& cached_blas_info() {
  static const BlasInfo info = [] {
    BlasInfo result;
    result.library = openblas_get_config();
    result.core = openblas_get_corename();
    result.recommended_core = recommended_core();
    const int have = isa_rank(result.core);
    const int best = isa_rank(result.recommended_core);
    result.degraded = have >= 0 && best > have;
    return result;
  }();
  return info;
}

}  // namespace convkit::detail
