// The direct kernels compiled for sse4.2 (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_sse4_2
#include "direct_ukernels_impl.hpp"

namespace convkit::detail {

const DirectUkernels& direct_ukernels_sse4_2() { return isa_sse4_2::make_direct_ukernels<xsimd::sse4_2>("sse4.2"); }

}  // namespace convkit::detail
