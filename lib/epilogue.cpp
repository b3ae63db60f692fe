#include "epilogue.hpp"

namespace convkit::detail {
namespace {

// One loop per activation, so the compiler vectorises each without a branch inside.
template <Activation kActivation>
void activate_rows(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld, float lo, float hi) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    for (std::int64_t c = 0; c < cols; ++c) row[c] = activate(row[c], kActivation, lo, hi);
  }
}

}  // namespace

float Epilogue::seed_channels_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                     std::int64_t first_channel) const {
  if (bias == nullptr) return 0.0f;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    const float b = bias[first_channel + r];
    for (std::int64_t c = 0; c < cols; ++c) row[c] = b;
  }
  return 1.0f;
}

float Epilogue::seed_channels_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                        std::int64_t first_channel) const {
  if (bias == nullptr) return 0.0f;
  const float* b = bias + first_channel;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    for (std::int64_t c = 0; c < cols; ++c) row[c] = b[c];
  }
  return 1.0f;
}

void Epilogue::activate_block(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) const {
  switch (activation) {
    case Activation::Relu:
      return activate_rows<Activation::Relu>(block, rows, cols, ld, clamp_min, clamp_max);
    case Activation::Clamp:
      return activate_rows<Activation::Clamp>(block, rows, cols, ld, clamp_min, clamp_max);
    default:
      return;
  }
}

}  // namespace convkit::detail
