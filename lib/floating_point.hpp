// The floating-point environment of a call: subnormal numbers are flushed to zero while convkit computes.
//
// Why: on x86 a multiplication or FMA that reads or produces a subnormal takes a microcode assist of the order of a
// hundred cycles, so a layer whose activations decay into the subnormal range can run many times slower for no
// useful precision (a subnormal float is below 1.2e-38). Flushing is what TensorFlow and ONNX Runtime do too.
// How: every thread that runs convkit's loops sets MXCSR's FTZ (results) and DAZ (operands) bits for the duration of
// its work and restores the caller's bits afterwards, so the caller's own code never sees the change. Every path,
// including the reference, runs under the same rule, so all algorithms agree on subnormal inputs. One path, the
// lesson-sized direct_tiny, skips the switch where it provably changes nothing (subnormal_free_input_floor below).
#pragma once

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define CONVKIT_HAS_MXCSR 1
#else
#define CONVKIT_HAS_MXCSR 0
#endif

namespace convkit::detail {

class FlushSubnormals {
 public:
#if CONVKIT_HAS_MXCSR
  static constexpr unsigned kFlushToZero = 0x8000u;       // MXCSR.FTZ: subnormal results become 0
  static constexpr unsigned kDenormalsAreZero = 0x0040u;  // MXCSR.DAZ: subnormal operands read as 0

  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#else
  FlushSubnormals() = default;  // other targets keep their default environment
#endif

 public:
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;
};

// Where flushing can change nothing, a call may skip the switch (the lesson's calls: it is a fifth of their time).
// If every nonzero bias, and every product of a nonzero weight and a nonzero input, is at least 2^-78 in magnitude,
// then every exact product and bias is a multiple of 2^-126 (a float of magnitude at least 2^e is a multiple of
// 2^(e-23), so such a product is a multiple of at least 2^-125), so is every sum of them, rounded or not, fused or
// not, and no intermediate is ever a nonzero number below FLT_MIN = 2^-126: no subnormal is read or made.
// subnormal_free_input_floor returns the smallest nonzero input magnitude that keeps that true with these weights,
// bias and activation (at least FLT_MIN, so no input is subnormal either), or infinity where no input can: a
// subnormal or too small weight or bias, or a subnormal clamp bound (DAZ changes how it compares).
inline float subnormal_free_input_floor(const float* weights, std::int64_t weight_count, const float* bias,
                                        std::int64_t bias_count, Activation activation, float clamp_min,
                                        float clamp_max) {
  constexpr float kInfinity = std::numeric_limits<float>::infinity();
  const float product_floor = std::ldexp(1.0f, -78), normal_floor = std::numeric_limits<float>::min();
  float smallest_weight = kInfinity;
  for (std::int64_t i = 0; i < weight_count; ++i) {
    const float magnitude = std::fabs(weights[i]);
    if (magnitude > 0.0f && magnitude < smallest_weight) smallest_weight = magnitude;
  }
  if (smallest_weight < normal_floor) return kInfinity;
  for (std::int64_t i = 0; bias != nullptr && i < bias_count; ++i) {
    const float magnitude = std::fabs(bias[i]);
    if (magnitude > 0.0f && magnitude < product_floor) return kInfinity;
  }
  if (activation == Activation::Clamp)
    for (const float bound : {clamp_min, clamp_max})
      if (bound != 0.0f && std::fabs(bound) < normal_floor) return kInfinity;
  const float floor = product_floor / smallest_weight;  // 0 when every weight is zero
  return floor < normal_floor ? normal_floor : floor;
}

}  // namespace convkit::detail
