// The blocked transpose in AVX-512 registers (DirectUkernels::transpose). Included only by the per-ISA files (through
// direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why
// everything lives in that namespace).
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including direct_transpose_impl.hpp"
#endif

#include "direct_common_impl.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

#if defined(__AVX512F__)
// 16 x 16 blocks in 16 registers, 64 shuffles: two-register unpacks, then 4 x 4 shuffles within 128-bit lanes, then
// lanes moved across registers. The portable transpose (../transpose.cpp) moves 4 x 4 blocks through SSE registers
// and finishes ragged edges element by element: on the 7x7 and 14x14 planes of NCHW depthwise layers it took half
// the time of the layer.
struct Avx512Transpose {
  static __mmask16 lanes(std::int64_t count) { return static_cast<__mmask16>((1u << count) - 1u); }

  static void block(const float* source, std::int64_t source_ld, std::int64_t rows, std::int64_t columns, float* target,
                    std::int64_t target_ld) {
    __m512 r[16], t[16];
    const __mmask16 column_lanes = lanes(columns);
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(column_lanes, source + i * source_ld) : _mm512_setzero_ps();
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // a0 b0 a1 b1, per 128-bit lane
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
    }
    for (int i = 0; i < 4; ++i) {  // r[4i + j], lane L: column 4L + j of rows 4i .. 4i + 3
      r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    const __mmask16 row_lanes = lanes(rows);
    for (int j = 0; j < 4; ++j) {
      const __m512 low_ab = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44),
                   high_ab = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
      const __m512 low_cd = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
      const __m512 high_cd = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
      const __m512 column[4] = {_mm512_shuffle_f32x4(low_ab, low_cd, 0x88), _mm512_shuffle_f32x4(low_ab, low_cd, 0xDD),
                                _mm512_shuffle_f32x4(high_ab, high_cd, 0x88),
                                _mm512_shuffle_f32x4(high_ab, high_cd, 0xDD)};
      for (int lane = 0; lane < 4; ++lane) {
        const int c = 4 * lane + j;
        if (c < columns) _mm512_mask_storeu_ps(target + c * target_ld, row_lanes, column[lane]);
      }
    }
  }

  // target[j * target_ld + i] = source[i * source_ld + j] for i < rows, j < columns; the buffers must not overlap.
  static void transpose(const float* source, std::int64_t source_ld, std::int64_t rows, std::int64_t columns,
                        float* target, std::int64_t target_ld) {
    for (std::int64_t i = 0; i < rows; i += 16)
      for (std::int64_t j = 0; j < columns; j += 16)
        block(source + i * source_ld + j, source_ld, rows - i < 16 ? rows - i : 16, columns - j < 16 ? columns - j : 16,
              target + j * target_ld + i, target_ld);
  }
};
#endif

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
