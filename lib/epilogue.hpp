// Bias and activation of the GEMM path when OpenBLAS multiplies, applied to each output tile around its product while
// it is in cache (convkit's own GEMM kernels apply them in registers instead, kernels/gemm_ukernels.hpp).
//
// The bias is not a pass after the GEMM: it is written into the tile first and the GEMM adds its product to it
// (beta = 1). The BLAS would otherwise make that pass itself, zeroing the tile for beta = 0, so the bias costs
// nothing. The activation is one pass over the tile right after its GEMM.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

#include "post_ops.hpp"

namespace convkit::detail {

// With post-ops (post_ops.hpp) the residual goes into the seed with the bias, read where the block is before the
// GEMM overwrites it (so the in-place form works), and the activations beyond clamp follow the register ones in
// activate_block.
struct TileEpilogue {
  const float* bias;  // out_channels floats or null
  Activation activation;
  float clamp_min, clamp_max;
  const PostOps* post;             // null: none
  std::ptrdiff_t residual_offset;  // of the run (residual_offset())

  // Prepares a rows x cols block (leading dimension ld) for the GEMM that computes it and returns the GEMM's beta:
  // 1 after writing the bias into the block, 0 when there is none. In channels_by_row form row r holds channel
  // first_channel + r (NCHW output); in channels_by_column form column c holds channel first_channel + c (NHWC).
  float seed_channels_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                             std::int64_t first_channel) const;
  float seed_channels_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                std::int64_t first_channel) const;

  // Applies the activation to a rows x cols block after its GEMM.
  void activate_block(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) const;

  // Finishes a product that was computed in the other orientation than the output's: writes the transpose of the
  // rows x cols block `product` (leading dimension ld_product) into `block` (cols x rows, leading dimension ld), with
  // bias and activation. `channels_by_row`: row r of `product` holds channel first_channel + r (an NHWC output
  // computed as W * X^T); otherwise column c does (an NCHW output computed as X^T * W^T).
  void store_transposed(const float* product, std::int64_t rows, std::int64_t cols, std::int64_t ld_product,
                        bool channels_by_row, float* block, std::int64_t ld, std::int64_t first_channel) const;
};

// Writes target[i] = activation(source[i] + residual_scale * residual of target[i]) for i < count: the finish of a
// block computed elsewhere (a concatenated plan's part computed in its workspace). target may hold its own residual.
void finish_copy(const PostOps& post, float* target, const float* source, std::int64_t count,
                 std::ptrdiff_t residual_offset);

// The activation of one value, of the kinds kernels apply in registers; NaN stays NaN (comparisons with NaN are
// false). activate_value (post_ops.hpp) covers every kind.
inline float activate(float x, Activation activation, float lo, float hi) {
  switch (activation) {
    case Activation::Relu:
      return x < 0.0f ? 0.0f : x;
    case Activation::Clamp:
      return x < lo ? lo : (x > hi ? hi : x);
    default:
      return x;
  }
}

}  // namespace convkit::detail
