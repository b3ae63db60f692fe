// The fused epilogue (convkit::Epilogue): out = activation(conv + bias + residual_scale * residual), on every
// algorithm, both layouts, every activation, the residual absent, separate or in place; its validation; concatenated
// plans; and the C++ API's misuse answered with errors. The activations' own accuracy: test_activations.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "conv_tester.hpp"
#include "oracle.hpp"

using convkit::Activation;
using convkit::Algorithm;
using convkit::Layout;
using convkit_test::ConvTester;
using Residual = convkit_test::ConvTester::Residual;

namespace {

const Activation kActivations[] = {Activation::None,        Activation::Relu,      Activation::Clamp,
                                   Activation::LeakyRelu,   Activation::Sigmoid,   Activation::Tanh,
                                   Activation::HardSigmoid, Activation::HardSwish, Activation::Silu,
                                   Activation::GeluErf,     Activation::GeluTanh};
const Residual kResiduals[] = {Residual::None, Residual::Separate, Residual::InPlace};

convkit::Epilogue epilogue(Activation activation, float scale = 1.0f) {
  convkit::Epilogue e;
  e.activation = activation;
  e.clamp_min = -0.25f;
  e.clamp_max = 0.5f;
  e.leaky_relu_alpha = 0.1f;
  e.hard_sigmoid_alpha = 0.25f;
  e.hard_sigmoid_beta = 0.4f;
  e.residual_scale = scale;
  return e;
}

}  // namespace

TEST_CASE("every algorithm, both layouts, every activation, with and without a residual, in place or not") {
  // Shapes that reach every family: 1x1 (GEMM on the input as it lies), 3x3 stride 1 (Winograd, implicit GEMM,
  // direct), strided and dilated, depthwise with and without a multiplier, and a tiny call.
  struct Shape {
    std::int64_t ci, co, groups, size, kernel, stride, dilation;
  };
  const Shape shapes[] = {{19, 21, 1, 9, 1, 1, 1},   {8, 12, 1, 10, 3, 1, 1}, {6, 10, 2, 11, 3, 2, 1},
                          {16, 16, 16, 12, 3, 1, 1}, {8, 16, 8, 9, 5, 2, 1},  {5, 7, 1, 13, 3, 1, 2},
                          {2, 3, 1, 3, 2, 1, 1}};
  // Every activation once per shape and layout, the residual modes taking turns, and ReLU (ResNet's) with each.
  struct Case {
    Activation activation;
    Residual residual;
  };
  std::vector<Case> cases;
  for (std::size_t a = 0; a < std::size(kActivations); ++a) cases.push_back({kActivations[a], kResiduals[a % 3]});
  for (Residual residual : kResiduals) cases.push_back({Activation::Relu, residual});
  int index = 0;
  for (const Shape& s : shapes)
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (const Case& c : cases) {
        const Activation activation = c.activation;
        const Residual residual = c.residual;
        const float scale = (index++ % 3 == 2) ? -0.5f : 1.0f;
        ConvTester()
            .batch(2)
            .channels(s.ci, s.co)
            .groups(s.groups)
            .input(s.size, s.size + 2)
            .kernel(s.kernel, s.kernel)
            .stride(s.stride, s.stride)
            .dilation(s.dilation, s.dilation)
            .padding(s.kernel / 2, s.kernel / 2, s.kernel / 2, 0)
            .layout(layout)
            .bias(true)
            .through_plan(index % 2 == 0)
            .epilogue(epilogue(activation, scale), residual)
            .test_all();
      }
}

TEST_CASE("the residual around the register tiles' edges: widths and channel counts across the tiles") {
  // Output widths and channel counts from 1 past two AVX-512 register tiles (12 x 32), both layouts, in place.
  for (std::int64_t width : {1, 7, 15, 16, 17, 31, 33, 45})
    for (std::int64_t channels : {1, 11, 12, 13, 16, 17, 32, 33})
      for (Layout layout : {Layout::NCHW, Layout::NHWC})
        for (Algorithm algorithm : {Algorithm::Gemm1x1, Algorithm::Im2colGemm, Algorithm::ImplicitGemm}) {
          ConvTester t;
          t.channels(9, channels)
              .input(3, width)
              .kernel(algorithm == Algorithm::Gemm1x1 ? 1 : 3, algorithm == Algorithm::Gemm1x1 ? 1 : 3)
              .padding(1, 1, 1, 1)
              .layout(layout)
              .bias(true)
              .epilogue(epilogue(width % 2 ? Activation::Relu : Activation::Silu), Residual::InPlace);
          if (algorithm == Algorithm::Gemm1x1) t.padding(0, 0, 0, 0);
          t.test(algorithm);
        }
}

