// Choosing the algorithm: an ordered list of candidates; the first that accepts the problem wins, and the reference,
// which accepts everything, is last. Each candidate that passes gives a one-line reason, and CONVKIT_VERBOSE=1
// prints them all.
#include "primitive.hpp"
#include "error.hpp"
#include "tuning.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace convkit::detail {
namespace {

// gemm_1x1 first: it reads a unit-stride unpadded 1x1 input in place. In the fast math mode only, Winograd next, for
// 3x3 stride-1 layers with at least 16 channels per group (convkit_bench, 56x56 at 1 thread, NCHW: 16 channels
// winograd 112 GFLOP/s vs direct 66; 8 channels 15 vs 59). Then direct, which takes the shapes where unfolding and a
// GEMM call cost more than the arithmetic (its auto_declines holds the measured thresholds), then im2col_gemm for
// everything the BLAS can index, and the reference for the rest.
// Null-terminated, built once (a call on the lesson's shapes takes well under a microsecond: no allocation here).
const AlgorithmEntry* const* auto_candidates(MathMode math_mode) {
  static const AlgorithmEntry* const strict[] = {&gemm_1x1_algorithm(), &direct_algorithm(), &im2col_gemm_algorithm(),
                                                 &reference_algorithm(), nullptr};
  static const AlgorithmEntry* const fast[] = {&gemm_1x1_algorithm(),     &winograd_algorithm(),  &direct_algorithm(),
                                               &im2col_gemm_algorithm(), &reference_algorithm(), nullptr};
  return math_mode == MathMode::Fast ? fast : strict;
}

const AlgorithmEntry& entry_of(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::Reference:
      return reference_algorithm();
    case Algorithm::Im2colGemm:
      return im2col_gemm_algorithm();
    case Algorithm::Gemm1x1:
      return gemm_1x1_algorithm();
    case Algorithm::Direct:
      return direct_algorithm();
    case Algorithm::Winograd:
      return winograd_algorithm();
    default:
      fail(Status::InternalError, "no entry for algorithm ", static_cast<int>(algorithm));
  }
}

bool verbose() { return verbose_dispatch(); }

}  // namespace

std::string describe(const Problem& p) {
  return concat("N=", p.batch, " Ci=", p.in_channels, " H=", p.in_height, " W=", p.in_width, " Co=", p.out_channels,
                " K=", p.kernel_height, "x", p.kernel_width, " stride=", p.stride_height, ",", p.stride_width,
                " pad=", p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",", p.pad_right,
                " dilation=", p.dilation_height, ",", p.dilation_width, " groups=", p.groups,
                p.layout == Layout::NCHW ? " NCHW" : " NHWC");
}

const AlgorithmEntry& choose_algorithm(const Problem& problem, Algorithm requested, MathMode math_mode) {
  if (requested != Algorithm::Auto) {
    const AlgorithmEntry& entry = entry_of(requested);
    if (const DeclineReason reason = entry.declines(problem))
      fail(Status::Unsupported, "algorithm ", algorithm_name(requested), " declines ", describe(problem), ": ", reason);
    if (verbose()) std::fprintf(stderr, "convkit: %s (asked for) on %s\n", algorithm_name(requested), describe(problem).c_str());
    return entry;
  }
  for (const AlgorithmEntry* const* next = auto_candidates(math_mode); *next != nullptr; ++next) {
    const AlgorithmEntry* candidate = *next;
    DeclineReason reason = candidate->declines(problem);
    if (reason == nullptr) reason = candidate->auto_declines(problem);
    if (reason == nullptr) {
      if (verbose()) std::fprintf(stderr, "convkit: auto chose %s for %s\n", algorithm_name(candidate->algorithm), describe(problem).c_str());
      return *candidate;
    }
    if (verbose()) std::fprintf(stderr, "convkit:   %s declines: %s\n", algorithm_name(candidate->algorithm), reason);
  }
  fail(Status::InternalError, "no algorithm accepted the problem, not even the reference");
}

}  // namespace convkit::detail
