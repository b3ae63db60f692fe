// The direct kernels compiled for avx512f (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx512f
#include "direct_ukernels_impl.hpp"

namespace convkit::detail {

const DirectUkernels& direct_ukernels_avx512f() { return isa_avx512f::make_direct_ukernels<xsimd::avx512f>("avx512f"); }

}  // namespace convkit::detail
