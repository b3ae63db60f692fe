// Depthwise convolution on NCHW planes in flat form (DepthwisePlanesTask in direct_ukernels.hpp). Included only by the
// per-ISA files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE (see
// direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including depthwise_planes_impl.hpp"
#endif

#include "direct_common_impl.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct DepthwisePlanes {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);
  // Vectors of flat outputs per block: each tap's weight is broadcast once per block and meets kBlock input vectors
  // (10 registers of 16 with AVX2, so every ISA keeps the block in registers).
  static constexpr int kBlock = 8;

  // The even and odd lanes of the 2 * kWidth floats a, b (a first).
  static void deinterleave(const Batch& a, const Batch& b, Batch& even, Batch& odd) {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      const __m512i even_index = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const __m512i odd_index = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
      even = Batch(_mm512_permutex2var_ps(a, even_index, b));
      odd = Batch(_mm512_permutex2var_ps(a, odd_index, b));
      return;
    }
#endif
#if defined(__AVX2__)
    if constexpr (kWidth == 8) {
      // Within each 128-bit half, then the halves put in order: [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 ..].
      even = Batch(_mm256_castpd_ps(
          _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8)));
      odd = Batch(_mm256_castpd_ps(
          _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8)));
      return;
    }
#endif
    if constexpr (kWidth == 4) {
      even = Batch(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
      odd = Batch(_mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
    } else {
      alignas(64) float lanes[2 * kWidth], split[2 * kWidth];
      a.store_aligned(lanes);
      b.store_aligned(lanes + kWidth);
      for (std::int64_t k = 0; k < kWidth; ++k) {
        split[k] = lanes[2 * k];
        split[kWidth + k] = lanes[2 * k + 1];
      }
      even = Batch::load_aligned(split);
      odd = Batch::load_aligned(split + kWidth);
    }
  }

  // One padded row: pad_left zeros, the input row, zeros up to `length` floats (and up to a vector and a half
  // beyond: whole vectors are stored, running on into the next row, written after this one, or the slack).
  static void padded_row(const float* row, std::int64_t in_width, std::int64_t pad_left, std::int64_t length,
                         float* target) {
    const Batch zero(0.0f);
    for (std::int64_t x = 0; x < pad_left; x += kWidth) zero.store_unaligned(target + x);
    float* inside = target + pad_left;
    std::int64_t x = 0;
    for (; x + kWidth <= in_width; x += kWidth) Batch::load_unaligned(row + x).store_unaligned(inside + x);
    // The rest of the row and zeros after it, a whole vector; then zeros to the end.
    PartialVectors<Arch>::load(row + x, in_width - x).store_unaligned(inside + x);
    for (x += pad_left + kWidth; x < length; x += kWidth) zero.store_unaligned(target + x);
  }

  // Stages `rows` padded rows from input row `first_row` (rows outside the input are zeros) into the phase planes,
  // whole phase rows: a stride of 2 leaves the odd row phase one row short when `rows` is odd, and that row is zeros.
  // A stride of 2 along the width pads the row into the flat scratch first and splits its even and odd columns from
  // there with whole vectors.
  static void stage(const DepthwisePlanesTask& t, std::int64_t first_row, std::int64_t rows) {
    const std::int64_t sh = t.stride_height, sw = t.stride_width, wq = t.phase_width;
    const std::int64_t phase_rows = (rows + sh - 1) / sh;
    const Batch zero(0.0f);
    for (std::int64_t p = 0; p < sh; ++p) {
      float* plane = t.staged + p * sw * t.phase_floats;
      for (std::int64_t pr = 0; pr < phase_rows; ++pr) {
        const std::int64_t r = pr * sh + p, h = first_row + r;
        float* target = plane + pr * wq;
        if (r >= rows || h < 0 || h >= t.in_height) {
          for (std::int64_t q = 0; q < sw; ++q)
            for (std::int64_t x = 0; x < wq; x += kWidth) zero.store_unaligned(target + q * t.phase_floats + x);
          continue;
        }
        const float* row = t.input + h * t.in_width;
        if (sw == 1) {
          padded_row(row, t.in_width, t.pad_left, wq, target);
          continue;
        }
        padded_row(row, t.in_width, t.pad_left, 2 * wq, t.flat);
        for (std::int64_t x = 0; x < wq; x += kWidth) {
          Batch even, odd;
          deinterleave(Batch::load_aligned(t.flat + 2 * x), Batch::load_aligned(t.flat + 2 * x + kWidth), even, odd);
          even.store_unaligned(target + x);
          odd.store_unaligned(target + t.phase_floats + x);
        }
      }
    }
  }

  // Flat output vectors [v, v + kVectors) of one output channel, activated, into t.flat.
  template <int kVectors>
  static void flat_block(const DepthwisePlanesTask& t, const float* weights, float bias, std::int64_t v) {
    Batch acc[kVectors];
    CONVKIT_UNROLL
    for (int r = 0; r < kVectors; ++r) acc[r] = Batch(bias);
    const float* base = t.staged + v * kWidth;
    for (std::int64_t tap = 0; tap < t.taps; ++tap) {
      const Batch weight(weights[tap]);
      const float* at = base + t.tap_offsets[tap];
      CONVKIT_UNROLL
      for (int r = 0; r < kVectors; ++r)
        acc[r] = fused_multiply_add(Batch::load_unaligned(at + r * kWidth), weight, acc[r]);
    }
    with_activation<Batch>(t, [&](const auto& activate) CONVKIT_ALWAYS_INLINE {
      CONVKIT_UNROLL
      for (int r = 0; r < kVectors; ++r) activate(acc[r]).store_aligned(t.flat + (v + r) * kWidth);
    });
  }

  // Output rows [y0, y0 + rows) of one channel, from the staged band, into its plane.
  static void channel_rows(const DepthwisePlanesTask& t, const float* weights, float bias, float* plane,
                           std::int64_t y0, std::int64_t rows) {
    const std::int64_t vectors = (rows * t.phase_width + kWidth - 1) / kWidth;
    std::int64_t v = 0;
    for (; v + kBlock <= vectors; v += kBlock) flat_block<kBlock>(t, weights, bias, v);
    if (v + 4 <= vectors) flat_block<4>(t, weights, bias, v), v += 4;
    if (v + 2 <= vectors) flat_block<2>(t, weights, bias, v), v += 2;
    if (v < vectors) flat_block<1>(t, weights, bias, v);
    const std::int64_t wo = t.out_width;
    for (std::int64_t y = 0; y < rows; ++y) {
      const float* source = t.flat + y * t.phase_width;
      float* target = plane + (y0 + y) * wo;
      std::int64_t x = 0;
      if (t.post != nullptr) {  // the flat sums are bare: the copy adds the residual, then activates
        finish_row(*t.post, source, target, wo, t.residual_offset);
        continue;
      }
      for (; x + kWidth <= wo; x += kWidth) Batch::load_unaligned(source + x).store_unaligned(target + x);
      if (x < wo) PartialVectors<Arch>::store(PartialVectors<Arch>::load(source + x, wo - x), target + x, wo - x);
    }
  }

  static Batch finish(const PostOps& post, Batch v, const float* residual) {
    if (post.residual) v = fused_multiply_add(Batch(post.residual_scale), Batch::load_unaligned(residual), v);
    return activate_batch(v, post);
  }

  static void finish_row(const PostOps& post, const float* source, float* target, std::int64_t width,
                         std::ptrdiff_t residual_offset) {
    const float* residual = residual_at(target, residual_offset);
    std::int64_t x = 0;
    for (; x + kWidth <= width; x += kWidth)
      finish(post, Batch::load_unaligned(source + x), residual + x).store_unaligned(target + x);
    if (x < width) {
      alignas(64) float tail[kWidth] = {};
      for (std::int64_t i = x; i < width; ++i) tail[i - x] = residual[i];
      const Batch v = finish(post, PartialVectors<Arch>::load(source + x, width - x), tail);
      PartialVectors<Arch>::store(v, target + x, width - x);
    }
    activate_tile(post, target, 1, width, width);
  }

  static void planes(const DepthwisePlanesTask& t) {
    const std::int64_t plane_floats = t.out_height * t.out_width;
    for (std::int64_t y0 = 0; y0 < t.out_height; y0 += t.band_rows) {
      const std::int64_t rows = t.out_height - y0 < t.band_rows ? t.out_height - y0 : t.band_rows;
      stage(t, y0 * t.stride_height - t.pad_top, (rows - 1) * t.stride_height + t.kernel_rows_span);
      for (std::int64_t k = 0; k < t.multiplier; ++k)
        channel_rows(t, t.weights + k * t.taps, t.bias[k], t.output + k * plane_floats, y0, rows);
    }
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
