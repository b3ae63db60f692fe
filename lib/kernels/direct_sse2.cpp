// The direct kernels compiled for sse2 (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_sse2
#include "direct_ukernels_impl.hpp"

namespace convkit::detail {

const DirectUkernels& direct_ukernels_sse2() { return isa_sse2::make_direct_ukernels<xsimd::sse2>("sse2"); }

}  // namespace convkit::detail
