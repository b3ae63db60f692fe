// Plans: the oracle's results, owned weights, the workspace contract, and one plan run from several threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <convkit/convkit.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "conv_tester.hpp"
#include "layer_suite.hpp"

using convkit::Algorithm;
using convkit::Layout;
using convkit_test::ConvTester;

TEST_CASE("plans give the oracle's results for every algorithm, after the caller overwrote its weights") {
  std::mt19937 rng(convkit_test::kSeed + 99);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (int shape = 0; shape < 60; ++shape) {
    const std::int64_t groups = pick(1, 3), k = pick(1, 5);
    ConvTester()
        .batch(pick(1, 2))
        .channels(groups * pick(1, 4), groups * pick(1, 4))
        .groups(groups)
        .input(k + pick(0, 20), k + pick(0, 20))
        .kernel(k, k)
        .stride(pick(1, 2), pick(1, 2))
        .padding(pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2))
        .layout(pick(0, 1) ? Layout::NCHW : Layout::NHWC)
        .bias(true)
        .activation(convkit::Activation::Relu)
        .threads(static_cast<int>(pick(1, 2)))
        .seed(convkit_test::kSeed + 1000u + static_cast<std::uint32_t>(shape))
        .through_plan(true)
        .test_all();
  }
}

TEST_CASE("a caller workspace of the reported size works, one byte less is rejected") {
  for (Algorithm algorithm : {Algorithm::Im2colGemm, Algorithm::Direct, Algorithm::Reference}) {
    CAPTURE(convkit::algorithm_name(algorithm));
    convkit::Conv2dDesc d;
    d.batch = 2;
    d.in_channels = 8;
    d.out_channels = 8;
    d.in_height = d.in_width = 24;
    d.kernel_height = d.kernel_width = 3;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
    const auto sizes = convkit::tensor_sizes(d);
    const auto x = convkit_test::random_floats(static_cast<size_t>(sizes.input), 1);
    const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 2);
    convkit::Options options;
    options.algorithm = algorithm;
    const convkit::Plan plan(d, w.data(), nullptr, options);
    CHECK(plan.algorithm() == algorithm);
    std::vector<float> expected(static_cast<size_t>(sizes.output)), got(expected.size(), -1.0f);
    convkit::conv2d(d, x.data(), w.data(), nullptr, expected.data(), options);
    std::vector<unsigned char> workspace(plan.workspace_size() + 1);
    plan.run(x.data(), got.data(), workspace.data(), plan.workspace_size());
    CHECK(got == expected);
    if (plan.workspace_size() > 0) {
      std::fill(got.begin(), got.end(), -1.0f);
      try {
        plan.run(x.data(), got.data(), workspace.data(), plan.workspace_size() - 1);
        FAIL("no exception");
      } catch (const convkit::Error& e) {
        CHECK(e.status() == convkit::Status::InvalidArgument);
        CHECK(std::string(e.what()).find("workspace_size") != std::string::npos);
      }
      CHECK(got == std::vector<float>(got.size(), -1.0f));
    }
    // Without a workspace the run provides its own.
    std::fill(got.begin(), got.end(), -1.0f);
    plan.run(x.data(), got.data());
    CHECK(got == expected);
  }
}

TEST_CASE("four threads running one plan at once all get the right results") {
  convkit::Conv2dDesc d;
  d.batch = 1;
  d.in_channels = d.out_channels = d.groups = 16;
  d.in_height = d.in_width = 40;
  d.kernel_height = d.kernel_width = 3;
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
  const auto sizes = convkit::tensor_sizes(d);
  const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 3);
  for (Algorithm algorithm : {Algorithm::Direct, Algorithm::Im2colGemm}) {
    convkit::Options options;
    options.algorithm = algorithm;
    options.threads = 1;
    const convkit::Plan plan(d, w.data(), nullptr, options);
    std::vector<std::vector<float>> inputs, expected;
    for (int t = 0; t < 4; ++t) {
      inputs.push_back(convkit_test::random_floats(static_cast<size_t>(sizes.input), 10u + static_cast<unsigned>(t)));
      expected.emplace_back(static_cast<size_t>(sizes.output));
      plan.run(inputs.back().data(), expected.back().data());
    }
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::vector<float> out(static_cast<size_t>(sizes.output));
        for (int round = 0; round < 50; ++round) {
          plan.run(inputs[t].data(), out.data());
          if (out != expected[t]) ++mismatches[t];
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(mismatches == std::vector<int>(4, 0));
  }
}

