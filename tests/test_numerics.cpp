// The floating-point environment of a call: subnormals are flushed to zero on every path, and the caller's own
// floating-point state is the same after the call as before.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <convkit/convkit.hpp>
#include <string>
#include <vector>

#include "conv_tester.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>

namespace {

constexpr unsigned kFlushBits = 0x8040u;  // MXCSR.FTZ | MXCSR.DAZ

// A 3x3 convolution over 4 channels of 6x6 (NCHW) or the same NHWC; 1x1 kernels where the algorithm needs them.
convkit::Conv2dDesc small_desc(convkit::Algorithm algorithm, convkit::Layout layout) {
  convkit::Conv2dDesc d;
  d.batch = 2;
  d.in_channels = 4;
  d.in_height = d.in_width = 6;
  d.out_channels = 5;
  d.kernel_height = d.kernel_width = algorithm == convkit::Algorithm::Gemm1x1 ? 1 : 3;
  d.layout = layout;
  d.weights_layout = layout == convkit::Layout::NHWC ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
  return d;
}

// Runs every algorithm in both layouts at 1 and 2 threads on constant tensors of the given values, and hands each
// output to check.
template <typename Check>
void for_every_path(float input_value, float weight_value, Check check) {
  for (convkit::Algorithm algorithm : convkit_test::all_algorithms()) {
    for (convkit::Layout layout : {convkit::Layout::NCHW, convkit::Layout::NHWC}) {
      for (int threads : {1, 2}) {
        const convkit::Conv2dDesc d = small_desc(algorithm, layout);
        const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
        const std::vector<float> input(sizes.input, input_value), weights(sizes.weights, weight_value);
        std::vector<float> output(sizes.output, -1.0f);
        convkit::Options o;
        o.algorithm = algorithm;
        o.threads = threads;
        const std::string name = convkit::algorithm_name(algorithm);
        CAPTURE(name);
        const std::string layout_name = layout == convkit::Layout::NHWC ? "NHWC" : "NCHW";
        CAPTURE(layout_name);
        CAPTURE(threads);
        convkit::conv2d(d, input.data(), weights.data(), nullptr, output.data(), o);
        check(output);
      }
    }
  }
}

}  // namespace

TEST_CASE("subnormal inputs read as zero on every path") {
  const float subnormal = FLT_MIN / 8;  // 1.5e-39
  REQUIRE(std::fpclassify(subnormal) == FP_SUBNORMAL);
  for_every_path(subnormal, 1.0f, [](const std::vector<float>& output) {
    for (float v : output) REQUIRE(v == 0.0f);
  });
}

TEST_CASE("products that would be subnormal are flushed to zero on every path") {
  // 1e-20 * 1e-20 = 1e-40 is subnormal in float; 36 such terms (1e-38 * 0.36) are still below FLT_MIN.
  for_every_path(1e-20f, 1e-20f, [](const std::vector<float>& output) {
    for (float v : output) REQUIRE(v == 0.0f);
  });
}

TEST_CASE("normal values are untouched by the flushing: the smallest normal products survive") {
  // 2e-19 * 2e-19 = 4e-38 > FLT_MIN (1.18e-38): normal, so each output is 36 of them (a 3x3 kernel on 4 channels)
  // or 4 (1x1), never flushed.
  for_every_path(2e-19f, 2e-19f, [](const std::vector<float>& output) {
    for (float v : output) {
      REQUIRE(std::fpclassify(v) == FP_NORMAL);
      REQUIRE(v > 0.0f);
    }
  });
}

TEST_CASE("the caller's floating-point state is restored, flushing on or off") {
  const unsigned original = _mm_getcsr();
  for (unsigned caller : {original & ~kFlushBits, original | kFlushBits}) {
    _mm_setcsr(caller);
    for_every_path(1.0f, 1.0f, [&](const std::vector<float>&) { CHECK(_mm_getcsr() == caller); });
  }
  _mm_setcsr(original);
  // The caller's subnormals still work after a call: the library changed nothing in this thread.
  volatile float tiny = FLT_MIN;
  volatile float half = tiny / 2.0f;
  CHECK(std::fpclassify(half) == FP_SUBNORMAL);
}

#endif  // off x86 the library leaves the floating-point environment alone, and there is nothing to test
