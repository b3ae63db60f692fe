// Plans: the oracle's results, owned weights, the workspace contract, and one plan run from several threads.
#include "conv_tester.hpp"
#include "layer_suite.hpp"

#include <convkit/convkit.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

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
