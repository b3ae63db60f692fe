// The floating-point environment of a call: subnormal numbers are flushed to zero while convkit computes.
//
// Why: on x86 a multiplication or FMA that reads or produces a subnormal takes a microcode assist of the order of a
// hundred cycles, so a layer whose activations decay into the subnormal range can run many times slower for no
// useful precision (a subnormal float is below 1.2e-38). Flushing is what TensorFlow and ONNX Runtime do too.
// How: every thread that runs convkit's loops sets MXCSR's FTZ (results) and DAZ (operands) bits for the duration of
// its work and restores the caller's bits afterwards, so the caller's own code never sees the change. Every path,
// including the reference, runs under the same rule, so all algorithms agree on subnormal inputs.
#pragma once

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

}  // namespace convkit::detail
