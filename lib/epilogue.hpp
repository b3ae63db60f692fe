// Bias and activation, applied to a block of output while it is still in cache.
#pragma once

#include <convkit/convkit.hpp>

#include <cstdint>

namespace convkit::detail {

struct Epilogue {
  const float* bias;  // out_channels floats or null
  Activation activation;
  float clamp_min, clamp_max;

  bool is_identity() const { return bias == nullptr && activation == Activation::None; }

  // A rows x cols block with leading dimension ld. In channels_by_row form row r holds channel first_channel + r
  // (NCHW output); in channels_by_column form column c holds channel first_channel + c (NHWC output).
  void apply_channels_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                             std::int64_t first_channel) const;
  void apply_channels_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                std::int64_t first_channel) const;
};

// The activation of one value; NaN stays NaN (comparisons with NaN are false).
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
