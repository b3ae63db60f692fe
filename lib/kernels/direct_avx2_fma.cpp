// The direct kernels compiled for avx2+fma (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx2_fma
#include "direct_ukernels_impl.hpp"

namespace convkit::detail {

const DirectUkernels& direct_ukernels_avx2_fma() {
  return isa_avx2_fma::make_direct_ukernels<xsimd::fma3<xsimd::avx2>>("avx2+fma");
}

}  // namespace convkit::detail