TEST_CASE("a depthwise layer with a residual on every direct kernel: rows, planes, blocked, NHWC") {
  for (std::int64_t size : {5, 7, 14, 20, 33})
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (std::int64_t stride : {1, 2})
        for (Residual residual : {Residual::Separate, Residual::InPlace})
          ConvTester()
              .channels(24, 24)
              .groups(24)
              .input(size, size)
              .kernel(3, 3)
              .stride(stride, stride)
              .padding(1, 1, 1, 1)
              .layout(layout)
              .bias(true)
              .threads(2)
              .epilogue(epilogue(size % 2 ? Activation::Clamp : Activation::HardSwish), residual)
              .test(Algorithm::Direct);
}

TEST_CASE("a concatenated plan applies the epilogue to every branch, fused, apart and through the workspace") {
  // Branches 0 and 2 share one GEMM (1x1) and are not neighbours: their part is computed in the workspace and copied
  // into place, the copy finishing it; branch 1 (3x3) runs on its own into its slice.
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Activation activation : {Activation::Relu, Activation::Sigmoid})
      for (Residual residual : kResiduals) {
        CAPTURE(static_cast<int>(layout));
        CAPTURE(static_cast<int>(activation));
        CAPTURE(static_cast<int>(residual));
        std::vector<convkit::Conv2dDesc> descs(3);
        const std::int64_t kernels[] = {1, 3, 1}, outs[] = {5, 7, 4};
        std::int64_t total = 0;
        for (int b = 0; b < 3; ++b) {
          convkit::Conv2dDesc& d = descs[static_cast<std::size_t>(b)];
          d.batch = 2;
          d.in_channels = 6;
          d.in_height = d.in_width = 8;
          d.out_channels = outs[b];
          d.kernel_height = d.kernel_width = kernels[b];
          d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = kernels[b] / 2;
          d.layout = layout;
          total += outs[b];
        }
        std::vector<std::vector<float>> weights, biases;
        std::vector<convkit::ConcatBranch> branches;
        for (int b = 0; b < 3; ++b) {
          const convkit::TensorSizes sizes = convkit::tensor_sizes(descs[static_cast<std::size_t>(b)]);
          weights.push_back(convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 10 + b));
          biases.push_back(convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 20 + b));
        }
        for (int b = 0; b < 3; ++b)
          branches.push_back({descs[static_cast<std::size_t>(b)], weights[static_cast<std::size_t>(b)].data(),
                              biases[static_cast<std::size_t>(b)].data()});
        const auto input = convkit_test::random_floats(static_cast<std::size_t>(2 * 6 * 64), 30);
        const std::size_t out_count = static_cast<std::size_t>(2 * total * 64);
        const auto res = convkit_test::random_floats(out_count, 31);
        convkit::Epilogue e = epilogue(activation, 0.75f);
        e.residual = residual != Residual::None;
        const convkit::Plan fused(branches, convkit::Options{}, e);
        std::vector<float> got(out_count, 0.0f);
        if (residual == Residual::InPlace) got = res;
        if (e.residual) {
          fused.run_residual(input.data(), residual == Residual::InPlace ? got.data() : res.data(), got.data());
        } else {
          fused.run(input.data(), got.data());
        }
        // The same without an epilogue, then the epilogue by hand from the oracle's activation.
        const convkit::Plan plain(branches);
        std::vector<float> sums(out_count);
        plain.run(input.data(), sums.data());
        std::int64_t wrong = 0;
        for (std::size_t i = 0; i < out_count; ++i) {
          double v = sums[i];
          if (e.residual) v += 0.75 * res[i];
          const double want = convkit_test::oracle_activation(v, e);
          if (!(std::fabs(got[i] - want) <= 1e-5 * (1 + std::fabs(want)))) ++wrong;
        }
        CHECK(wrong == 0);
      }
}

