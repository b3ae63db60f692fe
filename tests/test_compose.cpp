// Composition of two stacked convolutions (convkit_compose_conv2d, convkit::compose): a random sweep against the two
// convolutions run one after the other, exact small cases, every rejection through both APIs with the outputs left
// untouched, and the descriptor-only mode.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "c_enum_fields.hpp"
#include "conv_tester.hpp"

namespace {

using convkit::Conv2dDesc;

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

std::vector<float> conv(const Conv2dDesc& d, const std::vector<float>& input, const float* weights, const float* bias,
                        convkit::Algorithm algorithm = convkit::Algorithm::Reference) {
  convkit::Options options;
  options.algorithm = algorithm;
  std::vector<float> output(count(convkit::tensor_sizes(d).output));
  convkit::conv2d(d, input.data(), weights, bias, output.data(), options);
  return output;
}

const float* data_or_null(const std::vector<float>& v, bool present) { return present ? v.data() : nullptr; }

std::vector<float> absolute(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

// Fields compared one by one: a descriptor has padding bytes, and doctest prints which field differs.
void check_same_desc(const Conv2dDesc& got, const Conv2dDesc& want) {
  CHECK(got.batch == want.batch);
  CHECK(got.in_channels == want.in_channels);
  CHECK(got.in_height == want.in_height);
  CHECK(got.in_width == want.in_width);
  CHECK(got.out_channels == want.out_channels);
  CHECK(got.kernel_height == want.kernel_height);
  CHECK(got.kernel_width == want.kernel_width);
  CHECK(got.stride_height == want.stride_height);
  CHECK(got.stride_width == want.stride_width);
  CHECK(got.pad_top == want.pad_top);
  CHECK(got.pad_left == want.pad_left);
  CHECK(got.pad_bottom == want.pad_bottom);
  CHECK(got.pad_right == want.pad_right);
  CHECK(got.dilation_height == want.dilation_height);
  CHECK(got.dilation_width == want.dilation_width);
  CHECK(got.groups == want.groups);
  CHECK(got.layout == want.layout);
  CHECK(got.weights_layout == want.weights_layout);
}

// What the composition must be, written from the rule rather than from the library.
Conv2dDesc expected_composition(const Conv2dDesc& first, const Conv2dDesc& second) {
  Conv2dDesc d;
  d.batch = first.batch;
  d.in_channels = first.in_channels;
  d.in_height = first.in_height;
  d.in_width = first.in_width;
  d.out_channels = second.out_channels;
  d.kernel_height = first.kernel_height + (second.kernel_height - 1) * first.stride_height;
  d.kernel_width = first.kernel_width + (second.kernel_width - 1) * first.stride_width;
  d.stride_height = first.stride_height * second.stride_height;
  d.stride_width = first.stride_width * second.stride_width;
  d.layout = first.layout;
  d.weights_layout = first.weights_layout;
  return d;
}

convkit_conv2d_desc to_c(const Conv2dDesc& d) {
  convkit_conv2d_desc c;
  convkit_conv2d_desc_init(&c);
  c.batch = d.batch;
  c.in_channels = d.in_channels;
  c.in_height = d.in_height;
  c.in_width = d.in_width;
  c.out_channels = d.out_channels;
  c.kernel_height = d.kernel_height;
  c.kernel_width = d.kernel_width;
  c.stride_height = d.stride_height;
  c.stride_width = d.stride_width;
  c.pad_top = d.pad_top;
  c.pad_left = d.pad_left;
  c.pad_bottom = d.pad_bottom;
  c.pad_right = d.pad_right;
  c.dilation_height = d.dilation_height;
  c.dilation_width = d.dilation_width;
  c.groups = d.groups;
  c.layout = static_cast<convkit_layout>(d.layout);
  c.weights_layout = static_cast<convkit_weights_layout>(d.weights_layout);
  return c;
}

// Enum fields read as integers: the rejection cases store values that are not enumerators.
Conv2dDesc to_cpp(const convkit_conv2d_desc& c) {
  Conv2dDesc d;
  d.batch = c.batch;
  d.in_channels = c.in_channels;
  d.in_height = c.in_height;
  d.in_width = c.in_width;
  d.out_channels = c.out_channels;
  d.kernel_height = c.kernel_height;
  d.kernel_width = c.kernel_width;
  d.stride_height = c.stride_height;
  d.stride_width = c.stride_width;
  d.pad_top = c.pad_top;
  d.pad_left = c.pad_left;
  d.pad_bottom = c.pad_bottom;
  d.pad_right = c.pad_right;
  d.dilation_height = c.dilation_height;
  d.dilation_width = c.dilation_width;
  d.groups = c.groups;
  int layout, weights_layout;
  std::memcpy(&layout, &c.layout, sizeof layout);
  std::memcpy(&weights_layout, &c.weights_layout, sizeof weights_layout);
  d.layout = static_cast<convkit::Layout>(layout);
  d.weights_layout = static_cast<convkit::WeightsLayout>(weights_layout);
  return d;
}

std::uint32_t sweep_seed() {
  const char* text = std::getenv("CONVKIT_COMPOSE_SEED");
  return text != nullptr ? static_cast<std::uint32_t>(std::strtoul(text, nullptr, 10)) : convkit_test::kSeed;
}

}  // namespace

TEST_CASE("random sweep: two stacked convolutions equal one convolution of their composition") {
  const std::uint32_t seed = sweep_seed();
  std::printf("compose sweep: seed %u (CONVKIT_COMPOSE_SEED=<n> runs another)\n", seed);
  std::mt19937 engine(seed);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine);
  };
  constexpr int kCases = 400;
  // Reference accumulates in double: the two paths then differ only by the roundings of the middle tensor, the
  // composed weights and the outputs (measured: at most 1.2e-7 of the magnitude over seeds 1-5 and this one). The
  // other algorithms accumulate in float; on these reductions (at most 6 * 13 * 13 products) they measured at most
  // 2.3e-7, well inside the library's 1e-4 per convolution.
  constexpr double kReferenceTolerance = 1e-6, kAutoTolerance = 1e-5;
  double worst_reference = 0, worst_auto = 0;
  for (int t = 0; t < kCases; ++t) {
    Conv2dDesc first, second;
    first.batch = second.batch = pick(1, 2);
    first.in_channels = pick(1, 6);
    first.out_channels = second.in_channels = pick(1, 6);
    second.out_channels = pick(1, 6);
    first.kernel_height = pick(1, 4);
    first.kernel_width = pick(1, 4);
    second.kernel_height = pick(1, 4);
    second.kernel_width = pick(1, 4);
    first.stride_height = pick(1, 3);
    first.stride_width = pick(1, 3);
    second.stride_height = pick(1, 3);
    second.stride_width = pick(1, 3);
    // The smallest input that gives the second a non-empty output is the composed kernel.
    const std::int64_t min_height = first.kernel_height + (second.kernel_height - 1) * first.stride_height;
    const std::int64_t min_width = first.kernel_width + (second.kernel_width - 1) * first.stride_width;
    first.in_height = pick(min_height, std::max<std::int64_t>(min_height, 20));
    first.in_width = pick(min_width, std::max<std::int64_t>(min_width, 20));
    const convkit_test::OutputShape middle = convkit_test::oracle_output_shape(first);
    second.in_height = middle.height;
    second.in_width = middle.width;
    first.layout = second.layout = pick(0, 1) ? convkit::Layout::NHWC : convkit::Layout::NCHW;
    first.weights_layout = pick(0, 1) ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    second.weights_layout = pick(0, 1) ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    const bool bias1 = pick(0, 1) == 1, bias2 = pick(0, 1) == 1;
    const convkit::Algorithm algorithm = t % 3 == 0 ? convkit::Algorithm::Auto : convkit::Algorithm::Reference;
    convkit::Options options;
    options.algorithm = algorithm;
    INFO("case ", t, " of seed ", seed);
    INFO("first:  ", convkit_test::describe(first, options, bias1));
    INFO("second: ", convkit_test::describe(second, options, bias2));

    const auto data_seed = static_cast<std::uint32_t>(engine());
    const std::vector<float> x = convkit_test::random_floats(count(convkit::tensor_sizes(first).input), data_seed);
    const std::vector<float> w1 =
        convkit_test::random_floats(count(convkit::tensor_sizes(first).weights), data_seed + 1);
    const std::vector<float> b1 = convkit_test::random_floats(count(first.out_channels), data_seed + 2);
    const std::vector<float> w2 =
        convkit_test::random_floats(count(convkit::tensor_sizes(second).weights), data_seed + 3);
    const std::vector<float> b2 = convkit_test::random_floats(count(second.out_channels), data_seed + 4);

    const convkit::Composition composition =
        convkit::compose(first, w1.data(), data_or_null(b1, bias1), second, w2.data(), data_or_null(b2, bias2));
    check_same_desc(composition.desc, expected_composition(first, second));
    // The composed output has the second's size (lib/compose.cpp proves it), by the tests' own formula.
    const convkit_test::OutputShape once_shape = convkit_test::oracle_output_shape(composition.desc);
    const convkit_test::OutputShape stacked_shape = convkit_test::oracle_output_shape(second);
    REQUIRE(once_shape.height == stacked_shape.height);
    REQUIRE(once_shape.width == stacked_shape.width);
    REQUIRE(composition.weights.size() == count(convkit::tensor_sizes(composition.desc).weights));
    REQUIRE(composition.bias.size() == count(second.out_channels));
    check_same_desc(convkit::compose(first, second), composition.desc);

    const std::vector<float> middle_out = conv(first, x, w1.data(), data_or_null(b1, bias1), algorithm);
    const std::vector<float> stacked = conv(second, middle_out, w2.data(), data_or_null(b2, bias2), algorithm);
    const std::vector<float> once =
        conv(composition.desc, x, composition.weights.data(), composition.bias.data(), algorithm);
    // |bias| + sum of |terms| of the fully expanded sum: the same stack on absolute values.
    const std::vector<float> magnitude =
        conv(second, conv(first, absolute(x), absolute(w1).data(), bias1 ? absolute(b1).data() : nullptr),
             absolute(w2).data(), bias2 ? absolute(b2).data() : nullptr);
    REQUIRE(once.size() == stacked.size());
    const double tolerance = algorithm == convkit::Algorithm::Reference ? kReferenceTolerance : kAutoTolerance;
    double& worst = algorithm == convkit::Algorithm::Reference ? worst_reference : worst_auto;
    int failures = 0;
    for (std::size_t i = 0; i < once.size(); ++i) {
      const double error = std::fabs(static_cast<double>(once[i]) - stacked[i]);
      const double scale = std::max<double>(magnitude[i], 1e-30);
      worst = std::max(worst, error / scale);
      if (!(error <= tolerance * scale) && failures++ < 5)
        FAIL_CHECK("output ", i, ": composed ", once[i], ", stacked ", stacked[i], " (magnitude ", magnitude[i], ")");
    }
    CHECK_MESSAGE(failures == 0, failures, " outputs outside tolerance");

    // The C API gives the same bits.
    if (t % 4 == 0) {
      const convkit_conv2d_desc c_first = to_c(first), c_second = to_c(second);
      convkit_conv2d_desc c_composed;
      std::vector<float> weights(composition.weights.size()), bias(composition.bias.size());
      REQUIRE(convkit_compose_conv2d(&c_first, w1.data(), data_or_null(b1, bias1), &c_second, w2.data(),
                                     data_or_null(b2, bias2), &c_composed, weights.data(),
                                     bias.data()) == CONVKIT_STATUS_OK);
      check_same_desc(to_cpp(c_composed), composition.desc);
      CHECK(weights == composition.weights);
      CHECK(bias == composition.bias);
    }
  }
  std::printf("compose sweep: %d cases; largest |composed - stacked| / magnitude: %.2e (reference), %.2e (auto)\n",
              kCases, worst_reference, worst_auto);
}

