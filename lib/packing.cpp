#include "packing.hpp"

#include <algorithm>
#include <cstdint>

#include "arithmetic.hpp"

namespace convkit::detail {

AlignedFloats pack_weights(const Problem& p, const float* weights, WeightsLayout target) {
  AlignedFloats packed = allocate_floats(static_cast<std::size_t>(p.weights_elements));
  if (target == p.weights_layout) {
    std::copy(weights, weights + p.weights_elements, packed.get());
    return packed;
  }
  const std::int64_t channels = p.group_in_channels, area = p.kernel_height * p.kernel_width;
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    const float* src = weights + o * p.reduction;
    float* dst = packed.get() + o * p.reduction;
    for (std::int64_t c = 0; c < channels; ++c) {
      for (std::int64_t k = 0; k < area; ++k) {
        // OIHW index c*area + k; OHWI index k*channels + c.
        if (target == WeightsLayout::OHWI) {
          dst[k * channels + c] = src[c * area + k];
        } else {
          dst[c * area + k] = src[k * channels + c];
        }
      }
    }
  }
  return packed;
}

std::size_t weight_panel_floats(const Problem& p, std::int64_t channel_block, std::int64_t width) {
  return static_cast<std::size_t>(p.groups * ceil_div(p.group_out_channels, channel_block) *
                                  round_up(channel_block, width) * p.reduction);
}

AlignedFloats pack_weight_panels(const Problem& p, const float* reduction_order, std::int64_t channel_block,
                                 std::int64_t width) {
  const std::int64_t k = p.reduction, blocks = ceil_div(p.group_out_channels, channel_block);
  const std::int64_t block_floats = round_up(channel_block, width) * k;
  AlignedFloats packed = allocate_floats(static_cast<std::size_t>(p.groups * blocks * block_floats));
  std::fill(packed.get(), packed.get() + p.groups * blocks * block_floats, 0.0f);
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    const std::int64_t group = o / p.group_out_channels, block = (o % p.group_out_channels) / channel_block;
    const std::int64_t c = (o % p.group_out_channels) % channel_block;
    float* panel = packed.get() + (group * blocks + block) * block_floats + (c / width) * width * k + c % width;
    const float* source = reduction_order + o * k;
    for (std::int64_t i = 0; i < k; ++i) panel[i * width] = source[i];
  }
  return packed;
}

AlignedFloats pack_column_strips(const float* matrices, std::int64_t count, std::int64_t k, std::int64_t n,
                                 std::int64_t width) {
  const std::int64_t strips = ceil_div(n, width), matrix_floats = strips * k * width;
  AlignedFloats packed = allocate_floats(static_cast<std::size_t>(count * matrix_floats));
  std::fill(packed.get(), packed.get() + count * matrix_floats, 0.0f);
  for (std::int64_t i = 0; i < count; ++i)
    for (std::int64_t r = 0; r < k; ++r)
      for (std::int64_t j = 0; j < n; ++j)
        packed[i * matrix_floats + (j / width) * k * width + r * width + j % width] = matrices[(i * k + r) * n + j];
  return packed;
}

AlignedFloats pack_winograd_weights(const Problem& p, const float* weights, int tile) {
  // G of F(2,3) and F(4,3) (Lavin & Gray, 2016): row r gives transformed tap r from the three kernel taps.
  static constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr double kG4[6][3] = {{1.0 / 4, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                       {0, 0, 1}};
  const int t = tile + 2, points = t * t;
  const auto g_at = [tile](int r, int k) { return tile == 4 ? kG4[r][k] : kG2[r][k]; };
  const std::int64_t cg = p.group_in_channels, og = p.group_out_channels;
  AlignedFloats packed = allocate_floats(static_cast<std::size_t>(p.groups * points * cg * og));
  const bool ohwi = p.weights_layout == WeightsLayout::OHWI;
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    const std::int64_t group = o / og, go = o % og;
    for (std::int64_t c = 0; c < cg; ++c) {
      double w[3][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
          w[i][j] = weights[o * p.reduction + (ohwi ? (i * 3 + j) * cg + c : c * 9 + i * 3 + j)];
      double gw[8][3];  // G w
      for (int r = 0; r < t; ++r)
        for (int j = 0; j < 3; ++j) gw[r][j] = g_at(r, 0) * w[0][j] + g_at(r, 1) * w[1][j] + g_at(r, 2) * w[2][j];
      for (int r = 0; r < t; ++r)
        for (int s = 0; s < t; ++s) {
          const double u = gw[r][0] * g_at(s, 0) + gw[r][1] * g_at(s, 1) + gw[r][2] * g_at(s, 2);  // (G w G^T)[r][s]
          packed[static_cast<std::size_t>(((group * points + r * t + s) * cg + c) * og + go)] = static_cast<float>(u);
        }
    }
  }
  return packed;
}

ChannelSliceShape channel_slice_shape(const Problem& p, std::int64_t lane_multiple) {
  const std::int64_t padded = round_up(p.groups, lane_multiple);
  const std::int64_t slice_floats = (p.kernel_height * p.kernel_width + 1) * padded;
  return {padded, slice_floats, static_cast<std::size_t>(p.group_out_channels * slice_floats)};
}

ChannelSlices pack_channel_slices(const Problem& p, const float* weights, const float* bias,
                                  std::int64_t lane_multiple) {
  const std::int64_t taps = p.kernel_height * p.kernel_width, m = p.group_out_channels;
  ChannelSlices slices;
  slices.padded = round_up(p.groups, lane_multiple);
  slices.slice_floats = (taps + 1) * slices.padded;
  const std::size_t total = static_cast<std::size_t>(m * slices.slice_floats);
  slices.floats = allocate_floats(total);
  std::fill(slices.floats.get(), slices.floats.get() + total, 0.0f);
  for (std::int64_t o = 0; o < p.out_channels; ++o) {
    float* packed = slices.floats.get() + (o % m) * slices.slice_floats + o / m;
    for (std::int64_t tap = 0; tap < taps; ++tap) packed[tap * slices.padded] = weights[o * taps + tap];
    if (bias != nullptr) packed[taps * slices.padded] = bias[o];
  }
  return slices;
}

AlignedFloats copy_bias(const Problem& p, const float* bias) {
  if (bias == nullptr) return AlignedFloats{};
  AlignedFloats copy = allocate_floats(static_cast<std::size_t>(p.out_channels));
  std::copy(bias, bias + p.out_channels, copy.get());
  return copy;
}

}  // namespace convkit::detail
