// Concatenated plans: one plan for branches that read the same input, its output their outputs stacked along the
// channels. Checked against the oracle per branch and against separate plans written into their channel slices,
// fused (stacked weights) and unfused, both layouts, batches, biases and activations; and every rejection.
#include <convkit/convkit.h>

#include <cstring>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "conv_tester.hpp"

namespace {

using convkit::Layout;
using convkit_test::kSeed;

struct BranchData {
  convkit::Conv2dDesc desc;
  std::vector<float> weights, bias;  // bias empty: none
};

// A branch on the shared input: out_channels, a square kernel, "same" padding for stride 1 (so every branch gives
// the same output size) unless told otherwise.
BranchData make_branch(const convkit::Conv2dDesc& input, std::int64_t out_channels, std::int64_t kernel,
                       std::int64_t dilation, std::int64_t groups, bool bias, convkit::WeightsLayout weights_layout,
                       std::uint32_t seed) {
  BranchData b;
  b.desc = input;
  b.desc.out_channels = out_channels;
  b.desc.kernel_height = b.desc.kernel_width = kernel;
  b.desc.dilation_height = b.desc.dilation_width = dilation;
  b.desc.pad_top = b.desc.pad_left = b.desc.pad_bottom = b.desc.pad_right = (kernel - 1) * dilation / 2;
  b.desc.groups = groups;
  b.desc.weights_layout = weights_layout;
  b.weights = convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(b.desc).weights), seed);
  if (bias) b.bias = convkit_test::random_floats(static_cast<std::size_t>(out_channels), seed + 1);
  return b;
}

std::vector<convkit::ConcatBranch> as_branches(const std::vector<BranchData>& data) {
  std::vector<convkit::ConcatBranch> branches;
  for (const BranchData& b : data)
    branches.push_back({b.desc, b.weights.data(), b.bias.empty() ? nullptr : b.bias.data()});
  return branches;
}

std::string describe(const std::vector<BranchData>& data, const convkit::Options& options) {
  std::string text;
  for (std::size_t k = 0; k < data.size(); ++k)
    text +=
        "\n  branch " + std::to_string(k) + ": " + convkit_test::describe(data[k].desc, options, !data[k].bias.empty());
  return text;
}

// Runs each branch on its own plan and writes its output into its channel slice of a concatenated tensor.
std::vector<float> separate_plans(const std::vector<BranchData>& data, const float* input,
                                  const convkit::Options& options, std::int64_t total_channels) {
  const convkit::Conv2dDesc& d0 = data.front().desc;
  const convkit::OutputSize size = convkit::output_size(d0);
  const std::int64_t pixels = size.height * size.width;
  std::vector<float> out(static_cast<std::size_t>(d0.batch * total_channels * pixels));
  std::int64_t first = 0;
  for (const BranchData& b : data) {
    const convkit::Plan plan(b.desc, b.weights.data(), b.bias.empty() ? nullptr : b.bias.data(), options);
    std::vector<float> own(static_cast<std::size_t>(convkit::tensor_sizes(b.desc).output));
    plan.run(input, own.data());
    const std::int64_t co = b.desc.out_channels;
    for (std::int64_t n = 0; n < d0.batch; ++n)
      for (std::int64_t c = 0; c < co; ++c)
        for (std::int64_t x = 0; x < pixels; ++x) {
          const std::int64_t from = d0.layout == Layout::NCHW ? (n * co + c) * pixels + x : (n * pixels + x) * co + c;
          const std::int64_t to = d0.layout == Layout::NCHW ? (n * total_channels + first + c) * pixels + x
                                                            : (n * pixels + x) * total_channels + first + c;
          out[static_cast<std::size_t>(to)] = own[static_cast<std::size_t>(from)];
        }
    first += co;
  }
  return out;
}

// A description with each implementation reduced to its algorithm ("gemm_1x1_convkit" -> "gemm_1x1"): which
// multiplier or kernel runs depends on the CPU, which convolutions fuse does not.
std::string algorithms_of(const std::string& description) {
  static const std::regex entry("\\b(gemm_1x1|im2col_gemm|direct|winograd|reference)_[a-z0-9_]+");
  return std::regex_replace(convkit_test::implementation_of(description), entry, "$1");
}

