// The fused activation in registers, shared by the per-ISA kernels. Included only by them, after they define
// CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#include <convkit/convkit.hpp>
#include <xsimd/xsimd.hpp>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including activation_impl.hpp"
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// Task is any task with activation, clamp_min and clamp_max.
template <class Batch, class Task>
Batch activate_batch(Batch v, const Task& t) {
  switch (t.activation) {
    case Activation::Relu: {
      const Batch zero(0.0f);
      return xsimd::select(v < zero, zero, v);  // NaN stays NaN
    }
    case Activation::Clamp: {
      const Batch lo(t.clamp_min), hi(t.clamp_max);
      return xsimd::select(v < lo, lo, xsimd::select(v > hi, hi, v));
    }
    default:
      return v;
  }
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