TEST_CASE("an epilogue is validated field by field, and a residual is checked at every run") {
  convkit::Conv2dDesc d;
  d.batch = 1;
  d.in_channels = d.out_channels = 4;
  d.in_height = d.in_width = 6;
  d.kernel_height = d.kernel_width = 3;
  const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.1f);
  const auto expect_invalid = [&](const convkit::Epilogue& e, const convkit::Options& o, const char* field) {
    CAPTURE(field);
    try {
      convkit::Plan plan(d, w.data(), nullptr, o, e);
      FAIL("no error");
    } catch (const convkit::Error& error) {
      CHECK(error.status() == convkit::Status::InvalidArgument);
      CHECK(std::string(error.what()).find(field) != std::string::npos);
    }
  };
  convkit::Epilogue e;
  e.activation = static_cast<Activation>(11);
  expect_invalid(e, {}, "epilogue.activation = 11");
  e = epilogue(Activation::Clamp);
  e.clamp_min = 2.0f;
  e.clamp_max = 1.0f;
  expect_invalid(e, {}, "epilogue.clamp_min");
  e.clamp_min = std::nanf("");
  expect_invalid(e, {}, "epilogue.clamp_min is NaN");
  e = epilogue(Activation::LeakyRelu);
  e.leaky_relu_alpha = INFINITY;
  expect_invalid(e, {}, "epilogue.leaky_relu_alpha");
  e = epilogue(Activation::HardSigmoid);
  e.hard_sigmoid_beta = std::nanf("");
  expect_invalid(e, {}, "epilogue.hard_sigmoid_beta");
  e = epilogue(Activation::None);
  e.residual = true;
  e.residual_scale = INFINITY;
  expect_invalid(e, {}, "epilogue.residual_scale");
  convkit::Options relu;
  relu.activation = Activation::Relu;
  expect_invalid(epilogue(Activation::Silu), relu, "options.activation");
  // Options alone still take only the activations they always took.
  convkit::Options silu;
  silu.activation = Activation::Silu;
  CHECK_THROWS_AS(convkit::Plan(d, w.data(), nullptr, silu), convkit::Error);

  const std::vector<float> x(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 1.0f);
  std::vector<float> y(static_cast<std::size_t>(convkit::tensor_sizes(d).output) * 2, 0.0f);
  convkit::Epilogue with_residual = epilogue(Activation::Relu);
  with_residual.residual = true;
  const convkit::Plan plan(d, w.data(), nullptr, {}, with_residual);
  CHECK(plan.epilogue().residual);
  const auto expect_run_invalid = [&](auto&& call, const char* words) {
    CAPTURE(words);
    try {
      call();
      FAIL("no error");
    } catch (const convkit::Error& error) {
      CHECK(error.status() == convkit::Status::InvalidArgument);
      CHECK(std::string(error.what()).find(words) != std::string::npos);
    }
  };
  expect_run_invalid([&] { plan.run(x.data(), y.data()); }, "run_residual");
  expect_run_invalid([&] { plan.run_residual(x.data(), nullptr, y.data()); }, "residual is null");
  expect_run_invalid([&] { plan.run_residual(x.data(), y.data() + 1, y.data()); }, "residual overlaps output");
  expect_run_invalid([&] { plan.run_residual(x.data(), x.data(), y.data()); }, "residual overlaps input");
  const convkit::Plan no_residual(d, w.data(), nullptr, {}, epilogue(Activation::Tanh));
  expect_run_invalid([&] { no_residual.run_residual(x.data(), y.data(), y.data()); }, "no residual");
  // In place and separate give the same bits.
  const std::size_t n = static_cast<std::size_t>(convkit::tensor_sizes(d).output);
  std::vector<float> r = convkit_test::random_floats(n, 5), in_place = r, separate(n);
  plan.run_residual(x.data(), in_place.data(), in_place.data());
  plan.run_residual(x.data(), r.data(), separate.data());
  CHECK(std::memcmp(in_place.data(), separate.data(), n * sizeof(float)) == 0);
}

TEST_CASE("a plan made from options alone keeps its exact behaviour, and reports its epilogue") {
  convkit::Conv2dDesc d;
  d.batch = 1;
  d.in_channels = 8;
  d.out_channels = 16;
  d.in_height = d.in_width = 9;
  d.kernel_height = d.kernel_width = 3;
  const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 1);
  const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 2);
  const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 3);
  convkit::Options relu;
  relu.activation = Activation::Relu;
  const convkit::Plan old_style(d, w.data(), b.data(), relu);
  CHECK(old_style.epilogue().activation == Activation::Relu);
  CHECK_FALSE(old_style.epilogue().residual);
  const convkit::Plan new_style(d, w.data(), b.data(), {}, epilogue(Activation::Relu));
  std::vector<float> a(static_cast<std::size_t>(sizes.output)), c(a.size());
  old_style.run(x.data(), a.data());
  new_style.run(x.data(), c.data());
  CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
}
