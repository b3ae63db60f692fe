#include "epilogue.hpp"

namespace convkit::detail {
namespace {

// One loop per activation, so the compiler vectorises each without a branch inside.
template <Activation kActivation>
void apply_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld, const float* bias, float lo,
                  float hi) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    const float b = bias != nullptr ? bias[r] : 0.0f;
    for (std::int64_t c = 0; c < cols; ++c) row[c] = activate(row[c] + b, kActivation, lo, hi);
  }
}

template <Activation kActivation>
void apply_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld, const float* bias,
                     float lo, float hi) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    if (bias != nullptr) {
      for (std::int64_t c = 0; c < cols; ++c) row[c] = activate(row[c] + bias[c], kActivation, lo, hi);
    } else {
      for (std::int64_t c = 0; c < cols; ++c) row[c] = activate(row[c], kActivation, lo, hi);
    }
  }
}

}  // namespace

void Epilogue::apply_channels_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                     std::int64_t first_channel) const {
  if (is_identity()) return;
  const float* b = bias != nullptr ? bias + first_channel : nullptr;
  switch (activation) {
    case Activation::Relu:
      return apply_by_row<Activation::Relu>(block, rows, cols, ld, b, clamp_min, clamp_max);
    case Activation::Clamp:
      return apply_by_row<Activation::Clamp>(block, rows, cols, ld, b, clamp_min, clamp_max);
    default:
      return apply_by_row<Activation::None>(block, rows, cols, ld, b, clamp_min, clamp_max);
  }
}

void Epilogue::apply_channels_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                        std::int64_t first_channel) const {
  if (is_identity()) return;
  const float* b = bias != nullptr ? bias + first_channel : nullptr;
  switch (activation) {
    case Activation::Relu:
      return apply_by_column<Activation::Relu>(block, rows, cols, ld, b, clamp_min, clamp_max);
    case Activation::Clamp:
      return apply_by_column<Activation::Clamp>(block, rows, cols, ld, b, clamp_min, clamp_max);
    default:
      return apply_by_column<Activation::None>(block, rows, cols, ld, b, clamp_min, clamp_max);
  }
}

}  // namespace convkit::detail
