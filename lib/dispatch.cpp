// Choosing the algorithm: an ordered list of candidates, the first that accepts the problem wins, the reference
// (which accepts everything) last.
#include "algorithms.hpp"
#include "error.hpp"

#include <array>

namespace convkit::detail {
namespace {

std::string direct_declines(const Problem&) {
  return "the direct algorithm is not available in this version of convkit";
}

std::unique_ptr<Kernel> create_direct(const KernelArguments&) {
  fail(Status::InternalError, "the direct algorithm was created although it declines every problem");
}

// gemm_1x1 first: it reads a unit-stride unpadded 1x1 input in place. im2col_gemm accepts every shape the BLAS can
// index; the reference takes the rest.
std::array<const AlgorithmEntry*, 3> auto_candidates() {
  return {&gemm_1x1_algorithm(), &im2col_gemm_algorithm(), &reference_algorithm()};
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
    default:
      fail(Status::InternalError, "no entry for algorithm ", static_cast<int>(algorithm));
  }
}

}  // namespace

const AlgorithmEntry& direct_algorithm() {
  static const AlgorithmEntry entry{Algorithm::Direct, direct_declines, create_direct};
  return entry;
}

const AlgorithmEntry& choose_algorithm(const Problem& problem, Algorithm requested) {
  if (requested != Algorithm::Auto) {
    const AlgorithmEntry& entry = entry_of(requested);
    const std::string reason = entry.declines(problem);
    if (!reason.empty()) fail(Status::Unsupported, "algorithm ", algorithm_name(requested), " declines: ", reason);
    return entry;
  }
  for (const AlgorithmEntry* candidate : auto_candidates()) {
    if (candidate->declines(problem).empty()) return *candidate;
  }
  fail(Status::InternalError, "no algorithm accepted the problem, not even the reference");
}

}  // namespace convkit::detail
