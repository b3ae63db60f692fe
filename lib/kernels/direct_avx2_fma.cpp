// The direct kernels compiled for avx2+fma (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx2_fma
#include "direct_kernels_impl.hpp"

namespace convkit::detail {

const DirectKernels& direct_kernels_avx2_fma() { return isa_avx2_fma::make_direct_kernels<xsimd::fma3<xsimd::avx2>>("avx2+fma"); }

}  // namespace convkit::detail
