// The tests' own oracle: the convolution's definition evaluated in double, independent of the library's code.
// It also returns, per output, the sum of the absolute values of the products, which scales the tolerance. The random
// data and Winograd's error bound live here too, so that programs without doctest (the fuzzer) share them.
#pragma once

#include <convkit/convkit.hpp>
#include <cstdint>
#include <random>
#include <vector>

namespace convkit_test {

// The seed of every random tensor in the tests; printed by the test main.
constexpr std::uint32_t kSeed = 20261123;

inline std::vector<float> random_floats(std::size_t count, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(lo, hi);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(engine);
  return values;
}

// The error Winograd promises per output (docs/algorithms.md, "Winograd's error"), for F(2x2,3x3) and F(4x4,3x3), as a
// fraction of the largest |bias| + sum |products| among the outputs of the same channel within kWinogradReach pixels in
// each direction (winograd_magnitude): the transforms mix a whole output tile, so an output's rounding error follows
// the magnitudes of its tile, not its own (an output whose inputs are all padding gets the error of its neighbours).
// The largest measured on the suite's 3x3 layers with uniform data in [-1, 1] (test_winograd.cpp prints them):
// 0.7e-7 and 1.4e-6, against 1.0e-7 for im2col_gemm (on its own magnitude). The bounds leave room for other data
// and the small reductions of the oracle sweeps.
inline double winograd_error_bound(int tile) { return tile == 2 ? 1e-6 : 2e-5; }

// Outputs of one tile are at most this far apart (F(4x4): tiles of 4 x 4 pixels).
constexpr std::int64_t kWinogradReach = 3;

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
  if (d.weights_layout == convkit::WeightsLayout::OIHW)
    return ((o * cg + c) * d.kernel_height + i) * d.kernel_width + j;
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
inline OracleValue oracle_at(const convkit::Conv2dDesc& d, const float* input, const float* weights, const float* bias,
                             std::int64_t n, std::int64_t o, std::int64_t y, std::int64_t x) {
  const std::int64_t cg = d.in_channels / d.groups, og = d.out_channels / d.groups, g = o / og;
  OracleValue r{bias ? static_cast<double>(bias[o]) : 0.0,
                bias ? static_cast<double>(bias[o] < 0 ? -bias[o] : bias[o]) : 0.0};
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

// The scale of Winograd's error bound at output (n, o, y, x): the largest oracle magnitude among the outputs
// (n, o, y', x') with |y' - y| and |x' - x| at most kWinogradReach.
inline double winograd_magnitude(const convkit::Conv2dDesc& d, const float* input, const float* weights,
                                 const float* bias, std::int64_t n, std::int64_t o, std::int64_t y, std::int64_t x) {
  const OutputShape shape = oracle_output_shape(d);
  double largest = 0;
  for (std::int64_t yy = y - kWinogradReach; yy <= y + kWinogradReach; ++yy)
    for (std::int64_t xx = x - kWinogradReach; xx <= x + kWinogradReach; ++xx)
      if (yy >= 0 && yy < shape.height && xx >= 0 && xx < shape.width) {
        const double m = oracle_at(d, input, weights, bias, n, o, yy, xx).magnitude;
        largest = m > largest ? m : largest;
      }
  return largest;
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

// An epilogue's activation of v, in double, written from the ONNX operators' definitions (not the library's forms).
inline double oracle_activation(double v, const convkit::Epilogue& e) {
  using convkit::Activation;
  if (std::isnan(v)) return v;
  switch (e.activation) {
    case Activation::Relu:
      return v < 0 ? 0 : v;
    case Activation::Clamp:
      return v < e.clamp_min ? e.clamp_min : (v > e.clamp_max ? e.clamp_max : v);
    case Activation::LeakyRelu:
      return v < 0 ? e.leaky_relu_alpha * v : v;
    case Activation::Sigmoid:
      return 1.0 / (1.0 + std::exp(-v));
    case Activation::Tanh:
      return std::tanh(v);
    case Activation::HardSigmoid:
      return std::max(0.0, std::min(1.0, static_cast<double>(e.hard_sigmoid_alpha) * v + e.hard_sigmoid_beta));
    case Activation::HardSwish:
      return std::isinf(v) && v < 0 ? 0.0 : v * std::max(0.0, std::min(1.0, v / 6.0 + 0.5));
    case Activation::Silu:
      return std::isinf(v) && v < 0 ? -0.0 : v / (1.0 + std::exp(-v));
    case Activation::GeluErf:
      return std::isinf(v) && v < 0 ? -0.0 : 0.5 * v * std::erfc(-v / std::sqrt(2.0));
    case Activation::GeluTanh: {
      if (std::isinf(v)) return v < 0 ? -0.0 : v;
      const double u = std::sqrt(2.0 / 3.141592653589793238) * (v + 0.044715 * v * v * v);
      return 0.5 * v * (1.0 + std::tanh(u));
    }
    default:
      return v;
  }
}

// The largest slope of the activation: how much an error in its argument can grow through it.
inline double oracle_activation_slope(const convkit::Epilogue& e) {
  switch (e.activation) {
    case convkit::Activation::LeakyRelu:
      return std::max(1.0, std::fabs(static_cast<double>(e.leaky_relu_alpha)));
    case convkit::Activation::HardSigmoid:
      return std::fabs(static_cast<double>(e.hard_sigmoid_alpha));
    case convkit::Activation::HardSwish:
      return 1.5;
    case convkit::Activation::Silu:
    case convkit::Activation::GeluErf:
    case convkit::Activation::GeluTanh:
      return 1.2;
    default:
      return 1.0;
  }
}

}  // namespace convkit_test
