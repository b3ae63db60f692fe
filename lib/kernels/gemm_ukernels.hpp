// The contract between the GEMM path (lib/algorithm_gemm.cpp) and convkit's own single-precision GEMM kernels, which
// are written once with xsimd (gemm_ukernels_impl.hpp) and compiled for AVX2+FMA and AVX-512 (gemm_<isa>.cpp).
//
// They multiply one operand that is a convolution's weights, packed once when the plan is made, by one that is read
// where it lies: the unfolded tile (or, for a 1x1 kernel, the input itself). OpenBLAS instead packs both operands
// again on every call, and its blocking is made for large square products; on the convolution shapes of the layer
// suite a register tile of 12 x 32 (AVX-512) fed straight from the tile runs faster than cblas_sgemm on the same
// product (docs/tuning-log.md). Without AVX2 the GEMM path calls the BLAS.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

#include "../post_ops.hpp"

namespace convkit::detail {

// C[m x n] = activation(bias + A[m x k] * B[k x n]), row-major C with leading dimension ldc: the bias and the
// activation are applied in registers, so the output is written once. One of A and B is packed weights, in panels of
// `width` rows of A (panel_rows) or columns of B (strip_columns), each panel k-major: element (r, p) of a panel at
// panel[p * width + r], panel q of the operand at q * width * k. The rows of A beyond m, or the columns of B beyond n,
// in the last panel are zeros.
struct MicroGemm {
  std::int64_t m, n, k;
  const float* a;
  std::int64_t lda;  // the row-major form's; unused when A is packed
  const float* b;
  std::int64_t ldb;  // likewise for B
  float* c;
  std::int64_t ldc;
  const float* bias;  // null, or one per row of C (packed_a: an NCHW output's channels) or column (packed_b: NHWC's)
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
  const std::int64_t* b_rows;          // packed_a_rows only: row p of B starts at b + b_rows[p]
};

// A block of B (kc x n, one block of the reduction) larger than kGemmLargeBlockBytes would be streamed from beyond L2
// once per row tile: the kernels cut such a block into chunks of kGemmChunkColumns columns, each run by every row
// tile while it stays in L2, as BLIS's loop around its panel of B does. Decided on DCGAN's 4x4 transposed layer (16
// pixels by 8192 taps, K = 1024), whose last row tile of 4 pixels read the whole block a second time from memory;
// chunks of 128 columns ran a little ahead of 256 and well ahead of 512 and 1024 there. Blocks within the bound (most
// of the forward path's tiles) run as one chunk, as before; the forward tiles beyond it (1x1 512 -> 1024 on 56x56,
// 3x3 64 -> 512) ran level or ahead.
inline constexpr std::int64_t kGemmLargeBlockBytes = std::int64_t{1} << 20;
inline constexpr std::int64_t kGemmChunkColumns = 128;

// The products of groups of one input channel (depthwise layers), all the groups of a block at once: each group's
// product is one row of weights times its unfolded taps, too thin for a register tile of its own, so the groups'
// channels become the vector lanes instead. For pixel p < pixels and channel c < channels:
//   C[p * ldc + c * channel_stride] =
//       activation(bias[c] + sum over t < taps of A[p * lda + t * channels + c] * W[t * ldw + c])
// A is the block's unfolded rows (im2row over its channels) or, for a 1x1 kernel, the input's pixels (taps = 1).
// W and the bias are packed, zero beyond `channels` up to a multiple of channelwise_tile, so that their loads are
// never partial. Reads no float of A outside [p * lda, p * lda + taps * channels) for p < pixels.
struct ChannelwiseGemm {
  std::int64_t pixels, channels, taps;
  const float* a;
  std::int64_t lda;
  const float* w;
  std::int64_t ldw;
  const float* bias;  // null, or one per channel
  float* c;
  std::int64_t ldc, channel_stride;  // channel_stride > 1: one slice of a channel multiplier
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
};

// One run of the reduction of an implicit GEMM (algorithm_implicit_gemm.cpp): `length` consecutive input channels of
// one tap, read at a + i * lda + a_offset for pixel i, multiplied by rows [b_row, b_row + length) of the packed
// weights.
struct TapSegment {
  std::int64_t a_offset, b_row, length;
};

// C[m x n] = activation(bias + sum over the segments of A_s[m x length] * B[b_row .. b_row + length)[n]): the GEMM of
// the NHWC orientation (A row-major, B packed in strips of strip_columns over its `k` rows) whose reduction is a list
// of segments of A read where they lie, one per tap, instead of one unfolded row per pixel. The segments are summed in
// order, in the blocks of kReductionBlock rows of B that packed_b sums (../accumulation.hpp). Reads no float of A
// outside the segments' ranges for i < m.
struct TapGemm {
  std::int64_t m, n;
  const float* a;
  std::int64_t lda;
  const TapSegment* segments;
  std::int64_t segment_count;
  const float* b;
  std::int64_t k;
  float* c;
  std::int64_t ldc;
  const float* bias;  // null, or one per column
  Activation activation;
  float clamp_min, clamp_max;
  // The residual sum and the activations beyond clamp (../post_ops.hpp): null when none.
  const PostOps* post = nullptr;
  std::ptrdiff_t residual_offset = 0;  // of the output element, in floats (residual_offset())
  // Several output rows with the same segments, each reduction block run over all of them so that its block of
  // weights is read from cache once per call rather than once per row: row r's A at a + r * a_row_stride, its C at
  // c + r * c_row_stride (rows 0 or 1: one row).
  std::int64_t rows, a_row_stride, c_row_stride;
};

struct GemmUkernels {
  const char* isa;
  std::int64_t panel_rows;     // rows of A per packed panel
  std::int64_t strip_columns;  // columns of B per packed panel
  // A packed, B row-major: output channels times pixels (an NCHW output; B is the unfolded columns). Reads no float
  // of B outside its m-independent k x n block, whatever n.
  void (*packed_a)(const MicroGemm& gemm);
  // A row-major, B packed: pixels times output channels (an NHWC output; A is the unfolded rows). Reads no float of A
  // outside its m x k block.
  void (*packed_b)(const MicroGemm& gemm);
  // packed_a with each row of B where a table says (MicroGemm::b_rows, ldb unused): the implicit GEMM's NCHW rows,
  // each tap's input row read where it lies in a padded band. Reads no float of B outside [b_rows[p], + n).
  void (*packed_a_rows)(const MicroGemm& gemm);
  std::int64_t channelwise_tile;    // channels per register tile of channelwise
  std::int64_t channelwise_pixels;  // pixels per register tile of channelwise (fewer leave the FMAs waiting)
  void (*channelwise)(const ChannelwiseGemm& gemm);
  void (*taps)(const TapGemm& gemm);
};

const GemmUkernels& gemm_ukernels_avx2_fma();
const GemmUkernels& gemm_ukernels_avx512f();

// The kernels of the ISA the direct kernels use (lib/isa.cpp), or null below AVX2+FMA.
const GemmUkernels* gemm_ukernels();

}  // namespace convkit::detail