// The concatenated plan against the oracle of each branch (1e-4 of the magnitude, the library's bound) and against
// the separate plans written into their slices. Returns the plan's description, reduced to algorithms.
std::string check_concat(const std::vector<BranchData>& data, const convkit::Options& options) {
  const convkit::Conv2dDesc& d0 = data.front().desc;
  const std::vector<float> input =
      convkit_test::random_floats(static_cast<std::size_t>(convkit::tensor_sizes(d0).input), kSeed + 7);
  std::int64_t total = 0;
  for (const BranchData& b : data) total += b.desc.out_channels;
  const convkit::OutputSize size = convkit::output_size(d0);
  const std::int64_t pixels = size.height * size.width;

  const convkit::Plan plan(as_branches(data), options);
  // Guards around the output catch writes out of bounds; NaN inside catches elements left unwritten.
  const std::size_t guard = 64, count = static_cast<std::size_t>(d0.batch * total * pixels);
  std::vector<float> buffer(count + 2 * guard, -7.25f);
  std::fill(buffer.begin() + guard, buffer.begin() + guard + count, std::nanf(""));
  std::vector<unsigned char> workspace(plan.workspace_size() + 1);
  plan.run(input.data(), buffer.data() + guard, workspace.data() + 1, plan.workspace_size());  // misaligned on purpose
  const float* got = buffer.data() + guard;
  INFO("description: ", plan.description(), describe(data, options));
  for (std::size_t k = 0; k < guard; ++k) {
    REQUIRE(buffer[k] == -7.25f);
    REQUIRE(buffer[guard + count + k] == -7.25f);
  }

  std::int64_t first = 0;
  for (const BranchData& b : data) {
    const float* bias = b.bias.empty() ? nullptr : b.bias.data();
    for (std::int64_t n = 0; n < d0.batch; ++n)
      for (std::int64_t o = 0; o < b.desc.out_channels; ++o)
        for (std::int64_t y = 0; y < size.height; ++y)
          for (std::int64_t x = 0; x < size.width; ++x) {
            const convkit_test::OracleValue want =
                convkit_test::oracle_at(b.desc, input.data(), b.weights.data(), bias, n, o, y, x);
            const std::int64_t at =
                convkit_test::tensor_offset(d0.layout, total, size.height, size.width, n, first + o, y, x);
            const double expected = convkit_test::oracle_activate(want.value, options);
            const double error = std::fabs(got[at] - expected);
            if (!(error <= 1e-4 * want.magnitude + 1e-30)) {
              FAIL_CHECK("output n=", n, " channel=", first + o, " y=", y, " x=", x, ": ", got[at], " != ", expected);
              return algorithms_of(plan.description());
            }
          }
    first += b.desc.out_channels;
  }
  const std::vector<float> separate = separate_plans(data, input.data(), options, total);
  for (std::size_t k = 0; k < count; ++k) {
    const double scale = std::max(1.0, static_cast<double>(std::fabs(separate[k])));
    if (!(std::fabs(got[k] - separate[k]) <= 1e-5 * scale * 64)) {
      FAIL_CHECK("element ", k, ": concatenated ", got[k], " != separate ", separate[k]);
      break;
    }
  }
  return algorithms_of(plan.description());
}

convkit::Conv2dDesc input_desc(std::int64_t batch, std::int64_t channels, std::int64_t height, std::int64_t width,
                               Layout layout) {
  convkit::Conv2dDesc d;
  d.batch = batch;
  d.in_channels = channels;
  d.in_height = height;
  d.in_width = width;
  d.layout = layout;
  return d;
}

}  // namespace

