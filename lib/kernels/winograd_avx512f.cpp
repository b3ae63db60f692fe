// The Winograd transforms compiled for avx512f (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx512f
#include "winograd_ukernels_impl.hpp"

namespace convkit::detail {

const WinogradUkernels& winograd_ukernels_avx512f() { return isa_avx512f::make_winograd_ukernels<xsimd::avx512f>(); }

}  // namespace convkit::detail