TEST_CASE("the lesson's X and K, then a 2x2 kernel: two 2x2 kernels compose into a 3x3, exactly") {
  // First: the lesson's corr2d_multi_in (2 channels of 3x3, K = [[0,1],[2,3]], [[1,2],[3,4]]), bias 1, which gives
  // [[57, 73], [105, 121]]; second: [[1, 2], [3, 4]], bias 10, gives 57 + 146 + 315 + 484 + 10 = 1012.
  const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> k = {0, 1, 2, 3, 1, 2, 3, 4}, b1 = {1};
  const std::vector<float> w2 = {1, 2, 3, 4}, b2 = {10};
  convkit_conv2d_desc first, second, composed;
  convkit_conv2d_desc_init(&first);
  first.batch = 1;
  first.in_channels = 2;
  first.in_height = first.in_width = 3;
  first.out_channels = 1;
  first.kernel_height = first.kernel_width = 2;
  second = first;
  second.in_channels = 1;
  second.in_height = second.in_width = 2;
  std::vector<float> weights(18, -1.0f), bias(1, -1.0f);
  REQUIRE(convkit_compose_conv2d(&first, k.data(), b1.data(), &second, w2.data(), b2.data(), &composed, weights.data(),
                                 bias.data()) == CONVKIT_STATUS_OK);
  CHECK(composed.kernel_height == 3);  // k1 + k2 - 1
  CHECK(composed.kernel_width == 3);
  CHECK(composed.stride_height == 1);
  CHECK(composed.in_channels == 2);
  CHECK(composed.out_channels == 1);
  // Each channel's kernel is the "full" convolution of [[1,2],[3,4]] with its K: the corners are 1 * K[0][0] and
  // 4 * K[1][1], the centre 4*K[0][0] + 3*K[0][1] + 2*K[1][0] + 1*K[1][1].
  CHECK(weights == std::vector<float>{0, 1, 2, 2, 10, 10, 6, 17, 12, 1, 4, 4, 6, 20, 16, 9, 24, 16});
  CHECK(bias == std::vector<float>{20});  // 10 + (1 + 2 + 3 + 4) * 1
  std::vector<float> y(1, -1.0f);
  REQUIRE(convkit_conv2d(&composed, x.data(), weights.data(), bias.data(), y.data(), nullptr) == CONVKIT_STATUS_OK);
  CHECK(y[0] == 1012.0f);
  const std::vector<float> stacked =
      conv(to_cpp(second), conv(to_cpp(first), x, k.data(), b1.data()), w2.data(), b2.data());
  CHECK(stacked == std::vector<float>{1012.0f});
}

