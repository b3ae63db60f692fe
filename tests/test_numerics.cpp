// The floating-point environment of a call: subnormals are flushed to zero on every path, and the caller's own
// floating-point state is the same after the call as before.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstring>
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

// The lesson-sized path (direct_tiny) switches the environment only when an input, weight or bias could make a
// subnormal (lib/floating_point.hpp): its answers must be those of the flushed computation all the same.
namespace {

struct TinyCall {
  convkit::Conv2dDesc desc;
  std::vector<float> input, weights, bias, output;

  TinyCall(convkit::Layout layout, float input_value, float weight_value, float bias_value) {
    desc.batch = 2;
    desc.in_channels = 2;
    desc.in_height = desc.in_width = 3;
    desc.out_channels = 3;
    desc.kernel_height = desc.kernel_width = 2;
    desc.layout = layout;
    const convkit::TensorSizes sizes = convkit::tensor_sizes(desc);
    input.assign(sizes.input, input_value);
    weights.assign(sizes.weights, weight_value);
    bias.assign(sizes.bias, bias_value);
    output.assign(sizes.output, -1.0f);
  }

  // Runs through direct_tiny (auto's choice) and checks the answer against the reference path's: bit for bit (every
  // case below but one has exact sums), or within rounding.
  void run(convkit::Options options = {}, bool exact = true) {
    const convkit::Plan plan(desc, weights.data(), bias.data(), options);
    REQUIRE(convkit_test::implementation_of(plan.description()) == "direct_tiny");
    plan.run(input.data(), output.data());
    options.algorithm = convkit::Algorithm::Reference;
    std::vector<float> reference(output.size(), -2.0f);
    convkit::conv2d(desc, input.data(), weights.data(), bias.data(), reference.data(), options);
    for (std::size_t i = 0; i < output.size(); ++i) {
      CAPTURE(output[i]);
      CAPTURE(reference[i]);
      if (exact) {
        CHECK(std::memcmp(&output[i], &reference[i], sizeof(float)) == 0);
      } else {
        CHECK(std::fabs(output[i] - reference[i]) <= 1e-6f * std::fabs(reference[i]));
      }
    }
  }
};

}  // namespace

TEST_CASE("direct_tiny: subnormal inputs, weights, bias and products are flushed, normal ones are not") {
  const float subnormal = FLT_MIN / 8;
  for (convkit::Layout layout : {convkit::Layout::NCHW, convkit::Layout::NHWC}) {
    const unsigned caller = _mm_getcsr() & ~kFlushBits;
    _mm_setcsr(caller);
    {  // one subnormal input among normal ones reads as zero, though its product with 2^40 would be normal
      TinyCall call(layout, 1.0f, std::ldexp(1.0f, 40), 0.0f);
      call.input[4] = subnormal;
      TinyCall zeroed = call;
      zeroed.input[4] = 0.0f;
      call.run();
      zeroed.run();
      CHECK(call.output == zeroed.output);
    }
    {  // subnormal weights read as zero
      TinyCall call(layout, std::ldexp(1.0f, 40), subnormal, 0.0f);
      call.run();
      for (float v : call.output) CHECK(v == 0.0f);
    }
    {  // a subnormal bias reads as zero
      TinyCall call(layout, 0.0f, 1.0f, subnormal);
      call.run();
      for (float v : call.output) CHECK(v == 0.0f);
    }
    {  // normal inputs and weights whose products are subnormal: flushed (1e-20 * 1e-20 = 1e-40, 8 of them 8e-40)
      TinyCall call(layout, 1e-20f, 1e-20f, 0.0f);
      call.run();
      for (float v : call.output) CHECK(v == 0.0f);
    }
    {  // the smallest normal products survive, and the run needed no switch: 2e-19^2 = 4e-38, 8 of them 3.2e-37
      TinyCall call(layout, 2e-19f, 2e-19f, 0.0f);
      call.run({}, /*exact=*/false);
      for (float v : call.output) CHECK(std::fpclassify(v) == FP_NORMAL);
    }
    {  // a clamp bound that is subnormal compares as zero: a sum of exactly zero is not below it
      TinyCall call(layout, 0.0f, 1.0f, 0.0f);
      convkit::Options options;
      options.activation = convkit::Activation::Clamp;
      options.clamp_min = subnormal;
      options.clamp_max = 1.0f;
      call.run(options);
      for (float v : call.output) CHECK(v == 0.0f);
    }
    // The caller's modes are as they were (the exception flags, 0x3F, are sticky and set by this test's own code).
    CHECK((_mm_getcsr() & ~0x3Fu) == (caller & ~0x3Fu));
  }
}

#endif  // off x86 the library leaves the floating-point environment alone, and there is nothing to test
