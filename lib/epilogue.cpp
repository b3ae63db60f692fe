#include "epilogue.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/direct_ukernels.hpp"

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
                    const float* bias, float* block, std::int64_t ld, float lo, float hi, float residual_scale,
                    std::ptrdiff_t residual_offset) {
  constexpr std::int64_t kBlock = 16;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const std::int64_t r1 = std::min(rows, r0 + kBlock);
    for (std::int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const std::int64_t c1 = std::min(cols, c0 + kBlock);
      for (std::int64_t c = c0; c < c1; ++c) {
        float* out = block + c * ld;
        for (std::int64_t r = r0; r < r1; ++r) {
          const float b = bias == nullptr ? 0.0f : (kBiasByRow ? bias[r] : bias[c]);
          float sum = product[r * ld_product + c] + b;
          if (residual_scale != 0.0f) sum += residual_scale * *residual_at(out + r, residual_offset);
          out[r] = activate(sum, kActivation, lo, hi);
        }
      }
    }
  }
}

template <bool kBiasByRow>
void transpose_activated(Activation activation, const float* product, std::int64_t rows, std::int64_t cols,
                         std::int64_t ld_product, const float* bias, float* block, std::int64_t ld, float lo, float hi,
                         float scale, std::ptrdiff_t offset) {
  switch (activation) {
    case Activation::Relu:
      return transpose_rows<Activation::Relu, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi,
                                                          scale, offset);
    case Activation::Clamp:
      return transpose_rows<Activation::Clamp, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi,
                                                           scale, offset);
    default:
      return transpose_rows<Activation::None, kBiasByRow>(product, rows, cols, ld_product, bias, block, ld, lo, hi,
                                                          scale, offset);
  }
}

float residual_scale_of(const PostOps* post) { return post != nullptr && post->residual ? post->residual_scale : 0.0f; }

}  // namespace

void TileEpilogue::store_transposed(const float* product, std::int64_t rows, std::int64_t cols, std::int64_t ld_product,
                                    bool channels_by_row, float* block, std::int64_t ld,
                                    std::int64_t first_channel) const {
  const float* channel_bias = bias == nullptr ? nullptr : bias + first_channel;
  const float scale = residual_scale_of(post);
  if (channels_by_row) {
    transpose_activated<true>(activation, product, rows, cols, ld_product, channel_bias, block, ld, clamp_min,
                              clamp_max, scale, residual_offset);
  } else {
    transpose_activated<false>(activation, product, rows, cols, ld_product, channel_bias, block, ld, clamp_min,
                               clamp_max, scale, residual_offset);
  }
  if (post != nullptr) activate_tile(*post, block, cols, rows, ld);
}

float TileEpilogue::seed_channels_by_row(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                         std::int64_t first_channel) const {
  const float scale = residual_scale_of(post);
  if (bias == nullptr && scale == 0.0f) return 0.0f;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    const float b = bias == nullptr ? 0.0f : bias[first_channel + r];
    if (scale == 0.0f) {
      for (std::int64_t c = 0; c < cols; ++c) row[c] = b;
    } else {
      const float* residual = residual_at(row, residual_offset);
      for (std::int64_t c = 0; c < cols; ++c) row[c] = b + scale * residual[c];
    }
  }
  return 1.0f;
}

float TileEpilogue::seed_channels_by_column(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                            std::int64_t first_channel) const {
  const float scale = residual_scale_of(post);
  if (bias == nullptr && scale == 0.0f) return 0.0f;
  const float* b = bias == nullptr ? nullptr : bias + first_channel;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = block + r * ld;
    const float* residual = residual_at(row, residual_offset);
    for (std::int64_t c = 0; c < cols; ++c)
      row[c] = (b == nullptr ? 0.0f : b[c]) + (scale == 0.0f ? 0.0f : scale * residual[c]);
  }
  return 1.0f;
}

void TileEpilogue::activate_block(float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) const {
  if (post != nullptr) activate_tile(*post, block, rows, cols, ld);
  switch (activation) {
    case Activation::Relu:
      return activate_rows<Activation::Relu>(block, rows, cols, ld, clamp_min, clamp_max);
    case Activation::Clamp:
      return activate_rows<Activation::Clamp>(block, rows, cols, ld, clamp_min, clamp_max);
    default:
      return;
  }
}

void finish_copy(const PostOps& post, float* target, const float* source, std::int64_t count,
                 std::ptrdiff_t residual_offset) {
  const float scale = post.residual ? post.residual_scale : 0.0f;
  const float* residual = residual_at(target, residual_offset);
  const Activation activation = post.register_activation();
  for (std::int64_t i = 0; i < count; ++i) {
    const float sum = scale == 0.0f ? source[i] : source[i] + scale * residual[i];
    target[i] = activate(sum, activation, post.clamp_min, post.clamp_max);
  }
  activate_tile(post, target, 1, count, count);
}

void activate_tile(const PostOps& post, float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  if (post.in_registers() || rows <= 0 || cols <= 0) return;
  direct_ukernels().activate_tile(post, block, rows, cols, ld);
}

float activate_value(const PostOps& post, float x) {
  const double v = x;
  switch (post.activation) {
    case Activation::Relu:
      return x < 0.0f ? 0.0f : x;
    case Activation::Clamp:
      return x < post.clamp_min ? post.clamp_min : (x > post.clamp_max ? post.clamp_max : x);
    case Activation::LeakyRelu:
      return x < 0.0f ? post.alpha * x : x;
    case Activation::Sigmoid:
      return static_cast<float>(1.0 / (1.0 + std::exp(-v)));
    case Activation::Tanh:
      return static_cast<float>(std::tanh(v));
    case Activation::HardSigmoid: {
      const float h = std::fma(post.alpha, x, post.beta);
      return h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
    }
    case Activation::HardSwish: {
      const float h = std::fma(1.0f / 6.0f, x, 0.5f);
      return h <= 0.0f ? 0.0f : (h > 1.0f ? x : x * h);
    }
    case Activation::Silu:
      return std::isinf(x) && x < 0.0f ? -0.0f : static_cast<float>(v / (1.0 + std::exp(-v)));
    case Activation::GeluErf:
      return std::isinf(x) && x < 0.0f ? -0.0f : static_cast<float>(0.5 * v * std::erfc(-v / std::sqrt(2.0)));
    case Activation::GeluTanh: {
      if (std::isinf(x) && x < 0.0f) return -0.0f;
      const double u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
      return static_cast<float>(v / (1.0 + std::exp(-2.0 * u)));
    }
    default:
      return x;
  }
}

}  // namespace convkit::detail