TEST_CASE("strided: the kernel is k1 + (k2 - 1) * s1 and the stride s1 * s2 per dimension, exact on integer data") {
  // 17 x 12 --(3x2 kernel, stride 2,1)--> 8 x 11 --(2x3 kernel, stride 3,2)--> 3 x 5; composed: 5x4 kernel, stride
  // 6,2, and (17 - 5) / 6 + 1 = 3, (12 - 4) / 2 + 1 = 5. Small integers keep every sum exact in float.
  const auto integers = [](std::size_t n, unsigned seed) {
    std::mt19937 engine(seed);
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>(static_cast<int>(engine() % 5) - 2);
    return v;
  };
  for (int variant = 0; variant < 8; ++variant) {
    Conv2dDesc first;
    first.batch = 2;
    first.in_channels = 2;
    first.in_height = 17;
    first.in_width = 12;
    first.out_channels = 3;
    first.kernel_height = 3;
    first.kernel_width = 2;
    first.stride_height = 2;
    first.stride_width = 1;
    first.layout = variant & 1 ? convkit::Layout::NHWC : convkit::Layout::NCHW;
    first.weights_layout = variant & 2 ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    Conv2dDesc second = first;
    second.in_channels = 3;
    second.in_height = 8;
    second.in_width = 11;
    second.out_channels = 2;
    second.kernel_height = 2;
    second.kernel_width = 3;
    second.stride_height = 3;
    second.stride_width = 2;
    second.weights_layout = variant & 4 ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    CAPTURE(variant);
    const std::vector<float> x = integers(2 * 2 * 17 * 12, 1), w1 = integers(3 * 2 * 3 * 2, 2), b1 = integers(3, 3);
    const std::vector<float> w2 = integers(2 * 3 * 2 * 3, 4), b2 = integers(2, 5);
    const convkit::Composition c = convkit::compose(first, w1.data(), b1.data(), second, w2.data(), b2.data());
    CHECK(c.desc.kernel_height == 5);
    CHECK(c.desc.kernel_width == 4);
    CHECK(c.desc.stride_height == 6);
    CHECK(c.desc.stride_width == 2);
    CHECK(c.desc.layout == first.layout);
    CHECK(c.desc.weights_layout == first.weights_layout);
    const convkit::OutputSize size = convkit::output_size(c.desc);
    CHECK(size.height == 3);
    CHECK(size.width == 5);
    for (convkit::Algorithm algorithm : {convkit::Algorithm::Reference, convkit::Algorithm::Auto}) {
      const std::vector<float> stacked =
          conv(second, conv(first, x, w1.data(), b1.data(), algorithm), w2.data(), b2.data(), algorithm);
      CHECK(conv(c.desc, x, c.weights.data(), c.bias.data(), algorithm) == stacked);
    }
  }
}

