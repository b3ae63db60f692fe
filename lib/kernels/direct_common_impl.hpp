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

// The first `count` lanes of a vector, loaded from and stored to contiguous floats: no lane beyond `count` is read or
// written. AVX-512 and AVX2 mask their loads and stores; below them the lanes go through a full vector on the stack.
// (An element-by-element copy through the stack made NHWC depthwise at 12 and 24 channels slower than the GEMM
// path, and NCHW depthwise rows of 14 columns spend a quarter of their time in it: store forwarding stalls.)
template <class Arch>
struct PartialVectors {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

#if defined(__AVX2__)
  static __m256i lane_mask(std::int64_t count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
#endif

  static Batch load(const float* source, std::int64_t count) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>)
      return Batch(_mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1u), source));
#endif
#if defined(__AVX2__)
    if constexpr (kWidth == 8) return Batch(_mm256_maskload_ps(source, lane_mask(count)));
#endif
    alignas(64) float lanes[kWidth] = {};
    for (std::int64_t k = 0; k < count; ++k) lanes[k] = source[k];
    return Batch::load_aligned(lanes);
  }

  static void store(const Batch& v, float* target, std::int64_t count) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      _mm512_mask_storeu_ps(target, static_cast<__mmask16>((1u << count) - 1u), v);
      return;
    }
#endif
#if defined(__AVX2__)
    if constexpr (kWidth == 8) {
      _mm256_maskstore_ps(target, lane_mask(count), v);
      return;
    }
#endif
    alignas(64) float lanes[kWidth];
    v.store_aligned(lanes);
    for (std::int64_t k = 0; k < count; ++k) target[k] = lanes[k];
  }
};

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
    if (t.out_col_stride == 1) return PartialVectors<Arch>::store(v, out, count);
    alignas(64) float lanes[kWidth];
    v.store_aligned(lanes);
    for (std::int64_t k = 0; k < count; ++k) out[k * t.out_col_stride] = lanes[k];
  }

  // The `count` outputs from out that store(v, t, out, count) writes, gathered alike; lanes beyond are zero.
  static Batch load(const DirectRowsTask& t, const float* out, std::int64_t count) {
    if (t.out_col_stride == 1 && count == kWidth) return Batch::load_unaligned(out);
    if (t.out_col_stride == 1) return PartialVectors<Arch>::load(out, count);
    alignas(64) float lanes[kWidth] = {};
    for (std::int64_t k = 0; k < count; ++k) lanes[k] = out[k * t.out_col_stride];
    return Batch::load_aligned(lanes);
  }

  // v plus the scaled residual of the `count` outputs at out (read before they are stored: in place they hold it).
  static Batch add_residual(Batch v, const DirectRowsTask& t, const float* out, std::int64_t count) {
    if (t.post == nullptr || !t.post->residual) return v;
    return xsimd::fma(Batch(t.post->residual_scale), load(t, residual_at(out, t.residual_offset), count), v);
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
