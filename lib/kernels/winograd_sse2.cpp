// The Winograd transforms compiled for sse2 (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_sse2
#include "winograd_kernels_impl.hpp"

namespace convkit::detail {

const WinogradKernels& winograd_kernels_sse2() { return isa_sse2::make_winograd_kernels<xsimd::sse2>(); }

}  // namespace convkit::detail