namespace {

// The rejection cases start from this valid pair: 2 x 8 x 8 --3x3--> 3 x 6 x 6 --2x2--> 2 x 5 x 5 (composed: 4x4).
convkit_conv2d_desc valid_first() {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = 2;
  d.in_height = d.in_width = 8;
  d.out_channels = 3;
  d.kernel_height = d.kernel_width = 3;
  return d;
}

convkit_conv2d_desc valid_second() {
  convkit_conv2d_desc d = valid_first();
  d.in_channels = 3;
  d.in_height = d.in_width = 6;
  d.out_channels = 2;
  d.kernel_height = d.kernel_width = 2;
  return d;
}

using convkit_test::store_int;

enum class Null { None, First, Second, Composed, FirstWeights, SecondWeights, ComposedBias };

struct Rejection {
  std::string name;
  std::function<void(convkit_conv2d_desc&, convkit_conv2d_desc&)> mutate;
  convkit_status status;
  std::vector<std::string> message_parts;  // each must appear in the message
  Null null = Null::None;
  bool first_bias = true, second_bias = true;
};

using Descs = convkit_conv2d_desc;

std::vector<Rejection> rejections() {
  constexpr convkit_status kInvalid = CONVKIT_STATUS_INVALID_ARGUMENT, kUnsupported = CONVKIT_STATUS_UNSUPPORTED;
  const auto none = [](Descs&, Descs&) {};
  std::vector<Rejection> r;
  // Invalid descriptors: make_problem's message, prefixed with the convolution it is about.
  r.push_back({"first.batch = 0", [](Descs& a, Descs&) { a.batch = 0; }, kInvalid, {"first", "batch = 0", "positive"}});
  r.push_back({"second.kernel_height = -1",
               [](Descs&, Descs& b) { b.kernel_height = -1; },
               kInvalid,
               {"second", "kernel_height = -1"}});
  r.push_back(
      {"first.layout = 7", [](Descs& a, Descs&) { store_int(a.layout, 7); }, kInvalid, {"first", "layout = 7"}});
  r.push_back({"second.weights_layout = -2",
               [](Descs&, Descs& b) { store_int(b.weights_layout, -2); },
               kInvalid,
               {"second", "weights_layout = -2"}});
  r.push_back({"second's kernel larger than its input",
               [](Descs&, Descs& b) { b.kernel_width = 7; },
               kInvalid,
               {"second", "empty", "kernel_width = 7"}});
  // Shapes that do not chain.
  r.push_back({"second.in_channels = 4",
               [](Descs&, Descs& b) { b.in_channels = 4; },
               kInvalid,
               {"second.in_channels = 4", "first.out_channels = 3"}});
  r.push_back({"second.in_height = 7",
               [](Descs&, Descs& b) { b.in_height = 7; },
               kInvalid,
               {"second.in_height = 7", "output height", "6"}});
  r.push_back({"second.in_width = 5",
               [](Descs&, Descs& b) { b.in_width = 5; },
               kInvalid,
               {"second.in_width = 5", "output width", "6"}});
  r.push_back(
      {"second.batch = 2", [](Descs&, Descs& b) { b.batch = 2; }, kInvalid, {"second.batch = 2", "first.batch = 1"}});
  r.push_back({"second.layout = NHWC",
               [](Descs&, Descs& b) { b.layout = CONVKIT_LAYOUT_NHWC; },
               kInvalid,
               {"second.layout = NHWC", "first.layout = NCHW"}});
  // Null pointers (the C API only).
  r.push_back({"first is null", none, kInvalid, {"first is null"}, Null::First});
  r.push_back({"second is null", none, kInvalid, {"second is null"}, Null::Second});
  r.push_back({"composed is null", none, kInvalid, {"composed is null"}, Null::Composed});
  r.push_back({"first_weights is null", none, kInvalid, {"first_weights", "null"}, Null::FirstWeights});
  r.push_back({"second_weights is null", none, kInvalid, {"second_weights", "null"}, Null::SecondWeights});
  r.push_back({"composed_bias null, first_bias not",
               none,
               kInvalid,
               {"composed_bias", "first_bias", "both biases"},
               Null::ComposedBias,
               true,
               false});
  r.push_back({"composed_bias null, second_bias not",
               none,
               kInvalid,
               {"composed_bias", "second_bias", "both biases"},
               Null::ComposedBias,
               false,
               true});
  // Composed sizes that overflow: valid convolutions whose composition does not fit.
  r.push_back({"composed weights overflow",
               [](Descs& a, Descs& b) {
                 // 2^20 x 2^10 x 2^10 --1x1--> 1 channel --2x2--> 2^40 channels: composed weights 2^40 * 2^20 * 2 * 2.
                 a.in_channels = int64_t{1} << 20;
                 a.in_height = a.in_width = 1024;
                 a.out_channels = 1;
                 a.kernel_height = a.kernel_width = 1;
                 b.in_channels = 1;
                 b.in_height = b.in_width = 1024;
                 b.out_channels = int64_t{1} << 40;
               },
               kInvalid,
               {"composed", "overflows"}});
  r.push_back({"composed stride overflows",
               [](Descs& a, Descs& b) {
                 a.in_height = a.in_width = 1;
                 a.kernel_height = a.kernel_width = 1;
                 a.stride_height = int64_t{1} << 40;
                 b.in_height = b.in_width = 1;
                 b.kernel_height = b.kernel_width = 1;
                 b.stride_height = int64_t{1} << 40;
               },
               kInvalid,
               {"stride_height", "overflows"}});
  // Valid requests that compose does not handle.
  r.push_back({"first.pad_top = 1",
               [](Descs& a, Descs& b) {
                 a.pad_top = 1;
                 b.in_height = 7;
               },
               kUnsupported,
               {"first.pad_top = 1", "unpadded"}});
  r.push_back({"second.pad_left = 1",
               [](Descs&, Descs& b) { b.pad_left = 1; },
               kUnsupported,
               {"second.pad_left = 1", "padding breaks the identity at the borders", "first's output"}});
  r.push_back({"second.pad_bottom = 2",
               [](Descs&, Descs& b) { b.pad_bottom = 2; },
               kUnsupported,
               {"second.pad_bottom = 2", "borders"}});
  r.push_back({"first.dilation_height = 2",
               [](Descs& a, Descs& b) {
                 a.dilation_height = 2;
                 b.in_height = 4;
               },
               kUnsupported,
               {"first.dilation_height = 2", "undilated"}});
  r.push_back({"second.dilation_width = 2",
               [](Descs&, Descs& b) { b.dilation_width = 2; },
               kUnsupported,
               {"second.dilation_width = 2", "undilated"}});
  r.push_back({"first.groups = 2",
               [](Descs& a, Descs& b) {
                 a.out_channels = b.in_channels = 4;
                 a.groups = 2;
               },
               kUnsupported,
               {"first.groups = 2", "ungrouped"}});
  r.push_back({"second.groups = 2",
               [](Descs& a, Descs& b) {
                 a.out_channels = b.in_channels = 4;
                 b.groups = 2;
               },
               kUnsupported,
               {"second.groups = 2", "ungrouped"}});
  return r;
}

bool mentions_all(const std::string& message, const std::vector<std::string>& parts) {
  return std::all_of(parts.begin(), parts.end(),
                     [&](const std::string& part) { return message.find(part) != std::string::npos; });
}

constexpr float kSentinel = 777.0f;
constexpr unsigned char kSentinelByte = 0xA5;

}  // namespace

