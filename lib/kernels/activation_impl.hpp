// The fused activation in registers, shared by the per-ISA kernels. Included only by them, after they define
// CONVKIT_ISA_NAMESPACE (see direct_ukernels_impl.hpp for why everything lives in that namespace).
#pragma once

#include <convkit/convkit.hpp>
#include <xsimd/xsimd.hpp>

#ifndef CONVKIT_ISA_NAMESPACE
#error "define CONVKIT_ISA_NAMESPACE before including activation_impl.hpp"
#endif

// The body given to with_activation is inlined into the tile it stores, or its accumulators go through memory
// (GCC outlined the three bodies of a depthwise tile and ran it at half the speed).
#if defined(__GNUC__) || defined(__clang__)
#define CONVKIT_ALWAYS_INLINE __attribute__((always_inline))
#else
#define CONVKIT_ALWAYS_INLINE
#endif

namespace convkit::detail::CONVKIT_ISA_NAMESPACE {

// The activations as function objects of a batch, for with_activation.
struct NoActivation {
  template <class Batch>
  CONVKIT_ALWAYS_INLINE Batch operator()(Batch v) const {
    return v;
  }
};

template <class Batch>
struct ReluActivation {
  Batch zero = Batch(0.0f);
  CONVKIT_ALWAYS_INLINE Batch operator()(Batch v) const {
    return xsimd::select(v < zero, zero, v);
  }  // NaN stays NaN, -0 stays -0
};

template <class Batch>
struct ClampActivation {
  Batch lo, hi;
  CONVKIT_ALWAYS_INLINE Batch operator()(Batch v) const {
    return xsimd::select(v < lo, lo, xsimd::select(v > hi, hi, v));
  }
};

// Calls body(activate), activate being the function object of the task's activation (Task: any task with
// activation, clamp_min and clamp_max): one switch per tile, its constants made once. A switch per stored vector,
// inlined into an unrolled tile, was if-converted into every activation's compares and blends for every vector,
// whichever activation the task had: 7 more vector instructions per stored vector, a third of the instructions of a
// depthwise tile.
template <class Batch, class Task, class Body>
CONVKIT_ALWAYS_INLINE inline void with_activation(const Task& t, const Body& body) {
  switch (t.activation) {
    case Activation::Relu:
      return body(ReluActivation<Batch>{});
    case Activation::Clamp:
      return body(ClampActivation<Batch>{Batch(t.clamp_min), Batch(t.clamp_max)});
    default:
      return body(NoActivation{});
  }
}

// One vector's activation, where a kernel stores one vector at a time.
template <class Batch, class Task>
Batch activate_batch(Batch v, const Task& t) {
  switch (t.activation) {
    case Activation::Relu:
      return ReluActivation<Batch>{}(v);
    case Activation::Clamp:
      return ClampActivation<Batch>{Batch(t.clamp_min), Batch(t.clamp_max)}(v);
    default:
      return v;
  }
}

}  // namespace convkit::detail::CONVKIT_ISA_NAMESPACE
