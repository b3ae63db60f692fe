#include "epilogue.hpp"

#include <algorithm>

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

// The transpose goes in square blocks small enough that the block's source rows and destination rows all stay in
// the L1 cache while it is read column-wise; kBiasByRow: the bias follows the source's rows, else its columns.
template <Activation kActivation, bool kBiasByRow>
void transpose_rows(const float* product, std::int64_t rows, std::int64_t cols, std::int64_t ld_product,
                    const float* bias, float* block, std::int64_t ld, float lo, float hi) {
  constexpr std::int64_t kBlock = 16;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const std::int64_t r1 = std::min(rows, r0 + kBlock);
    for (std::int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const std::int64_t c1 = std::min(cols, c0 + kBlock);
      for (std::int64_t c = c0; c < c1; ++c) {
        float* out = block + c * ld;
        for (std::int64_t r = r0; r < r1; ++r) {
          const float b = bias == nullptr ? 0.0f : (kBiasByRow ? bias[r] : bias[c]);
          out[r] = activate(product[r * ld_product + c] + b, kActivation, lo, hi);
        }
      }
    }
  }
}

template <bool kBiasByRow>
void transpose_activated(Activation activation, const float* product, std::int64_t rows, std::int64_t cols,
                         std::int64_t ld_product, const float* bias, float* block, std::int64_t ld, float lo,
                         float hi) {
  switch (activation) {
    case Activation::Relu:
      return transpose_rows<Activation::Relu, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi);
    case Activation::Clamp:
      return transpose_rows<Activation::Clamp, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi);
    default:
      return transpose_rows<Activation::None, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi);
  }
}

}  // namespace

void Epilogue::store_transposed(const float* product, std::int64_t rows, std::int64_t cols, std::int64_t ld_product,
                                bool channels_by_row, float* block, std::int64_t ld, std::int64_t first_channel) const {
  const float* channel_bias = bias == nullptr ? nullptr : bias + first_channel;
  if (channels_by_row) {
    transpose_activated<true>(activation, product, rows, cols, ld_product, channel_bias, block, ld, clamp_min,
                              clamp_max);
  } else {
    transpose_activated<false>(activation, product, rows, cols, ld_product, channel_bias, block, ld, clamp_min,
                               clamp_max);
  }
}

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