TEST_CASE("every rejection, through the C API: its status, a message that names it, and no output written") {
  // Buffers large enough for any shape the valid pair could be mutated into, so that a missing check shows as a
  // wrong result rather than an out-of-bounds read.
  const std::vector<float> w1(4096, 0.5f), b1(64, 0.25f), w2(4096, -0.5f), b2(64, 1.0f);
  for (const Rejection& c : rejections()) {
    // The cases about the weights and biases exist only when weights are asked for.
    const bool pointer_case =
        c.null == Null::FirstWeights || c.null == Null::SecondWeights || c.null == Null::ComposedBias;
    for (bool with_weights : {false, true}) {
      if (pointer_case && !with_weights) continue;
      CAPTURE(c.name);
      CAPTURE(with_weights);
      convkit_conv2d_desc first = valid_first(), second = valid_second();
      c.mutate(first, second);
      convkit_conv2d_desc composed, composed_before;
      std::memset(&composed, kSentinelByte, sizeof composed);
      composed_before = composed;
      std::vector<float> weights(4096, kSentinel), bias(64, kSentinel);
      const convkit_status status = convkit_compose_conv2d(
          c.null == Null::First ? nullptr : &first, c.null == Null::FirstWeights ? nullptr : w1.data(),
          c.first_bias ? b1.data() : nullptr, c.null == Null::Second ? nullptr : &second,
          c.null == Null::SecondWeights ? nullptr : w2.data(), c.second_bias ? b2.data() : nullptr,
          c.null == Null::Composed ? nullptr : &composed, with_weights ? weights.data() : nullptr,
          c.null == Null::ComposedBias ? nullptr : bias.data());
      CHECK(status == c.status);
      const std::string message = convkit_last_error();
      CHECK_MESSAGE(mentions_all(message, c.message_parts), "message: ", message);
      CHECK(std::memcmp(&composed, &composed_before, sizeof composed) == 0);
      CHECK(std::all_of(weights.begin(), weights.end(), [](float v) { return v == kSentinel; }));
      CHECK(std::all_of(bias.begin(), bias.end(), [](float v) { return v == kSentinel; }));
    }
  }
}

