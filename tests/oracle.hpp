// The tests' own oracle: the convolution's definition evaluated in double, independent of the library's code.
// It also returns, per output, the sum of the absolute values of the products, which scales the tolerance.
#pragma once

#include <convkit/convkit.hpp>

#include <cstdint>
#include <vector>

namespace convkit_test {

struct OracleValue {
  double value;      // bias + sum of products, before the activation
  double magnitude;  // |bias| + sum of |products|
};

// Logical (n, c, h, w) -> element offset for a tensor of the given layout.
inline std::int64_t tensor_offset(convkit::Layout layout, std::int64_t channels, std::int64_t height,
                                  std::int64_t width, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  if (layout == convkit::Layout::NCHW) return ((n * channels + c) * height + h) * width + w;
  return ((n * height + h) * width + w) * channels + c;
}

// Logical (o, c, i, j) -> element offset in the weights.
inline std::int64_t weights_offset(const convkit::Conv2dDesc& d, std::int64_t o, std::int64_t c, std::int64_t i,
                                   std::int64_t j) {
  const std::int64_t cg = d.in_channels / d.groups;
  if (d.weights_layout == convkit::WeightsLayout::OIHW) return ((o * cg + c) * d.kernel_height + i) * d.kernel_width + j;
  return ((o * d.kernel_height + i) * d.kernel_width + j) * cg + c;
}

struct OutputShape {
  std::int64_t height, width;
};

// Written from the formula, not from the library.
inline OutputShape oracle_output_shape(const convkit::Conv2dDesc& d) {
  const std::int64_t h = (d.in_height + d.pad_top + d.pad_bottom - d.dilation_height * (d.kernel_height - 1) - 1);
  const std::int64_t w = (d.in_width + d.pad_left + d.pad_right - d.dilation_width * (d.kernel_width - 1) - 1);
  return {h / d.stride_height + 1, w / d.stride_width + 1};
}

// One output element (n, o, y, x), before activation.
inline OracleValue oracle_at(const convkit::Conv2dDesc& d, const float* input, const float* weights,
                             const float* bias, std::int64_t n, std::int64_t o, std::int64_t y, std::int64_t x) {
  const std::int64_t cg = d.in_channels / d.groups, og = d.out_channels / d.groups, g = o / og;
  OracleValue r{bias ? static_cast<double>(bias[o]) : 0.0, bias ? static_cast<double>(bias[o] < 0 ? -bias[o] : bias[o]) : 0.0};
  for (std::int64_t c = 0; c < cg; ++c) {
    for (std::int64_t i = 0; i < d.kernel_height; ++i) {
      const std::int64_t h = y * d.stride_height + i * d.dilation_height - d.pad_top;
      for (std::int64_t j = 0; j < d.kernel_width; ++j) {
        const std::int64_t w = x * d.stride_width + j * d.dilation_width - d.pad_left;
        if (h < 0 || h >= d.in_height || w < 0 || w >= d.in_width) continue;  // zero padding
        const double a = input[tensor_offset(d.layout, d.in_channels, d.in_height, d.in_width, n, g * cg + c, h, w)];
        const double b = weights[weights_offset(d, o, c, i, j)];
        r.value += a * b;
        r.magnitude += a * b < 0 ? -(a * b) : a * b;
      }
    }
  }
  return r;
}

inline double oracle_activate(double v, const convkit::Options& options) {
  switch (options.activation) {
    case convkit::Activation::Relu:
      return v < 0 ? 0 : v;
    case convkit::Activation::Clamp:
      return v < options.clamp_min ? options.clamp_min : (v > options.clamp_max ? options.clamp_max : v);
    default:
      return v;
  }
}

}  // namespace convkit_test