TEST_CASE("a plan rejects null and overlapping buffers") {
  convkit::Conv2dDesc d;
  d.batch = d.in_channels = d.out_channels = 1;
  d.in_height = d.in_width = 4;
  d.kernel_height = d.kernel_width = 3;
  std::vector<float> w(9, 1.0f), buffer(64, 1.0f);
  CHECK_THROWS_AS(convkit::Plan(d, nullptr, nullptr), convkit::Error);
  const convkit::Plan plan(d, w.data(), nullptr);
  CHECK_THROWS_AS(plan.run(nullptr, buffer.data()), convkit::Error);
  CHECK_THROWS_AS(plan.run(buffer.data(), nullptr), convkit::Error);
  CHECK_THROWS_WITH_AS(plan.run(buffer.data(), buffer.data() + 8), "output overlaps input; they must be disjoint",
                       convkit::Error);
  plan.run(buffer.data(), buffer.data() + 16);
  CHECK(buffer[16] == 9.0f);
}

TEST_CASE("a plan rejects a workspace that overlaps its input or output, on every algorithm and both layouts") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC})
    for (Algorithm algorithm : {Algorithm::Im2colGemm, Algorithm::Direct, Algorithm::Winograd, Algorithm::Gemm1x1}) {
      convkit::Conv2dDesc d;
      d.batch = 1, d.in_channels = 16, d.out_channels = 16, d.in_height = d.in_width = 12;
      d.kernel_height = d.kernel_width = algorithm == Algorithm::Gemm1x1 ? 1 : 3;
      d.stride_height = d.stride_width = algorithm == Algorithm::Gemm1x1 ? 2 : 1;  // a 1x1 that unfolds
      d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
      d.layout = layout;
      convkit::Options options;
      options.algorithm = algorithm;
      options.math_mode = convkit::MathMode::Fast;
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 5);
      const convkit::Plan plan(d, w.data(), nullptr, options);
      CAPTURE(plan.description());
      REQUIRE(plan.workspace_size() > 0);
      const std::size_t in_floats = static_cast<std::size_t>(sizes.input);
      const std::size_t out_floats = static_cast<std::size_t>(sizes.output);
      const std::size_t ws_floats = plan.workspace_size() / sizeof(float) + 1;
      // One buffer: room for a workspace, the input, the output, room for a workspace; every overlap lies inside it.
      std::vector<float> arena(ws_floats + in_floats + out_floats + ws_floats);
      const auto x = convkit_test::random_floats(in_floats, 6);
      float* input = arena.data() + ws_floats;
      float* output = input + in_floats;
      float* after = output + out_floats;
      std::copy(x.begin(), x.end(), input);
      std::vector<float> want(out_floats);
      plan.run(x.data(), want.data());
      const std::size_t bytes = plan.workspace_size();
      const auto at = [](float* p, std::ptrdiff_t byte_offset) {
        return static_cast<void*>(reinterpret_cast<unsigned char*>(p) + byte_offset);
      };
      const auto bytes_back = -static_cast<std::ptrdiff_t>(bytes);
      // Its last byte on the input's first, its first on the input's last float, inside the output, on its last byte.
      CHECK_THROWS_WITH_AS(plan.run(input, output, at(input, bytes_back + 1), bytes),
                           doctest::Contains("workspace overlaps input"), convkit::Error);
      CHECK_THROWS_WITH_AS(plan.run(input, output, output - 1, bytes), doctest::Contains("workspace overlaps input"),
                           convkit::Error);
      CHECK_THROWS_WITH_AS(plan.run(input, output, output + out_floats / 2, bytes),
                           doctest::Contains("workspace overlaps output"), convkit::Error);
      CHECK_THROWS_WITH_AS(plan.run(input, output, at(after, -1), bytes),
                           doctest::Contains("workspace overlaps output"), convkit::Error);
      // The rejected calls touched nothing; workspaces just before the input and just after the output work.
      CHECK(std::equal(x.begin(), x.end(), input));
      plan.run(input, output, at(input, bytes_back), bytes);
      CHECK(std::equal(want.begin(), want.end(), output));
      std::fill(output, output + out_floats, 0.0f);
      plan.run(input, output, after, bytes);
      CHECK(std::equal(want.begin(), want.end(), output));
      CHECK(std::equal(x.begin(), x.end(), input));
    }
}