TEST_CASE("every rejection, through the C++ API: Error with its status and message, and no output assigned") {
  const std::vector<float> w1(4096, 0.5f), b1(64, 0.25f), w2(4096, -0.5f), b2(64, 1.0f);
  Conv2dDesc sentinel;
  sentinel.batch = -77;
  sentinel.kernel_height = -77;
  for (const Rejection& c : rejections()) {
    // Null descriptors cannot be written in C++, and its compose always returns a bias.
    if (c.null == Null::First || c.null == Null::Second || c.null == Null::Composed || c.null == Null::ComposedBias)
      continue;
    CAPTURE(c.name);
    convkit_conv2d_desc c_first = valid_first(), c_second = valid_second();
    c.mutate(c_first, c_second);
    const Conv2dDesc first = to_cpp(c_first), second = to_cpp(c_second);
    const auto expect_error = [&](const std::function<void()>& call) {
      bool thrown = false;
      try {
        call();
      } catch (const convkit::Error& error) {
        thrown = true;
        CHECK(static_cast<int>(error.status()) == static_cast<int>(c.status));
        CHECK_MESSAGE(mentions_all(error.what(), c.message_parts), "message: ", error.what());
      }
      CHECK_MESSAGE(thrown, "expected convkit::Error");
    };
    if (c.null == Null::None) {
      Conv2dDesc out = sentinel;
      expect_error([&] { out = convkit::compose(first, second); });
      check_same_desc(out, sentinel);
    }
    convkit::Composition out;
    out.desc = sentinel;
    out.weights.assign(16, kSentinel);
    out.bias.assign(4, kSentinel);
    expect_error([&] {
      out = convkit::compose(first, c.null == Null::FirstWeights ? nullptr : w1.data(), b1.data(), second,
                             c.null == Null::SecondWeights ? nullptr : w2.data(), b2.data());
    });
    check_same_desc(out.desc, sentinel);
    CHECK(out.weights == std::vector<float>(16, kSentinel));
    CHECK(out.bias == std::vector<float>(4, kSentinel));
  }
}

