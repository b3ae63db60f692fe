// Which compiled ISA the vector kernels use: the best the CPU runs, capped by CONVKIT_MAX_ISA. The direct kernels,
// the Winograd transforms and the GEMM kernels always use the same one.
#include <cstdlib>
#include <cstring>
#include <xsimd/config/xsimd_cpuid.hpp>

#include "kernels/direct_ukernels.hpp"
#include "kernels/gemm_ukernels.hpp"
#include "kernels/winograd_ukernels.hpp"
#include "tuning.hpp"

namespace convkit::detail {
namespace {

struct IsaChoice {
  const char* cap_name;  // value of CONVKIT_MAX_ISA that selects it as the ceiling
  bool available;
  const DirectUkernels& (*direct)();
  const WinogradUkernels& (*winograd)();
  const GemmUkernels& (*gemm)();  // null: the GEMM path calls the BLAS
};

const IsaChoice& choose_isa() {
  const auto cpu = xsimd::available_architectures();
  // Best first.
  static const IsaChoice choices[] = {
      {"avx512f", cpu.avx512f != 0, direct_ukernels_avx512f, winograd_ukernels_avx512f, gemm_ukernels_avx512f},
      {"avx2", cpu.fma3_avx2 != 0, direct_ukernels_avx2_fma, winograd_ukernels_avx2_fma, gemm_ukernels_avx2_fma},
      {"sse4.2", cpu.sse4_2 != 0, direct_ukernels_sse4_2, winograd_ukernels_sse4_2, nullptr},
      {"sse2", true, direct_ukernels_sse2, winograd_ukernels_sse2, nullptr},  // the x86-64 baseline
  };
  // The cap is a debugging and testing switch; an unknown value caps nothing.
  const char* cap = isa_cap();
  bool below_cap = true;
  if (cap != nullptr) {
    for (const IsaChoice& choice : choices)
      if (std::strcmp(cap, choice.cap_name) == 0) below_cap = false;
  }
  for (const IsaChoice& choice : choices) {
    if (!below_cap && std::strcmp(cap, choice.cap_name) == 0) below_cap = true;
    if (below_cap && choice.available) return choice;
  }
  return choices[3];
}

const IsaChoice& chosen_isa() {
  static const IsaChoice& choice = choose_isa();
  return choice;
}

}  // namespace

const DirectUkernels& direct_ukernels() {
  static const DirectUkernels& kernels = chosen_isa().direct();
  return kernels;
}

const WinogradUkernels& winograd_ukernels() {
  static const WinogradUkernels& kernels = chosen_isa().winograd();
  return kernels;
}

const GemmUkernels* gemm_ukernels() {
  static const GemmUkernels* kernels = chosen_isa().gemm != nullptr ? &chosen_isa().gemm() : nullptr;
  return kernels;
}

}  // namespace convkit::detail
