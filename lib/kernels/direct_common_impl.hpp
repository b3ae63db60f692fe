// What the families of direct kernels share: their includes, CONVKIT_UNROLL, and DirectVectors, the vectors of a
// DirectRowsTask's output. Included only by the per-ISA files (through direct_ukernels_impl.hpp), each of which
// defines CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#include <xsimd/xsimd.hpp>

#include "direct_ukernels.hpp"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <cstdint>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_common_impl.hpp"
#endif

#include <type_traits>

#include "activation_impl.hpp"
#include "fused_multiply_add_impl.hpp"

// Loops over register tiles must unroll completely, or the accumulators live in memory.
#if defined(__clang__)
#define CONVKIT_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define CONVKIT_UNROLL _Pragma("GCC unroll 64")
#else
#define CONVKIT_UNROLL
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// The output side of a DirectRowsTask, shared by the kernels for several channels (direct_multichannel_impl.hpp) and
// for one (direct_single_channel_impl.hpp).
template <class Arch>
struct DirectVectors {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  static Batch activate(Batch v, const DirectRowsTask& t) { return activate_batch(v, t); }

  static void store(const Batch& v, const DirectRowsTask& t, float* out, std::int64_t count) {
    if (t.out_col_stride == 1 && count == kWidth) {
      v.store_unaligned(out);
      return;
    }
    alignas(64) float lanes[kWidth];
    v.store_aligned(lanes);
    for (std::int64_t k = 0; k < count; ++k) out[k * t.out_col_stride] = lanes[k];
  }

  // The `count` outputs from out that store(v, t, out, count) writes, gathered alike; lanes beyond are zero.
  static Batch load(const DirectRowsTask& t, const float* out, std::int64_t count) {
    if (t.out_col_stride == 1 && count == kWidth) return Batch::load_unaligned(out);
    alignas(64) float lanes[kWidth] = {};
    for (std::int64_t k = 0; k < count; ++k) lanes[k] = out[k * t.out_col_stride];
    return Batch::load_aligned(lanes);
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
