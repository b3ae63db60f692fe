// Which compiled ISA the vector kernels use: the best the CPU runs, capped by CONVKIT_MAX_ISA. The direct kernels,
// the Winograd transforms and the GEMM kernels always use the same one.
#include "kernels/direct_kernels.hpp"
#include "kernels/gemm_kernels.hpp"
#include "kernels/winograd_kernels.hpp"
#include "tuning.hpp"

#include <xsimd/config/xsimd_cpuid.hpp>

#include <cstdlib>
#include <cstring>

namespace convkit::detail {
namespace {

struct IsaChoice {
  const char* cap_name;  // value of CONVKIT_MAX_ISA that selects it as the ceiling
  bool available;
  const DirectKernels& (*direct)();
  const WinogradKernels& (*winograd)();
  const GemmKernels& (*gemm)();  // null: the GEMM path calls the BLAS
};

const IsaChoice& choose_isa() {
  const auto cpu = xsimd::available_architectures();
  // Best first.
  static const IsaChoice choices[] = {
      {"avx512f", cpu.avx512f != 0, direct_kernels_avx512f, winograd_kernels_avx512f, gemm_kernels_avx512f},
      {"avx2", cpu.fma3_avx2 != 0, direct_kernels_avx2_fma, winograd_kernels_avx2_fma, gemm_kernels_avx2_fma},
      {"sse4.2", cpu.sse4_2 != 0, direct_kernels_sse4_2, winograd_kernels_sse4_2, nullptr},
      {"sse2", true, direct_kernels_sse2, winograd_kernels_sse2, nullptr},  // the x86-64 baseline
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

const DirectKernels& direct_kernels() {
  static const DirectKernels& kernels = chosen_isa().direct();
  return kernels;
}

const WinogradKernels& winograd_kernels() {
  static const WinogradKernels& kernels = chosen_isa().winograd();
  return kernels;
}

const GemmKernels* gemm_kernels() {
  static const GemmKernels* kernels = chosen_isa().gemm != nullptr ? &chosen_isa().gemm() : nullptr;
  return kernels;
}

}  // namespace convkit::detail