TEST_CASE("concat: GoogLeNet inception 3a's three 1x1 projections are one fused GEMM") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    const convkit::Conv2dDesc in = input_desc(1, 192, 28, 28, layout);
    const auto ohwi = convkit::WeightsLayout::OHWI, oihw = convkit::WeightsLayout::OIHW;
    const std::vector<BranchData> data{make_branch(in, 64, 1, 1, 1, true, oihw, 11),
                                       make_branch(in, 96, 1, 1, 1, true, ohwi, 12),
                                       make_branch(in, 16, 1, 1, 1, false, oihw, 13)};
    convkit::Options options;
    options.activation = convkit::Activation::Relu;
    const std::string description = check_concat(data, options);
    CHECK(description == "gemm_1x1 for branches 0+1+2 (176 channels, fused)");
  }
}

TEST_CASE("concat: fused and unfused branches, neighbours or not, both layouts, batches and thread counts") {
  std::mt19937 random(kSeed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(random); };
  int fused_plans = 0, scattered = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const Layout layout = pick(0, 1) ? Layout::NHWC : Layout::NCHW;
    const std::int64_t channels = 2 * pick(1, 4);  // even, so a grouped branch (groups 2) fits
    const convkit::Conv2dDesc in = input_desc(pick(1, 3), channels, pick(3, 11), pick(3, 11), layout);
    std::vector<BranchData> data;
    const int count = pick(1, 5);
    for (int b = 0; b < count; ++b) {
      const int kind = pick(0, 4);
      const std::int64_t co = 2 * pick(1, 5);
      const auto weights_layout = pick(0, 1) ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
      const auto seed = static_cast<std::uint32_t>(kSeed + 100 * trial + b);
      const bool bias = pick(0, 2) != 0;
      switch (kind) {
        case 0:
          data.push_back(make_branch(in, co, 1, 1, 1, bias, weights_layout, seed));
          break;  // 1x1
        case 1:
          data.push_back(make_branch(in, co, 3, 1, 1, bias, weights_layout, seed));
          break;  // 3x3
        case 2:
          data.push_back(make_branch(in, co, 3, 2, 1, bias, weights_layout, seed));
          break;  // 3x3 dilated
        case 3:
          data.push_back(make_branch(in, co, 3, 1, 2, bias, weights_layout, seed));
          break;  // 3x3 grouped
        default:
          data.push_back(make_branch(in, co, 5, 1, 1, bias, weights_layout, seed));
          break;  // 5x5
      }
    }
    convkit::Options options;
    options.threads = pick(1, 2);
    options.activation = static_cast<convkit::Activation>(pick(0, 2));
    options.clamp_min = -0.5f;
    options.clamp_max = 0.75f;
    const std::string description = check_concat(data, options);
    if (description.find("fused") != std::string::npos) ++fused_plans;
    // A fused part whose branches are not neighbours in the output goes through the workspace.
    for (std::size_t a = 0; a + 2 < data.size(); ++a)
      if (data[a].desc.kernel_height == data[a + 2].desc.kernel_height && data[a].desc.groups == 1 &&
          data[a + 2].desc.groups == 1 && data[a].desc.dilation_height == data[a + 2].desc.dilation_height &&
          data[a + 1].desc.kernel_height != data[a].desc.kernel_height)
        ++scattered;
  }
  MESSAGE(fused_plans, " of 120 plans fused branches; ", scattered, " fused branches that are not neighbours");
  CHECK(fused_plans > 30);
  CHECK(scattered > 5);
}

TEST_CASE("concat: which branches fuse") {
  const convkit::Conv2dDesc in = input_desc(2, 8, 9, 9, Layout::NHWC);
  const auto oihw = convkit::WeightsLayout::OIHW;
  convkit::Options options;
  // 1x1, 3x3, 1x1: the two 1x1 branches share one GEMM although the 3x3 lies between them in the output.
  CHECK(check_concat({make_branch(in, 4, 1, 1, 1, true, oihw, 1), make_branch(in, 6, 3, 1, 1, false, oihw, 2),
                      make_branch(in, 2, 1, 1, 1, false, oihw, 3)},
                     options) == "gemm_1x1 for branches 0+2 (6 channels, fused); direct for branch 1");
  // Grouped branches never fuse; neither do different dilations.
  CHECK(check_concat({make_branch(in, 4, 3, 1, 2, false, oihw, 4), make_branch(in, 4, 3, 1, 2, false, oihw, 5),
                      make_branch(in, 4, 3, 2, 1, false, oihw, 6)},
                     options)
            .find("fused") == std::string::npos);
  // A single branch is an ordinary plan.
  options.algorithm = convkit::Algorithm::Reference;
  CHECK(check_concat({make_branch(in, 3, 3, 1, 1, true, oihw, 7)}, options) == "reference for branch 0");
}

