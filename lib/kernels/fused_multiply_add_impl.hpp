// a * b + c rounded once, on every ISA with FMA, whatever the build's flags. xsimd 8.1 (Debian 12's) has no AVX-512
// fused multiply-add: its xsimd::fma falls back to a multiply and an add there, which GCC fuses only when it
// contracts the expression, and a sanitizer build did not (the AVX-512 kernels then rounded twice, and their error on
// long reductions grew from 1.37x to 1.58x OpenBLAS's). Included only by the per-ISA kernels, after they define
// CONVKIT_ISA_NAMESPACE.
#pragma once

#include <immintrin.h>

#include <type_traits>
#include <xsimd/xsimd.hpp>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including fused_multiply_add_impl.hpp"
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
xsimd::batch<float, Arch> fused_multiply_add(xsimd::batch<float, Arch> a, xsimd::batch<float, Arch> b,
                                             xsimd::batch<float, Arch> c) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return _mm512_fmadd_ps(a, b, c);
#endif
  return xsimd::fma(a, b, c);
}

// A loaded vector that several FMAs share stays in its register: without this GCC folded the load into each FMA
// as a memory operand, loading the vector once per use (a depthwise NHWC tile of 3x3 at stride 1 then loaded every
// input three times, and ran measurably slower in L1).
template <class Arch>
void keep_in_register(xsimd::batch<float, Arch>& v) {
#if defined(__GNUC__)
  auto& raw = v.data;
  asm("" : "+v"(raw));
#else
  (void)v;
#endif
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