TEST_CASE("descriptor-only mode writes the descriptor and touches nothing else") {
  const convkit_conv2d_desc first = valid_first(), second = valid_second();
  convkit_conv2d_desc composed;
  std::memset(&composed, kSentinelByte, sizeof composed);
  std::vector<float> bias(8, kSentinel);
  // No weights are needed, and composed_bias is neither read nor written without composed_weights.
  REQUIRE(convkit_compose_conv2d(&first, nullptr, nullptr, &second, nullptr, nullptr, &composed, nullptr,
                                 bias.data()) == CONVKIT_STATUS_OK);
  check_same_desc(to_cpp(composed), expected_composition(to_cpp(first), to_cpp(second)));
  CHECK(composed.kernel_height == 4);
  CHECK(composed.pad_top == 0);
  CHECK(composed.dilation_width == 1);
  CHECK(composed.groups == 1);
  CHECK(bias == std::vector<float>(8, kSentinel));
  // Also when biases are given: only composed_weights asks for tensors.
  const std::vector<float> b1(3, 1.0f), b2(2, 1.0f);
  REQUIRE(convkit_compose_conv2d(&first, nullptr, b1.data(), &second, nullptr, b2.data(), &composed, nullptr,
                                 nullptr) == CONVKIT_STATUS_OK);
  CHECK(composed.kernel_width == 4);
}

