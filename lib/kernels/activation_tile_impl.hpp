// The activations beyond ReLU and clamp on whole vectors (../post_ops.hpp, activate_tile), written once with xsimd.
// Included only by the per-ISA files (through direct_ukernels_impl.hpp), each of which defines CONVKIT_ISA_NAMESPACE.
//
// Each form is chosen so that no cancellation or overflow spoils it over the whole float range:
//   sigmoid(x)   = 1 / (1 + exp(-x))                exp(-x) overflows to inf below -88.7: the result 0 is then
//                                                    within 1.2e-38 of the exact one
//   silu(x)      = x * sigmoid(x)                   -0 at -inf, where the product would be -inf * 0
//   gelu_erf(x)  = x / 2 * erfc(-x / sqrt(2))       erfc, not 1 + erf: for negative x, 1 + erf(x / sqrt(2)) is the
//                                                    difference of two numbers near 1 and keeps few correct bits
//   gelu_tanh(x) = x * sigmoid(2u), u = sqrt(2/pi) * (x + 0.044715 x^3)
//                                                  the same identity: 1 + tanh(u) = 2 sigmoid(2u)
#pragma once

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including activation_tile_impl.hpp"
#endif

#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "../post_ops.hpp"

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

template <class Arch>
struct ActivationTile {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr std::int64_t kWidth = static_cast<std::int64_t>(Batch::size);

  static Batch sigmoid(Batch x) { return Batch(1.0f) / (Batch(1.0f) + xsimd::exp(-x)); }

  // x * f where f -> 0 as x -> -inf: the limit -0 there, not -inf * 0.
  static Batch times_vanishing(Batch x, Batch f) {
    return xsimd::select(x == Batch(-std::numeric_limits<float>::infinity()), Batch(-0.0f), x * f);
  }

  static Batch hard_sigmoid(Batch x, Batch alpha, Batch beta) {
    const Batch v = xsimd::fma(alpha, x, beta);
    return xsimd::select(v < Batch(0.0f), Batch(0.0f), xsimd::select(v > Batch(1.0f), Batch(1.0f), v));
  }

  template <Activation kActivation>
  static Batch apply(Batch x, const PostOps& post) {
    if constexpr (kActivation == Activation::LeakyRelu) {
      return xsimd::select(x < Batch(0.0f), Batch(post.alpha) * x, x);
    } else if constexpr (kActivation == Activation::Sigmoid) {
      return sigmoid(x);
    } else if constexpr (kActivation == Activation::Tanh) {
      return xsimd::tanh(x);
    } else if constexpr (kActivation == Activation::HardSigmoid) {
      return hard_sigmoid(x, Batch(post.alpha), Batch(post.beta));
    } else if constexpr (kActivation == Activation::HardSwish) {
      const Batch h = hard_sigmoid(x, Batch(1.0f / 6.0f), Batch(0.5f));
      return xsimd::select(h == Batch(0.0f), Batch(0.0f), x * h);  // 0 for x <= -3, -inf included
    } else if constexpr (kActivation == Activation::Silu) {
      return times_vanishing(x, sigmoid(x));
    } else if constexpr (kActivation == Activation::GeluErf) {
      return times_vanishing(x, Batch(0.5f) * xsimd::erfc(x * Batch(-0.70710678118654752f)));
    } else if constexpr (kActivation == Activation::GeluTanh) {
      const Batch x3 = x * x * x;
      const Batch u = Batch(0.7978845608028654f) * xsimd::fma(Batch(0.044715f), x3, x);
      return times_vanishing(x, sigmoid(u + u));
    } else {
      return x;
    }
  }

  template <Activation kActivation>
  static void rows(const PostOps& post, float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    for (std::int64_t r = 0; r < rows; ++r) {
      float* row = block + r * ld;
      std::int64_t c = 0;
      for (; c + kWidth <= cols; c += kWidth)
        apply<kActivation>(Batch::load_unaligned(row + c), post).store_unaligned(row + c);
      if (c < cols) {  // the tail through a vector on the stack: no lane beyond cols is read or written
        alignas(64) float tail[kWidth] = {};
        for (std::int64_t i = c; i < cols; ++i) tail[i - c] = row[i];
        apply<kActivation>(Batch::load_aligned(tail), post).store_aligned(tail);
        for (std::int64_t i = c; i < cols; ++i) row[i] = tail[i - c];
      }
    }
  }

  static void tile(const PostOps& post, float* block, std::int64_t rows_, std::int64_t cols, std::int64_t ld) {
    switch (post.activation) {
      case Activation::LeakyRelu:
        return rows<Activation::LeakyRelu>(post, block, rows_, cols, ld);
      case Activation::Sigmoid:
        return rows<Activation::Sigmoid>(post, block, rows_, cols, ld);
      case Activation::Tanh:
        return rows<Activation::Tanh>(post, block, rows_, cols, ld);
      case Activation::HardSigmoid:
        return rows<Activation::HardSigmoid>(post, block, rows_, cols, ld);
      case Activation::HardSwish:
        return rows<Activation::HardSwish>(post, block, rows_, cols, ld);
      case Activation::Silu:
        return rows<Activation::Silu>(post, block, rows_, cols, ld);
      case Activation::GeluErf:
        return rows<Activation::GeluErf>(post, block, rows_, cols, ld);
      case Activation::GeluTanh:
        return rows<Activation::GeluTanh>(post, block, rows_, cols, ld);
      default:
        return;
    }
  }
};

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
