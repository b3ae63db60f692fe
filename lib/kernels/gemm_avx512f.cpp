// convkit's GEMM kernels compiled for avx512f (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx512f
#include "gemm_ukernels_impl.hpp"

namespace convkit::detail {

const GemmUkernels& gemm_ukernels_avx512f() {
  return isa_avx512f::make_gemm_ukernels<xsimd::avx512f, 12, 2>("avx512f");
}

}  // namespace convkit::detail
