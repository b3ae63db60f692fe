// Copies of the caller's weights and bias in the order an algorithm reads them, owned by its Primitive.
#pragma once

#include <cstdint>

#include "memory.hpp"
#include "problem.hpp"

namespace convkit::detail {

// The weights reordered to `target` (OIHW: [Co][Ci/g][Kh][Kw]; OHWI: [Co][Kh][Kw][Ci/g]).
AlignedFloats pack_weights(const Problem& problem, const float* weights, WeightsLayout target);

// Weights in reduction order ([Co][K], from pack_weights) cut into the panels of convkit's GEMM kernels
// (kernels/gemm_ukernels.hpp): each group's output channels in blocks of channel_block, each block in panels of
// `width` channels, k-major, the last panel of a block padded with zero channels. Block b of group g starts at
// (g * blocks + b) * round_up(channel_block, width) * K, with blocks = ceil(Co/g / channel_block).
// The float count of pack_weight_panels' result.
std::size_t weight_panel_floats(const Problem& problem, std::int64_t channel_block, std::int64_t width);
AlignedFloats pack_weight_panels(const Problem& problem, const float* reduction_order, std::int64_t channel_block,
                                 std::int64_t width);

// The weights transformed for Winograd F(m x m, 3 x 3) (m = 2 or 4, t = m + 2): for group g and transform point
// p < t*t, the (Ci/g) x (Co/g) row-major matrix of (G w G^T)[p], at [((g * t*t + p) * Ci/g + c) * Co/g + o], the
// right-hand operand of that point's GEMM. Computed in double, rounded once. The problem's kernel must be 3x3.
AlignedFloats pack_winograd_weights(const Problem& problem, const float* weights, int tile);

// `count` row-major k x n matrices, one after the other, each cut into strips of `width` columns for the packed-B
// GEMM kernels (kernels/gemm_ukernels.hpp): strip q of matrix i at (i * strips + q) * k * width, element (r, j) of a
// strip at r * width + j, zeros beyond n; strips = ceil(n / width). Winograd's per-point weights.
AlignedFloats pack_column_strips(const float* matrices, std::int64_t count, std::int64_t k, std::int64_t n,
                                 std::int64_t width);

// Groups of one input channel (depthwise layers with a channel multiplier m), for the microkernels that put the
// groups in their vector lanes (the direct path's NHWC depthwise kernel, the GEMM path's channelwise one): slice k of
// the multiplier (output channel g * m + k of group g) is `taps` rows of the groups' weights, then a row of their
// bias, each row `padded` floats (groups rounded up to lane_multiple), zero beyond the groups and where bias is null.
// OIHW and OHWI agree when each group has one input channel. Slice k starts at k * slice_floats.
struct ChannelSlices {
  AlignedFloats floats;
  std::int64_t padded, slice_floats;
};
// The padded, slice_floats and float count of pack_channel_slices' result.
struct ChannelSliceShape {
  std::int64_t padded, slice_floats;
  std::size_t floats;
};
ChannelSliceShape channel_slice_shape(const Problem& problem, std::int64_t lane_multiple);
ChannelSlices pack_channel_slices(const Problem& problem, const float* weights, const float* bias,
                                  std::int64_t lane_multiple);

// A copy of the out_channels bias values, or empty when bias is null.
AlignedFloats copy_bias(const Problem& problem, const float* bias);

}  // namespace convkit::detail
