// Every rejected input, through both APIs: the right status, a message naming the field, and the output untouched.
#include <convkit/convkit.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "c_enum_fields.hpp"
#include "conv_tester.hpp"

namespace {

// A valid problem with room to spare in every buffer, so that only the field under test is wrong.
struct Case {
  std::string name;
  std::function<void(convkit_conv2d_desc&, convkit_options&)> mutate;
  std::string message_part;  // the field the message must name
  convkit_status status = CONVKIT_STATUS_INVALID_ARGUMENT;
};

convkit_conv2d_desc valid_desc() {
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 2;
  d.in_channels = 4;
  d.in_height = d.in_width = 6;
  d.out_channels = 4;
  d.kernel_height = d.kernel_width = 3;
  return d;
}

using convkit_test::store_int;

std::vector<Case> invalid_cases() {
  std::vector<Case> cases;
  const auto field = [&](const char* name, int64_t convkit_conv2d_desc::*member, int64_t value) {
    cases.push_back({std::string(name) + " = " + std::to_string(value),
                     [member, value](convkit_conv2d_desc& d, convkit_options&) { d.*member = value; }, name});
  };
  for (int64_t bad : {int64_t{0}, int64_t{-3}}) {
    field("batch", &convkit_conv2d_desc::batch, bad);
    field("in_channels", &convkit_conv2d_desc::in_channels, bad);
    field("in_height", &convkit_conv2d_desc::in_height, bad);
    field("in_width", &convkit_conv2d_desc::in_width, bad);
    field("out_channels", &convkit_conv2d_desc::out_channels, bad);
    field("kernel_height", &convkit_conv2d_desc::kernel_height, bad);
    field("kernel_width", &convkit_conv2d_desc::kernel_width, bad);
    field("stride_height", &convkit_conv2d_desc::stride_height, bad);
    field("stride_width", &convkit_conv2d_desc::stride_width, bad);
    field("dilation_height", &convkit_conv2d_desc::dilation_height, bad);
    field("dilation_width", &convkit_conv2d_desc::dilation_width, bad);
    field("groups", &convkit_conv2d_desc::groups, bad);
  }
  field("pad_top", &convkit_conv2d_desc::pad_top, -1);
  field("pad_left", &convkit_conv2d_desc::pad_left, -1);
  field("pad_bottom", &convkit_conv2d_desc::pad_bottom, -1);
  field("pad_right", &convkit_conv2d_desc::pad_right, -1);
  cases.push_back({"groups not dividing in_channels",
                   [](convkit_conv2d_desc& d, convkit_options&) { d.in_channels = 6, d.groups = 4; }, "in_channels"});
  cases.push_back({"groups not dividing out_channels",
                   [](convkit_conv2d_desc& d, convkit_options&) { d.out_channels = 6, d.groups = 4; }, "out_channels"});
  cases.push_back({"empty output (kernel larger than the input)",
                   [](convkit_conv2d_desc& d, convkit_options&) { d.kernel_height = 7; }, "empty"});
  cases.push_back({"empty output (dilated kernel larger than the padded input)",
                   [](convkit_conv2d_desc& d, convkit_options&) { d.dilation_width = 4, d.pad_left = 1; }, "empty"});
  for (int bad : {2, -1, 1000}) {
    cases.push_back({"layout " + std::to_string(bad),
                     [bad](convkit_conv2d_desc& d, convkit_options&) { store_int(d.layout, bad); }, "layout"});
    cases.push_back({"weights_layout " + std::to_string(bad),
                     [bad](convkit_conv2d_desc& d, convkit_options&) { store_int(d.weights_layout, bad); },
                     "weights_layout"});
    cases.push_back({"math_mode " + std::to_string(bad),
                     [bad](convkit_conv2d_desc&, convkit_options& o) { store_int(o.math_mode, bad); }, "math_mode"});
  }
  for (int bad : {3, -1, 1000})
    cases.push_back({"activation " + std::to_string(bad),
                     [bad](convkit_conv2d_desc&, convkit_options& o) { store_int(o.activation, bad); }, "activation"});
  for (int bad : {7, -1, 99})
    cases.push_back({"algorithm " + std::to_string(bad),
                     [bad](convkit_conv2d_desc&, convkit_options& o) { store_int(o.algorithm, bad); }, "algorithm"});
  cases.push_back({"clamp_min > clamp_max",
                   [](convkit_conv2d_desc&, convkit_options& o) {
                     o.activation = CONVKIT_ACTIVATION_CLAMP, o.clamp_min = 1.0f, o.clamp_max = 0.0f;
                   },
                   "clamp_min"});
  cases.push_back({"clamp_min NaN",
                   [](convkit_conv2d_desc&, convkit_options& o) {
                     o.activation = CONVKIT_ACTIVATION_CLAMP, o.clamp_min = std::nanf("");
                   },
                   "clamp_min"});
  cases.push_back({"clamp_max NaN",
                   [](convkit_conv2d_desc&, convkit_options& o) {
                     o.activation = CONVKIT_ACTIVATION_CLAMP, o.clamp_max = std::nanf("");
                   },
                   "clamp_max"});
  cases.push_back({"negative threads", [](convkit_conv2d_desc&, convkit_options& o) { o.threads = -1; }, "threads"});
  // Sizes whose products overflow 64 bits; the buffers are never touched because validation comes first.
  const int64_t huge = int64_t{1} << 40;
  cases.push_back({"input element count overflows",
                   [huge](convkit_conv2d_desc& d, convkit_options&) { d.batch = huge, d.in_height = huge; },
                   "overflows"});
  cases.push_back({"in_height + padding overflows",
                   [](convkit_conv2d_desc& d, convkit_options&) {
                     d.in_height = std::numeric_limits<int64_t>::max(), d.pad_top = 1;
                   },
                   "overflows"});
  cases.push_back({"dilation * (kernel - 1) overflows",
                   [](convkit_conv2d_desc& d, convkit_options&) {
                     d.dilation_height = std::numeric_limits<int64_t>::max() / 2, d.kernel_height = 4;
                   },
                   "overflows"});
  cases.push_back({"weights element count overflows",
                   [huge](convkit_conv2d_desc& d, convkit_options&) {
                     d.out_channels = huge, d.in_channels = huge, d.in_height = d.in_width = 1;
                     d.kernel_height = d.kernel_width = 1;
                   },
                   "overflows"});
  cases.push_back({"float byte size overflows",
                   [](convkit_conv2d_desc& d, convkit_options&) {
                     d.batch = int64_t{1} << 61, d.in_channels = 1, d.in_height = d.in_width = 1;
                     d.kernel_height = d.kernel_width = 1;
                   },
                   "overflows"});
  return cases;
}

convkit::Conv2dDesc to_cpp(const convkit_conv2d_desc& c) {
  convkit::Conv2dDesc d;
  d.batch = c.batch, d.in_channels = c.in_channels, d.in_height = c.in_height, d.in_width = c.in_width;
  d.out_channels = c.out_channels, d.kernel_height = c.kernel_height, d.kernel_width = c.kernel_width;
  d.stride_height = c.stride_height, d.stride_width = c.stride_width;
  d.pad_top = c.pad_top, d.pad_left = c.pad_left, d.pad_bottom = c.pad_bottom, d.pad_right = c.pad_right;
  d.dilation_height = c.dilation_height, d.dilation_width = c.dilation_width, d.groups = c.groups;
  int layout, weights_layout;
  std::memcpy(&layout, &c.layout, sizeof layout);
  std::memcpy(&weights_layout, &c.weights_layout, sizeof weights_layout);
  d.layout = static_cast<convkit::Layout>(layout);
  d.weights_layout = static_cast<convkit::WeightsLayout>(weights_layout);
  return d;
}

convkit::Options to_cpp(const convkit_options& c) {
  convkit::Options o;
  int algorithm, activation, math_mode;
  std::memcpy(&algorithm, &c.algorithm, sizeof algorithm);
  std::memcpy(&activation, &c.activation, sizeof activation);
  std::memcpy(&math_mode, &c.math_mode, sizeof math_mode);
  o.algorithm = static_cast<convkit::Algorithm>(algorithm);
  o.activation = static_cast<convkit::Activation>(activation);
  o.math_mode = static_cast<convkit::MathMode>(math_mode);
  o.threads = c.threads, o.clamp_min = c.clamp_min, o.clamp_max = c.clamp_max;
  return o;
}

// Buffers large enough for the valid problem; a rejected call must leave `output` as it was.
struct Buffers {
  std::vector<float> input = std::vector<float>(4096, 1.0f);
  std::vector<float> weights = std::vector<float>(4096, 1.0f);
  std::vector<float> bias = std::vector<float>(64, 1.0f);
  std::vector<float> output = std::vector<float>(4096, -7.0f);
  bool output_untouched() const {
    for (float v : output)
      if (v != -7.0f) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("every invalid descriptor or option is rejected by the C API, naming the field, output untouched") {
  for (const Case& c : invalid_cases()) {
    CAPTURE(c.name);
    convkit_conv2d_desc d = valid_desc();
    convkit_options o;
    convkit_options_init(&o);
    c.mutate(d, o);
    Buffers b;
    const convkit_status status =
        convkit_conv2d(&d, b.input.data(), b.weights.data(), b.bias.data(), b.output.data(), &o);
    CHECK(status == c.status);
    CHECK_MESSAGE(std::string(convkit_last_error()).find(c.message_part) != std::string::npos, convkit_last_error());
    CHECK(b.output_untouched());
  }
}

TEST_CASE("every invalid descriptor or option throws convkit::Error from the C++ API, naming the field") {
  for (const Case& c : invalid_cases()) {
    CAPTURE(c.name);
    convkit_conv2d_desc d = valid_desc();
    convkit_options o;
    convkit_options_init(&o);
    c.mutate(d, o);
    Buffers b;
    try {
      convkit::conv2d(to_cpp(d), b.input.data(), b.weights.data(), b.bias.data(), b.output.data(), to_cpp(o));
      FAIL("no exception");
    } catch (const convkit::Error& e) {
      CHECK(static_cast<int>(e.status()) == static_cast<int>(c.status));
      CHECK_MESSAGE(std::string(e.what()).find(c.message_part) != std::string::npos, e.what());
    }
    CHECK(b.output_untouched());
  }
}

TEST_CASE("output_size and tensor_sizes validate too") {
  convkit_conv2d_desc d = valid_desc();
  int64_t h = 0, w = 0;
  REQUIRE(convkit_conv2d_output_size(&d, &h, &w) == CONVKIT_STATUS_OK);
  CHECK(h == 4);
  CHECK(w == 4);
  convkit_tensor_sizes sizes;
  REQUIRE(convkit_conv2d_tensor_sizes(&d, &sizes) == CONVKIT_STATUS_OK);
  CHECK(sizes.input == 2 * 4 * 36);
  CHECK(sizes.weights == 4 * 4 * 9);
  CHECK(sizes.bias == 4);
  CHECK(sizes.output == 2 * 4 * 16);
  d.stride_height = 0;
  CHECK(convkit_conv2d_output_size(&d, &h, &w) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_last_error()).find("stride_height") != std::string::npos);
  CHECK_THROWS_AS(convkit::output_size(to_cpp(d)), convkit::Error);
  CHECK_THROWS_AS(convkit::tensor_sizes(to_cpp(d)), convkit::Error);
  CHECK(convkit_conv2d_output_size(nullptr, &h, &w) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(convkit_conv2d_output_size(&d, nullptr, &w) == CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(convkit_conv2d_tensor_sizes(&d, nullptr) == CONVKIT_STATUS_INVALID_ARGUMENT);
}

TEST_CASE("output size follows floor((H + pads - dilation*(K-1) - 1) / stride) + 1") {
  convkit::Conv2dDesc d;
  d.batch = d.in_channels = d.out_channels = 1;
  d.in_height = 10, d.in_width = 7;
  d.kernel_height = 3, d.kernel_width = 2;
  d.stride_height = 3, d.stride_width = 2;
  d.pad_top = 1, d.pad_bottom = 2, d.pad_left = 0, d.pad_right = 1;
  d.dilation_height = 2, d.dilation_width = 3;
  const convkit::OutputSize size = convkit::output_size(d);
  CHECK(size.height == (10 + 1 + 2 - 2 * 2 - 1) / 3 + 1);
  CHECK(size.width == (7 + 0 + 1 - 3 * 1 - 1) / 2 + 1);
}

TEST_CASE("null pointers are rejected by both APIs") {
  convkit_conv2d_desc d = valid_desc();
  Buffers b;
  CHECK(convkit_conv2d(nullptr, b.input.data(), b.weights.data(), nullptr, b.output.data(), nullptr) ==
        CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_last_error()).find("desc") != std::string::npos);
  CHECK(convkit_conv2d(&d, nullptr, b.weights.data(), nullptr, b.output.data(), nullptr) ==
        CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_last_error()).find("input") != std::string::npos);
  CHECK(convkit_conv2d(&d, b.input.data(), nullptr, nullptr, b.output.data(), nullptr) ==
        CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_last_error()).find("weights") != std::string::npos);
  CHECK(convkit_conv2d(&d, b.input.data(), b.weights.data(), nullptr, nullptr, nullptr) ==
        CONVKIT_STATUS_INVALID_ARGUMENT);
  CHECK(std::string(convkit_last_error()).find("output") != std::string::npos);
  CHECK(b.output_untouched());
  // Options and bias may be null.
  CHECK(convkit_conv2d(&d, b.input.data(), b.weights.data(), nullptr, b.output.data(), nullptr) == CONVKIT_STATUS_OK);
  const convkit::Conv2dDesc cd = to_cpp(d);
  CHECK_THROWS_WITH_AS(convkit::conv2d(cd, nullptr, b.weights.data(), nullptr, b.output.data()), "input is null",
                       convkit::Error);
  CHECK_THROWS_WITH_AS(convkit::conv2d(cd, b.input.data(), nullptr, nullptr, b.output.data()), "weights is null",
                       convkit::Error);
  CHECK_THROWS_WITH_AS(convkit::conv2d(cd, b.input.data(), b.weights.data(), nullptr, nullptr), "output is null",
                       convkit::Error);
}

TEST_CASE("an output overlapping the input, weights or bias is rejected by both APIs") {
  convkit_conv2d_desc d = valid_desc();  // input 288 floats, weights 144, bias 4, output 128
  std::vector<float> arena(2048, 1.0f);
  float* base = arena.data();
  struct Overlap {
    const char* name;
    const float *input, *weights, *bias;
    float* output;
  };
  const Overlap overlaps[] = {
      {"input", base, base + 1000, base + 1500, base + 287},        // last input float
      {"input", base + 200, base + 1000, base + 1500, base + 100},  // output ends inside the input
      {"weights", base, base + 500, base + 1500, base + 643},       // last weights float
      {"bias", base, base + 500, base + 1000, base + 900},          // bias inside the output
      {"bias", base, base + 500, base + 1000, base + 1003},         // last bias float
  };
  for (const Overlap& o : overlaps) {
    CAPTURE(o.name);
    const std::vector<float> before = arena;
    CHECK(convkit_conv2d(&d, o.input, o.weights, o.bias, o.output, nullptr) == CONVKIT_STATUS_INVALID_ARGUMENT);
    CHECK(std::string(convkit_last_error()).find(std::string("overlaps ") + o.name) != std::string::npos);
    CHECK_THROWS_AS(convkit::conv2d(to_cpp(d), o.input, o.weights, o.bias, o.output), convkit::Error);
    CHECK(arena == before);
  }
  // Adjacent but disjoint buffers are fine.
  CHECK(convkit_conv2d(&d, base, base + 288, base + 432, base + 436, nullptr) == CONVKIT_STATUS_OK);
}

TEST_CASE("an algorithm asked for a shape it does not handle answers unsupported, output untouched") {
  convkit_conv2d_desc d = valid_desc();
  convkit_options o;
  convkit_options_init(&o);
  Buffers b;
  o.algorithm = CONVKIT_ALGORITHM_GEMM_1X1;
  CHECK(convkit_conv2d(&d, b.input.data(), b.weights.data(), nullptr, b.output.data(), &o) ==
        CONVKIT_STATUS_UNSUPPORTED);
  CHECK(std::string(convkit_last_error()).find("not 1x1") != std::string::npos);
  CHECK(b.output_untouched());
  convkit::Options co;
  co.algorithm = convkit::Algorithm::Gemm1x1;
  try {
    convkit::conv2d(to_cpp(d), b.input.data(), b.weights.data(), nullptr, b.output.data(), co);
    FAIL("no exception");
  } catch (const convkit::Error& e) {
    CHECK(e.status() == convkit::Status::Unsupported);
  }
}

TEST_CASE("status and algorithm names") {
  CHECK(std::string(convkit_status_string(CONVKIT_STATUS_OK)) == "ok");
  CHECK(std::string(convkit_status_string(CONVKIT_STATUS_INVALID_ARGUMENT)) == "invalid argument");
  CHECK(std::string(convkit_status_string(CONVKIT_STATUS_UNSUPPORTED)) == "unsupported");
  CHECK(std::string(convkit_status_string(CONVKIT_STATUS_OUT_OF_MEMORY)) == "out of memory");
  CHECK(std::string(convkit_status_string(CONVKIT_STATUS_INTERNAL_ERROR)) == "internal error");
  // Out-of-range values ("unknown status", "unknown") are checked from C (test_c99.c): in C++ merely passing an enum
  // that holds 42 is undefined behaviour, which UndefinedBehaviorSanitizer reports.
  CHECK(std::string(convkit_algorithm_name(CONVKIT_ALGORITHM_IM2COL_GEMM)) == "im2col_gemm");
  CHECK(std::string(convkit::algorithm_name(convkit::Algorithm::Gemm1x1)) == "gemm_1x1");
  CHECK(std::string(convkit_algorithm_name(CONVKIT_ALGORITHM_IMPLICIT_GEMM)) == "implicit_gemm");
  CHECK(std::string(convkit::algorithm_name(convkit::Algorithm::ImplicitGemm)) == "implicit_gemm");
}

// AddressSanitizer's operator new reports a failed allocation and aborts instead of throwing std::bad_alloc.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST_CASE("a huge but valid problem answers out of memory, and the process goes on" *
          doctest::skip(kAddressSanitizer)) {
  // Within the BLAS's 32-bit sizes, but the weights im2col_gemm packs (2^20 x 3.2e6 floats, 13 TB) cannot be
  // allocated. (The unfolded input cannot be the culprit: its tiles are bounded whatever the image size.)
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = 1;
  d.in_channels = 1 << 16;
  d.in_height = d.in_width = 7;
  d.out_channels = 1 << 20;
  d.kernel_height = d.kernel_width = 7;
  convkit_options o;
  convkit_options_init(&o);
  o.algorithm = CONVKIT_ALGORITHM_IM2COL_GEMM;
  // Weights, input and output are addresses never dereferenced: the allocation of the packed weights fails before
  // any of them is read or written.
  const float* weights = reinterpret_cast<const float*>(std::uintptr_t{1} << 41);
  const float* input = reinterpret_cast<const float*>(std::uintptr_t{1} << 40);
  float* output = reinterpret_cast<float*>(std::uintptr_t{64});
  CHECK(convkit_conv2d(&d, input, weights, nullptr, output, &o) == CONVKIT_STATUS_OUT_OF_MEMORY);
  CHECK(std::string(convkit_last_error()).find("out of memory") != std::string::npos);
  convkit::Options co;
  co.algorithm = convkit::Algorithm::Im2colGemm;
  try {
    convkit::conv2d(to_cpp(d), input, weights, nullptr, output, co);
    FAIL("no exception");
  } catch (const convkit::Error& e) {
    CHECK(e.status() == convkit::Status::OutOfMemory);
  }
  // The library goes on working.
  convkit_test::ConvTester().channels(3, 3).test(convkit::Algorithm::Im2colGemm);
}

