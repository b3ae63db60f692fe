#include "packing.hpp"

#include <algorithm>
#include <cstdint>

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

AlignedFloats copy_bias(const Problem& p, const float* bias) {
  if (bias == nullptr) return AlignedFloats{};
  AlignedFloats copy = allocate_floats(static_cast<std::size_t>(p.out_channels));
  std::copy(bias, bias + p.out_channels, copy.get());
  return copy;
}

}  // namespace convkit::detail