TEST_CASE("concat: the same bits for every thread count, with a workspace of exactly the reported size") {
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    const convkit::Conv2dDesc in = input_desc(2, 16, 14, 14, layout);
    const auto oihw = convkit::WeightsLayout::OIHW;
    const std::vector<BranchData> data{
        make_branch(in, 8, 1, 1, 1, true, oihw, 1), make_branch(in, 16, 3, 1, 1, true, oihw, 2),
        make_branch(in, 8, 1, 1, 1, true, oihw, 3), make_branch(in, 4, 5, 1, 1, false, oihw, 4)};
    const std::vector<float> input = convkit_test::random_floats(2 * 16 * 14 * 14, 5);
    std::vector<std::vector<float>> outputs;
    for (int threads : {1, 2, 3}) {
      convkit::Options options;
      options.threads = threads;
      const convkit::Plan plan(as_branches(data), options);
      std::vector<float> out(static_cast<std::size_t>(2 * 36 * 14 * 14));
      std::vector<unsigned char> workspace(plan.workspace_size());
      plan.run(input.data(), out.data(), workspace.data(), workspace.size());
      outputs.push_back(out);
      // A workspace one byte short is rejected before anything is written.
      std::vector<float> untouched(out.size(), 3.0f);
      if (plan.workspace_size() > 0) {
        CHECK_THROWS_AS(plan.run(input.data(), untouched.data(), workspace.data(), workspace.size() - 1),
                        convkit::Error);
        CHECK(untouched == std::vector<float>(out.size(), 3.0f));
      }
    }
    CHECK(std::memcmp(outputs[0].data(), outputs[1].data(), outputs[0].size() * sizeof(float)) == 0);
    CHECK(std::memcmp(outputs[0].data(), outputs[2].data(), outputs[0].size() * sizeof(float)) == 0);
  }
}

TEST_CASE("concat: branches that disagree, and invalid branches, are rejected naming the branch") {
  const convkit::Conv2dDesc in = input_desc(1, 4, 8, 8, Layout::NCHW);
  const auto oihw = convkit::WeightsLayout::OIHW;
  const BranchData good = make_branch(in, 2, 1, 1, 1, false, oihw, 1);
  auto expect_invalid = [&](std::vector<BranchData> data, const char* words) {
    CAPTURE(words);
    try {
      const convkit::Plan plan(as_branches(data));
      FAIL("accepted");
    } catch (const convkit::Error& error) {
      CHECK(error.status() == convkit::Status::InvalidArgument);
      CHECK_MESSAGE(std::string(error.what()).find(words) != std::string::npos, error.what());
    }
  };
  BranchData other = good;
  other.desc.in_height = 9;
  expect_invalid({good, other}, "branch 1: in_height = 9 differs from branch 0's 8");
  other = good;
  other.desc.in_channels = 8;
  other.weights.resize(16);
  expect_invalid({good, other}, "branch 1: in_channels");
  other = good;
  other.desc.layout = Layout::NHWC;
  expect_invalid({good, other}, "branch 1: layout");
  other = good;
  other.desc.batch = 2;
  expect_invalid({good, other}, "branch 1: batch");
  BranchData strided = make_branch(in, 2, 3, 1, 1, false, oihw, 2);
  strided.desc.stride_height = 2;
  expect_invalid({good, strided}, "branch 1: the output height = 4 differs from branch 0's 8");
  BranchData unpadded = make_branch(in, 2, 3, 1, 1, false, oihw, 2);
  unpadded.desc.pad_left = unpadded.desc.pad_right = 0;
  expect_invalid({good, unpadded}, "the output width");
  other = good;
  other.desc.groups = 3;
  expect_invalid({good, other}, "branch 1: groups");
  expect_invalid({}, "at least one branch");
  std::vector<convkit::ConcatBranch> null_weights = as_branches({good, good});
  null_weights[1].weights = nullptr;
  CHECK_THROWS_WITH_AS(static_cast<void>(convkit::Plan(null_weights, convkit::Options{})), "branch 1: weights is null",
                       convkit::Error);
  // A requested algorithm that a part cannot run.
  convkit::Options options;
  options.algorithm = convkit::Algorithm::Gemm1x1;
  try {
    const convkit::Plan plan(as_branches({good, make_branch(in, 2, 3, 1, 1, false, oihw, 2)}), options);
    FAIL("accepted");
  } catch (const convkit::Error& error) {
    CHECK(error.status() == convkit::Status::Unsupported);
  }
}