TEST_CASE("biases: NULL counts as zeros, composed_bias may be NULL when both are, and composed may alias first") {
  convkit_conv2d_desc first = valid_first(), second = valid_second(), composed;
  const std::vector<float> w1 = convkit_test::random_floats(2 * 3 * 9, 11),
                           w2 = convkit_test::random_floats(3 * 2 * 4, 12);
  std::vector<float> weights(2 * 2 * 16, kSentinel), bias(2, kSentinel);
  REQUIRE(convkit_compose_conv2d(&first, w1.data(), nullptr, &second, w2.data(), nullptr, &composed, weights.data(),
                                 bias.data()) == CONVKIT_STATUS_OK);
  CHECK(bias == std::vector<float>{0.0f, 0.0f});
  const std::vector<float> expected_weights = weights;
  std::vector<float> weights_again(weights.size(), kSentinel);
  REQUIRE(convkit_compose_conv2d(&first, w1.data(), nullptr, &second, w2.data(), nullptr, &composed,
                                 weights_again.data(), nullptr) == CONVKIT_STATUS_OK);
  CHECK(weights_again == expected_weights);
  // The result is computed before anything is written, so the composed descriptor may be the first one.
  const Conv2dDesc expected = to_cpp(composed);
  REQUIRE(convkit_compose_conv2d(&first, w1.data(), nullptr, &second, w2.data(), nullptr, &first, weights.data(),
                                 nullptr) == CONVKIT_STATUS_OK);
  check_same_desc(to_cpp(first), expected);
  CHECK(weights == expected_weights);
  // C++: both biases null give zeros.
  const convkit::Composition c =
      convkit::compose(to_cpp(valid_first()), w1.data(), nullptr, to_cpp(second), w2.data(), nullptr);
  CHECK(c.bias == std::vector<float>{0.0f, 0.0f});
  CHECK(c.weights == expected_weights);
}
