// The Winograd transforms compiled for avx2+fma (this file alone gets its ISA flags; see lib/CMakeLists.txt).
#define CONVKIT_ISA_NAMESPACE isa_avx2_fma
#include "winograd_ukernels_impl.hpp"

namespace convkit::detail {

const WinogradUkernels& winograd_ukernels_avx2_fma() {
  return isa_avx2_fma::make_winograd_ukernels<xsimd::fma3<xsimd::avx2>>();
}

}  // namespace convkit::detail