TEST_CASE("concat: the C API") {
  convkit_conv2d_desc descs[3];
  for (convkit_conv2d_desc& d : descs) {
    convkit_conv2d_desc_init(&d);
    d.batch = 2;
    d.in_channels = 3;
    d.in_height = d.in_width = 6;
    d.layout = CONVKIT_LAYOUT_NHWC;
    d.kernel_height = d.kernel_width = 1;
  }
  descs[0].out_channels = 2;
  descs[1].out_channels = 4;
  descs[1].kernel_height = descs[1].kernel_width = 3;
  descs[1].pad_top = descs[1].pad_left = descs[1].pad_bottom = descs[1].pad_right = 1;
  descs[2].out_channels = 1;
  std::vector<float> w0 = convkit_test::random_floats(6, 1), w1 = convkit_test::random_floats(108, 2),
                     w2 = convkit_test::random_floats(3, 3), b1 = convkit_test::random_floats(4, 4);
  const float* weights[3] = {w0.data(), w1.data(), w2.data()};
  const float* biases[3] = {nullptr, b1.data(), nullptr};
  convkit_plan* plan = nullptr;
  REQUIRE(convkit_plan_create_concat(descs, weights, biases, 3, nullptr, &plan) == CONVKIT_STATUS_OK);
  CHECK(algorithms_of(convkit_plan_description(plan)) ==
        "gemm_1x1 for branches 0+2 (3 channels, fused); direct for branch 1");
  CHECK(std::string(convkit_plan_algorithm(plan)) == "gemm_1x1");
  const std::vector<float> input = convkit_test::random_floats(2 * 3 * 36, 9);
  std::vector<float> out(2 * 7 * 36, -1.0f);
  REQUIRE(convkit_plan_run(plan, input.data(), out.data(), nullptr, 0) == CONVKIT_STATUS_OK);
  // Channel 6 of pixel 0 of image 1 is branch 2's only channel: a dot product of that pixel's channels.
  const float* pixel = input.data() + 36 * 3;
  CHECK(out[36 * 7 + 6] == doctest::Approx(pixel[0] * w2[0] + pixel[1] * w2[1] + pixel[2] * w2[2]).epsilon(1e-6));
  convkit_plan_destroy(plan);
  // Without biases at all.
  REQUIRE(convkit_plan_create_concat(descs, weights, nullptr, 3, nullptr, &plan) == CONVKIT_STATUS_OK);
  convkit_plan_destroy(plan);

  plan = reinterpret_cast<convkit_plan*>(&out);  // must be reset to NULL on failure
  descs[2].in_width = 7;
  CHECK(convkit_plan_create_concat(descs, weights, biases, 3, nullptr, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(plan == nullptr);
  CHECK(std::string(convkit_last_error()).find("branch 2: in_width = 7") != std::string::npos);
  CHECK(convkit_plan_create_concat(descs, weights, biases, 0, nullptr, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(convkit_plan_create_concat(nullptr, weights, biases, 3, nullptr, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(convkit_plan_create_concat(descs, nullptr, biases, 3, nullptr, &plan) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(convkit_plan_create_concat(descs, weights, biases, 3, nullptr, nullptr) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_plan_description(nullptr)).empty());
}
