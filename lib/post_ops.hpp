// The part of a plan's epilogue that comes after the bias (convkit::Epilogue): the residual sum and the activation,
// in the form every kernel receives it.
//
// The residual is added in registers, at the store of each vector (the in-place form reads each output element
// before writing it), and so are the activations cheap enough to inline into every tile, ReLU and clamp. The others
// (sigmoid, tanh, GELU, ...) would multiply the tiles' code by their polynomials: a tile stores without them and then
// calls activate_tile on the block it has just written, while it is in L1.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

namespace convkit::detail {

struct PostOps {
  Activation activation = Activation::None;
  float clamp_min = 0.0f, clamp_max = 0.0f;  // Clamp
  float alpha = 0.0f, beta = 0.0f;           // LeakyRelu: alpha; HardSigmoid: alpha, beta
  bool residual = false;
  float residual_scale = 1.0f;

  // The activation the kernels apply in registers; None when activate_tile applies it.
  bool in_registers() const {
    return activation == Activation::None || activation == Activation::Relu || activation == Activation::Clamp;
  }
  Activation register_activation() const { return in_registers() ? activation : Activation::None; }
  // Whether a kernel has anything of this to do beyond its register activation.
  bool active() const { return residual || !in_registers(); }
};

// The post-ops a task carries: null when the plan has none beyond the register activation.
inline const PostOps* active_post_ops(const PostOps& post) { return post.active() ? &post : nullptr; }

// Applies post.activation (a kind beyond Clamp; the others are left alone) to rows x cols floats of `block`, leading
// dimension ld, in place, with the vector ISA of the direct kernels (kernels/activation_tile_impl.hpp).
void activate_tile(const PostOps& post, float* block, std::int64_t rows, std::int64_t cols, std::int64_t ld);

// The activation of one value, every kind (the scalar paths, and the reference of the vector forms).
float activate_value(const PostOps& post, float x);

// The residual of an output element, as an offset in floats from the element: the residual has the output's layout,
// so the residual of output[i] is residual[i] = output[i + offset], wherever a kernel is in the output (also in one
// branch's slice of a concatenated output). 0 in place. Computed on addresses, as the two may be separate objects.
inline std::ptrdiff_t residual_offset(const float* residual, const float* output) {
  if (residual == nullptr) return 0;
  return static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(residual) -
                                     reinterpret_cast<std::uintptr_t>(output)) /
         static_cast<std::ptrdiff_t>(sizeof(float));
}

// The residual of the element at `target`: target + offset on addresses (see residual_offset).
inline const float* residual_at(const float* target, std::ptrdiff_t offset) {
  return reinterpret_cast<const float*>(
      reinterpret_cast<std::uintptr_t>(target) +
      static_cast<std::uintptr_t>(offset * static_cast<std::ptrdiff_t>(sizeof(float))));
}

}  // namespace convkit::detail
