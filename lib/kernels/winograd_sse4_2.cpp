// The Winograd transforms compiled for sse4.2 (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_sse4_2
#include "winograd_ukernels_impl.hpp"

namespace convkit::detail {

const WinogradUkernels& winograd_ukernels_sse4_2() { return isa_sse4_2::make_winograd_ukernels<xsimd::sse4_2>(); }

}  // namespace convkit::detail