TEST_CASE("a malformed tuning variable fails plan creation, naming the variable; well-formed ones are taken") {
  // lib/tuning.hpp: one strict parser for every variable read when a plan is made.
  struct Case {
    const char* name;
    const char* value;
    bool valid;
  };
  const Case cases[] = {
      {"CONVKIT_GEMM_TILE_PIXELS", "12abc", false},    {"CONVKIT_GEMM_TILE_PIXELS", "0", false},
      {"CONVKIT_GEMM_TILE_PIXELS", "-7", false},       {"CONVKIT_GEMM_TILE_PIXELS", "7", true},
      {"CONVKIT_GEMM_CHANNEL_BLOCK", " 16", false},    {"CONVKIT_GEMM_CHANNEL_BLOCK", "16", true},
      {"CONVKIT_GEMM_ORIENTATION", "sideways", false}, {"CONVKIT_GEMM_ORIENTATION", "transposed", true},
      {"CONVKIT_GEMM_ENGINE", "mkl", false},           {"CONVKIT_GEMM_ENGINE", "blas", true},
      {"CONVKIT_WINOGRAD_TILE", "3", false},           {"CONVKIT_WINOGRAD_TILE", "2", true},
      {"CONVKIT_WINOGRAD_BLOCK_TILES", "1e3", false},  {"CONVKIT_WINOGRAD_BLOCK_TILES", "5", true},
      {"CONVKIT_GEMM_TILE_PIXELS", "", true}};
  convkit::Conv2dDesc d;
  d.batch = 1, d.in_channels = d.out_channels = 16, d.in_height = d.in_width = 9;
  d.kernel_height = d.kernel_width = 3, d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
  const std::vector<float> w = convkit_test::random_floats(16 * 16 * 9, 3), x = convkit_test::random_floats(16 * 81, 4);
  std::vector<float> want(16 * 81), got(want.size());
  convkit::Options options;
  options.algorithm = convkit::Algorithm::Reference;
  convkit::conv2d(d, x.data(), w.data(), nullptr, want.data(), options);
  for (const Case& c : cases) {
    const std::string variable = std::string(c.name) + "=" + c.value;
    CAPTURE(variable);
    setenv(c.name, c.value, 1);
    for (convkit::Algorithm algorithm : {convkit::Algorithm::Im2colGemm, convkit::Algorithm::Winograd}) {
      options.algorithm = algorithm;
      options.math_mode = convkit::MathMode::Fast;
      if (c.valid) {
        const convkit::Plan plan(d, w.data(), nullptr, options);
        plan.run(x.data(), got.data());
        for (std::size_t k = 0; k < want.size(); ++k) REQUIRE(std::fabs(got[k] - want[k]) < 1e-3f);
      } else {
        const std::string message = std::string(c.name) + " = \"" + c.value + "\"";
        CHECK_THROWS_WITH_AS(convkit::Plan(d, w.data(), nullptr, options), doctest::Contains(message.c_str()),
                             convkit::Error);
      }
    }
    unsetenv(c.name);
  }
}
