#include "transpose.hpp"

#include <algorithm>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace convkit::detail {

// Square blocks of 16, so that a block's source and target rows both stay in the L1 cache whatever the strides: an
// NCHW side's stride is a plane, often a multiple of 4 KiB, and walking across planes one element at a time put
// every access in another page and the same cache set (decided on vgg16_conv1_2's Winograd tile rows and
// resnet50_res4_1x1's NHWC pixels; figures in docs/tuning-log.md). Within a block, 4 x 4 SSE transposes (the baseline
// of x86-64).
void transpose(const float* source, std::int64_t source_ld, std::int64_t rows, std::int64_t columns, float* target,
               std::int64_t target_ld) {
  constexpr std::int64_t kBlock = 16;
  for (std::int64_t i0 = 0; i0 < rows; i0 += kBlock) {
    const std::int64_t i1 = std::min(rows, i0 + kBlock);
    for (std::int64_t j0 = 0; j0 < columns; j0 += kBlock) {
      const std::int64_t j1 = std::min(columns, j0 + kBlock);
      std::int64_t i = i0;
#if defined(__SSE2__)
      for (; i + 4 <= i1; i += 4) {
        const float* src = source + i * source_ld;
        std::int64_t j = j0;
        for (; j + 4 <= j1; j += 4) {
          __m128 r0 = _mm_loadu_ps(src + j), r1 = _mm_loadu_ps(src + source_ld + j);
          __m128 r2 = _mm_loadu_ps(src + 2 * source_ld + j), r3 = _mm_loadu_ps(src + 3 * source_ld + j);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(target + j * target_ld + i, r0);
          _mm_storeu_ps(target + (j + 1) * target_ld + i, r1);
          _mm_storeu_ps(target + (j + 2) * target_ld + i, r2);
          _mm_storeu_ps(target + (j + 3) * target_ld + i, r3);
        }
        for (; j < j1; ++j)
          for (std::int64_t k = 0; k < 4; ++k) target[j * target_ld + i + k] = src[k * source_ld + j];
      }
#endif
      for (; i < i1; ++i) {
        const float* src = source + i * source_ld;
        for (std::int64_t j = j0; j < j1; ++j) target[j * target_ld + i] = src[j];
      }
    }
  }
}

}  // namespace convkit::detail