TEST_CASE("a moved-from plan answers like the C API's NULL plan") {
  convkit::Conv2dDesc d;
  d.batch = d.in_channels = d.out_channels = 1;
  d.in_height = d.in_width = 4;
  d.kernel_height = d.kernel_width = 3;
  const std::vector<float> w(9, 1.0f), x(16, 1.0f);
  std::vector<float> y(4, 0.0f);
  convkit::Plan plan(d, w.data(), nullptr);
  convkit::Plan other(std::move(plan));
  CHECK(plan.workspace_size() == 0);  // NOLINT(bugprone-use-after-move): the point of the test
  CHECK(plan.algorithm() == Algorithm::Auto);
  CHECK(plan.description().empty());
  CHECK_THROWS_WITH_AS(plan.run(x.data(), y.data()), doctest::Contains("moved from"), convkit::Error);
  other.run(x.data(), y.data());
  CHECK(y[0] == 9.0f);
  // Assigned to, a moved-from plan is whole again.
  plan = std::move(other);
  plan.run(x.data(), y.data());
  CHECK(y[3] == 9.0f);
  CHECK(other.workspace_size() == 0);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("the GEMM path's workspace stays within 2 MiB per thread on every layer of the suite") {
  constexpr std::size_t kBoundPerThread = std::size_t{2} << 20;
  constexpr std::size_t kAlignmentSlack = 63;  // reported on top of the kernel's own need (see Plan::workspace_size)
  for (const convkit_bench::Layer& suite_layer : convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE)) {
    for (convkit::Layout layout : {convkit::Layout::NCHW, convkit::Layout::NHWC}) {
      const convkit_bench::Layer layer = suite_layer.with_layout(layout);
      const std::vector<float> weights(convkit::tensor_sizes(layer.desc).weights, 0.5f);
      for (convkit::Algorithm algorithm : {convkit::Algorithm::Im2colGemm, convkit::Algorithm::Gemm1x1}) {
        if (algorithm == convkit::Algorithm::Gemm1x1 && !layer.is_1x1()) continue;
        for (int threads : {1, 2}) {
          convkit::Options o;
          o.algorithm = algorithm;
          o.threads = threads;
          const convkit::Plan plan(layer.desc, weights.data(), nullptr, o);
          const std::string what = layer.name + (layout == convkit::Layout::NHWC ? " NHWC " : " NCHW ") +
                                   convkit::algorithm_name(algorithm) + " threads=" + std::to_string(threads);
          CAPTURE(what);
          CHECK(plan.workspace_size() <= kBoundPerThread * static_cast<std::size_t>(threads) + kAlignmentSlack);
        }
      }
    }
  }
}

TEST_CASE("chosen_algorithm, conv2d's answer and Plan::algorithm() agree, and the description names the family") {
  std::mt19937 rng(convkit_test::kSeed + 21);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (int shape = 0; shape < 24; ++shape) {
    const std::int64_t groups = pick(1, 2), k = shape % 3 == 0 ? 1 : (shape % 3 == 1 ? 3 : pick(2, 5));
    convkit::Conv2dDesc d;
    d.batch = pick(1, 2);
    d.groups = groups;
    d.in_channels = groups * pick(1, 8);
    d.out_channels = groups * pick(1, 8);
    d.in_height = k + pick(0, 12);
    d.in_width = k + pick(0, 12);
    d.kernel_height = d.kernel_width = k;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = pick(0, 1);
    d.layout = pick(0, 1) ? Layout::NCHW : Layout::NHWC;
    const auto sizes = convkit::tensor_sizes(d);
    const auto x = convkit_test::random_floats(static_cast<size_t>(sizes.input), 3);
    const auto w = convkit_test::random_floats(static_cast<size_t>(sizes.weights), 4);
    std::vector<float> y(static_cast<size_t>(sizes.output));
    for (convkit::MathMode math : {convkit::MathMode::Strict, convkit::MathMode::Fast}) {
      for (Algorithm requested : {Algorithm::Auto, Algorithm::Reference, Algorithm::Im2colGemm, Algorithm::Gemm1x1,
                                  Algorithm::Direct, Algorithm::Winograd, Algorithm::ImplicitGemm}) {
        convkit::Options o;
        o.algorithm = requested;
        o.math_mode = math;
        o.threads = 1;
        CAPTURE(shape);
        CAPTURE(convkit::algorithm_name(requested));
        Algorithm expected;
        try {
          expected = convkit::chosen_algorithm(d, o);
        } catch (const convkit::Error& e) {
          CHECK(e.status() == convkit::Status::Unsupported);
          CHECK_THROWS_AS(convkit::conv2d(d, x.data(), w.data(), nullptr, y.data(), o), convkit::Error);
          CHECK_THROWS_AS(convkit::Plan(d, w.data(), nullptr, o), convkit::Error);
          continue;
        }
        CHECK(expected != Algorithm::Auto);
        if (requested != Algorithm::Auto) CHECK(expected == requested);
        CHECK(convkit::conv2d(d, x.data(), w.data(), nullptr, y.data(), o) == expected);
        const convkit::Plan plan(d, w.data(), nullptr, o);
        CHECK(plan.algorithm() == expected);
        const std::string family = convkit::algorithm_name(expected);
        CAPTURE(plan.description());
        CHECK(plan.description().compare(0, family.size(), family) == 0);
      }
    }
  }
}
