// The Winograd transforms compiled for sse2 (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_sse2
#include "winograd_ukernels_impl.hpp"

namespace convkit::detail {

const WinogradUkernels& winograd_ukernels_sse2() { return isa_sse2::make_winograd_ukernels<xsimd::sse2>(); }

}  // namespace convkit::detail
