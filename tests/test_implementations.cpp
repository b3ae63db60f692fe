// The named implementation list (lib/primitive.hpp, lib/dispatch.cpp): every entry takes the shapes it is meant
// for, Plan::description() names the entry that runs, and a test can ask for an entry by name (plan_with) and get
// the oracle's answer from it.
#include <dirent.h>
#include <doctest/doctest.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "conv_tester.hpp"
#include "layer_suite.hpp"
#include "plan.hpp"
#include "primitive.hpp"
#include "std_thread_pool.hpp"

using convkit::Algorithm;
using convkit::Layout;

namespace {

convkit::Conv2dDesc strided(convkit::Conv2dDesc d) {
  d.stride_height = d.stride_width = 2;
  return d;
}

bool has_gemm_microkernels() {
  const std::string isa = convkit::simd_isa();
  return isa == "avx2+fma" || isa == "avx512f";
}

struct Expectation {
  const char* entry;
  convkit::Conv2dDesc desc;
  Algorithm asked;  // Auto, or the family asked for by name
  convkit::MathMode mode;
  const char* tuning_variable;  // set for this case only, or null
  const char* tuning_value;
  const char* otherwise;  // the entry expected where this CPU lacks what `entry` needs (null: always `entry`)
};

std::vector<Expectation> expectations() {
  const auto strict = convkit::MathMode::Strict, fast = convkit::MathMode::Fast;
  const char* none = nullptr;
  return {
      {"gemm_1x1_channelwise", convkit_test::square_desc(32, 32, 32, 14, 1, Layout::NHWC), Algorithm::Auto, strict,
       none, none, "direct_depthwise_nhwc"},
      {"gemm_1x1_convkit", convkit_test::square_desc(64, 64, 1, 14, 1, Layout::NCHW), Algorithm::Auto, strict, none,
       none, "gemm_1x1_openblas"},
      {"gemm_1x1_openblas_transposed", convkit_test::square_desc(1024, 8, 1, 7, 1, Layout::NHWC), Algorithm::Auto,
       strict, none, none, none},
      {"gemm_1x1_openblas", convkit_test::square_desc(64, 8, 1, 14, 1, Layout::NHWC), Algorithm::Auto, strict, none,
       none, none},
      {"winograd_f4x4", convkit_test::square_desc(32, 32, 1, 28, 3, Layout::NCHW), Algorithm::Auto, fast, none, none,
       none},
      {"winograd_f2x2", convkit_test::square_desc(64, 64, 1, 12, 3, Layout::NHWC), Algorithm::Auto, fast, none, none,
       none},
      {"direct_tiny", convkit_test::square_desc(2, 3, 1, 3, 2, Layout::NCHW), Algorithm::Auto, strict, none, none,
       none},
      {"direct_depthwise_nhwc", convkit_test::square_desc(32, 32, 32, 28, 3, Layout::NHWC), Algorithm::Auto, strict,
       none, none, none},
      {"direct_depthwise_blocked", convkit_test::square_desc(96, 96, 96, 7, 5, Layout::NCHW), Algorithm::Auto, strict,
       none, none, none},
      {"direct_depthwise_planes", convkit_test::square_desc(48, 96, 48, 7, 5, Layout::NCHW), Algorithm::Auto, strict,
       none, none, none},
      {"direct_scalar", convkit_test::square_desc(8, 8, 1, 5, 3, Layout::NCHW), Algorithm::Auto, strict, none, none,
       none},
      {"direct_depthwise_inplace", convkit_test::square_desc(32, 32, 32, 56, 3, Layout::NCHW), Algorithm::Auto, strict,
       none, none, "direct_staged"},
      {"direct_staged", convkit_test::square_desc(8, 4, 1, 32, 3, Layout::NCHW), Algorithm::Auto, strict, none, none,
       none},
      {"im2col_gemm_channelwise", convkit_test::square_desc(32, 32, 32, 28, 3, Layout::NHWC), Algorithm::Im2colGemm,
       strict, none, none, "im2col_gemm_openblas"},
      {"implicit_gemm_convkit", convkit_test::square_desc(64, 64, 1, 28, 3, Layout::NCHW), Algorithm::Auto, strict,
       none, none, "im2col_gemm_openblas"},
      {"im2col_gemm_convkit", strided(convkit_test::square_desc(32, 64, 1, 28, 3, Layout::NCHW)), Algorithm::Auto,
       strict, none, none, "im2col_gemm_openblas"},
      {"im2col_gemm_openblas_transposed", convkit_test::square_desc(64, 64, 1, 14, 3, Layout::NHWC),
       Algorithm::Im2colGemm, strict, "CONVKIT_GEMM_ORIENTATION", "transposed", none},
      {"im2col_gemm_openblas", convkit_test::square_desc(64, 32, 4, 4, 3, Layout::NHWC), Algorithm::Auto, strict, none,
       none, none},
      {"reference", convkit_test::square_desc(8, 8, 1, 9, 3, Layout::NCHW), Algorithm::Reference, strict, none, none,
       none},
  };
}

// Each entry on its expected shape at batch 2, in each layout where it does not decline the shape.
struct EntryCase {
  const Expectation& expectation;
  const convkit::detail::Implementation& entry;
  convkit::Conv2dDesc desc;
  Layout layout;
  const char* layout_name() const { return layout == Layout::NCHW ? "NCHW" : "NHWC"; }
};

std::vector<EntryCase> entry_cases() {
  static const std::vector<Expectation> all = expectations();
  std::vector<EntryCase> cases;
  for (const Expectation& e : all)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      convkit::Conv2dDesc d = e.desc;
      d.layout = layout;
      d.batch = 2;
      const convkit::detail::Implementation* entry = convkit::detail::find_implementation(e.entry);
      REQUIRE(entry != nullptr);
      if (entry->declines(convkit::detail::make_problem(d), convkit::detail::Tuning{}) == nullptr)
        cases.push_back({e, *entry, d, layout});
    }
  return cases;
}

}  // namespace

TEST_CASE("every entry of the implementation list takes the shapes it is meant for, and the description names it") {
  const bool microkernels = has_gemm_microkernels();
  const bool in_place = std::string(convkit::simd_isa()) == "avx512f";
  std::set<std::string> covered;
  for (const Expectation& e : expectations()) {
    const std::string entry = e.entry;
    covered.insert(entry);
    std::string want = entry;
    const bool needs_microkernels =
        entry.find("convkit") != std::string::npos || entry.find("channelwise") != std::string::npos;
    if ((needs_microkernels && !microkernels) || (entry == "direct_depthwise_inplace" && !in_place)) want = e.otherwise;
    CAPTURE(entry);
    if (e.tuning_variable != nullptr) setenv(e.tuning_variable, e.tuning_value, 1);
    convkit::Options options;
    options.algorithm = e.asked;
    options.math_mode = e.mode;
    const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(e.desc).weights), 0.25f);
    const convkit::Plan plan(e.desc, w.data(), nullptr, options);
    CHECK(convkit_test::implementation_of(plan.description()) == want);
    if (e.tuning_variable != nullptr) unsetenv(e.tuning_variable);
  }
  // Every entry has a case above: an entry added without one fails here.
  for (const convkit::detail::Implementation* const* next = convkit::detail::all_implementations(); *next != nullptr;
       ++next) {
    CAPTURE((*next)->name);
    CHECK(covered.count((*next)->name) == 1);
  }
}

TEST_CASE("asked for by name, every entry gives the oracle's answer on a shape it does not decline") {
  for (const EntryCase& c : entry_cases()) {
    const Expectation& e = c.expectation;
    const convkit::Conv2dDesc& d = c.desc;
    const convkit::detail::Implementation* entry = &c.entry;
    const Layout layout = c.layout;
    CAPTURE(e.entry);
    CAPTURE(c.layout_name());
    const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
    const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 81);
    const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 82);
    const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 83);
    convkit::Options options;
    options.activation = convkit::Activation::Relu;
    const convkit::Plan plan = convkit::detail::plan_with(d, w.data(), b.data(), options, e.entry);
    CHECK(convkit_test::implementation_of(plan.description()) == e.entry);
    std::vector<float> y(static_cast<std::size_t>(sizes.output));
    plan.run(x.data(), y.data());
    const convkit::OutputSize out = convkit::output_size(d);
    const double bound = entry->algorithm == Algorithm::Winograd ? convkit_test::winograd_error_bound(4) : 1e-4;
    std::int64_t wrong = 0;
    for (std::int64_t n = 0; n < d.batch; ++n)
      for (std::int64_t o = 0; o < d.out_channels; ++o)
        for (std::int64_t yy = 0; yy < out.height; ++yy)
          for (std::int64_t xx = 0; xx < out.width; ++xx) {
            const auto want = convkit_test::oracle_at(d, x.data(), w.data(), b.data(), n, o, yy, xx);
            const double scale = entry->algorithm == Algorithm::Winograd
                                     ? convkit_test::winograd_magnitude(d, x.data(), w.data(), b.data(), n, o, yy, xx)
                                     : want.magnitude;
            const double got = y[static_cast<std::size_t>(
                convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, n, o, yy, xx))];
            if (!(std::fabs(got - std::max(0.0, want.value)) <= bound * scale)) ++wrong;
          }
    CHECK(wrong == 0);
  }
}

TEST_CASE("asked for by name, every entry applies every activation and the residual, separate and in place") {
  const convkit::Activation activations[] = {
      convkit::Activation::None,        convkit::Activation::Relu,      convkit::Activation::Clamp,
      convkit::Activation::LeakyRelu,   convkit::Activation::Sigmoid,   convkit::Activation::Tanh,
      convkit::Activation::HardSigmoid, convkit::Activation::HardSwish, convkit::Activation::Silu,
      convkit::Activation::GeluErf,     convkit::Activation::GeluTanh};
  for (const EntryCase& c : entry_cases()) {
    const Expectation& e = c.expectation;
    const convkit::Conv2dDesc& d = c.desc;
    const convkit::detail::Implementation* entry = &c.entry;
    const Layout layout = c.layout;
    CAPTURE(e.entry);
    CAPTURE(c.layout_name());
    const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
    const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 91);
    const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 92);
    const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 93);
    const auto r = convkit_test::random_floats(static_cast<std::size_t>(sizes.output), 94);
    const convkit::OutputSize out = convkit::output_size(d);
    // The oracle's sums once per shape; each epilogue then costs one run.
    std::vector<convkit_test::OracleValue> want(static_cast<std::size_t>(sizes.output));
    for (std::int64_t n = 0; n < d.batch; ++n)
      for (std::int64_t o = 0; o < d.out_channels; ++o)
        for (std::int64_t yy = 0; yy < out.height; ++yy)
          for (std::int64_t xx = 0; xx < out.width; ++xx) {
            const std::int64_t at =
                convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, n, o, yy, xx);
            want[static_cast<std::size_t>(at)] = convkit_test::oracle_at(d, x.data(), w.data(), b.data(), n, o, yy, xx);
            if (entry->algorithm == Algorithm::Winograd)
              want[static_cast<std::size_t>(at)].magnitude =
                  convkit_test::winograd_magnitude(d, x.data(), w.data(), b.data(), n, o, yy, xx) *
                  convkit_test::winograd_error_bound(4) / 1e-4;
          }
    for (convkit::Activation activation : activations)
      for (int residual = 0; residual < 3; ++residual) {  // none, separate, in place
        CAPTURE(static_cast<int>(activation));
        CAPTURE(residual);
        convkit::Epilogue epilogue;
        epilogue.activation = activation;
        epilogue.clamp_min = -0.3f;
        epilogue.clamp_max = 0.4f;
        epilogue.residual = residual != 0;
        epilogue.residual_scale = residual == 2 ? 1.0f : -0.5f;
        const convkit::Plan plan =
            convkit::detail::plan_with(d, w.data(), b.data(), convkit::Options{}, e.entry, &epilogue);
        std::vector<float> y(static_cast<std::size_t>(sizes.output), std::nanf(""));
        if (residual == 2) y = r;
        if (residual == 0) {
          plan.run(x.data(), y.data());
        } else {
          plan.run_residual(x.data(), residual == 2 ? y.data() : r.data(), y.data());
        }
        std::int64_t wrong = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
          double value = want[i].value, magnitude = want[i].magnitude;
          if (residual != 0) {
            value += epilogue.residual_scale * r[i];
            magnitude += std::fabs(epilogue.residual_scale * r[i]);
          }
          const double expected = convkit_test::oracle_activation(value, epilogue);
          const double tolerance =
              convkit_test::oracle_activation_slope(epilogue) * 1e-4 * magnitude + 1e-6 * std::fabs(expected);
          if (!(std::fabs(y[i] - expected) <= tolerance) && wrong++ < 3)
            FAIL_CHECK("element ", i, ": ", y[i], ", want ", expected);
        }
        CHECK(wrong == 0);
      }
  }
}

TEST_CASE("an unknown entry name is an invalid argument; an entry that declines the shape is unsupported") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(8, 8, 1, 9, 5, Layout::NCHW);
  const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
  try {
    convkit::detail::plan_with(d, w.data(), nullptr, convkit::Options{}, "im2col_gemm_fastest");
    FAIL("no error");
  } catch (const convkit::Error& error) {
    CHECK(error.status() == convkit::Status::InvalidArgument);
    CHECK(std::string(error.what()).find("im2col_gemm_fastest") != std::string::npos);
  }
  try {
    convkit::detail::plan_with(d, w.data(), nullptr, convkit::Options{}, "winograd_f4x4");
    FAIL("no error");
  } catch (const convkit::Error& error) {
    CHECK(error.status() == convkit::Status::Unsupported);
    CHECK(std::string(error.what()).find("3x3") != std::string::npos);
  }
}

TEST_CASE("on every layer of the suite, the description names an entry of the list, of the algorithm that runs") {
  std::set<std::string> names;
  for (const convkit::detail::Implementation* const* next = convkit::detail::all_implementations(); *next != nullptr;
       ++next)
    names.insert((*next)->name);
  for (const convkit_bench::Layer& layer : convkit_bench::load_layer_suite(CONVKIT_LAYER_SUITE))
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (convkit::MathMode mode : {convkit::MathMode::Strict, convkit::MathMode::Fast}) {
        const convkit::Conv2dDesc d = layer.with_layout(layout).desc;
        convkit::Options options;
        options.math_mode = mode;
        const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
        const convkit::Plan plan(d, w.data(), nullptr, options);
        CAPTURE(layer.name);
        CAPTURE(plan.description());
        CHECK(names.count(convkit_test::implementation_of(plan.description())) == 1);
        CHECK(plan.description().rfind(convkit::algorithm_name(plan.algorithm()), 0) == 0);
        const std::string line = layer.name + (layout == Layout::NCHW ? " NCHW" : " NHWC") +
                                 (mode == convkit::MathMode::Fast ? " fast: " : " strict: ") + plan.description();
        MESSAGE(line);
      }
}

// implicit_gemm sums what im2col_gemm_convkit sums, reduction block for reduction block, so where no tap is skipped
// (no padding here) the bits are the same: NHWC against NHWC; NCHW outputs of at least 64 pixels, which run in their
// own orientation (the rows of B read where they lie in the band), against NCHW; narrower NCHW outputs, which run
// with the pixels as the register tile's rows in NHWC's reduction order, against NHWC.
TEST_CASE("implicit_gemm gives im2col_gemm_convkit's bits where no tap is skipped, in both forms and layouts") {
  if (!has_gemm_microkernels()) return;
  struct Shape {
    std::int64_t in_channels, out_channels, groups, height, width, kernel_h, kernel_w, stride_h, stride_w, dilation;
    bool native;  // an NCHW output at least 64 wide
  };
  const Shape shapes[] = {
      {16, 40, 1, 9, 70, 3, 3, 1, 1, 1, true},    // 68 wide: strips of 32 and a ragged one
      {24, 13, 1, 7, 70, 3, 5, 2, 1, 1, true},    // strided rows, 5 columns of taps
      {8, 33, 1, 12, 71, 3, 3, 1, 1, 2, true},    // dilation 2
      {32, 32, 2, 6, 64, 2, 1, 1, 1, 1, true},    // groups, a 2x1 kernel
      {3, 20, 1, 9, 141, 7, 7, 2, 2, 1, true},    // strided columns: the band split into phases (a first layer)
      {5, 9, 1, 6, 200, 3, 4, 1, 3, 1, true},     // three phases, a kernel wider than the stride
      {40, 29, 1, 11, 12, 3, 3, 1, 1, 1, false},  // rows of 10 pixels
      {600, 20, 1, 5, 6, 3, 3, 1, 1, 1, false},   // K = 5400: many reduction blocks, split inside a tap
  };
  for (const Shape& s : shapes) {
    convkit::Conv2dDesc d;
    d.batch = 2;
    d.in_channels = s.in_channels;
    d.out_channels = s.out_channels;
    d.groups = s.groups;
    d.in_height = s.height;
    d.in_width = s.width;
    d.kernel_height = s.kernel_h;
    d.kernel_width = s.kernel_w;
    d.stride_height = s.stride_h;
    d.stride_width = s.stride_w;
    d.dilation_height = d.dilation_width = s.dilation;
    CAPTURE(s.width);
    CAPTURE(s.in_channels);
    const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
    const convkit::OutputSize out = convkit::output_size(d);
    const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 91);
    const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 92);
    const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 93);
    // The same tensors in NHWC.
    std::vector<float> x_nhwc(x.size());
    for (std::int64_t n = 0; n < d.batch; ++n)
      for (std::int64_t c = 0; c < d.in_channels; ++c)
        for (std::int64_t y = 0; y < d.in_height; ++y)
          for (std::int64_t xx = 0; xx < d.in_width; ++xx)
            x_nhwc[static_cast<std::size_t>(
                convkit_test::tensor_offset(Layout::NHWC, d.in_channels, d.in_height, d.in_width, n, c, y, xx))] =
                x[static_cast<std::size_t>(
                    convkit_test::tensor_offset(Layout::NCHW, d.in_channels, d.in_height, d.in_width, n, c, y, xx))];
    convkit::Options options;
    options.activation = convkit::Activation::Relu;
    const auto run = [&](const char* entry, Layout layout, int threads) {
      convkit::Conv2dDesc e = d;
      e.layout = layout;
      options.threads = threads;
      std::vector<float> y(static_cast<std::size_t>(sizes.output)), as_nchw(y.size());
      convkit::detail::plan_with(e, w.data(), b.data(), options, entry)
          .run(layout == Layout::NCHW ? x.data() : x_nhwc.data(), y.data());
      for (std::int64_t n = 0; n < d.batch; ++n)
        for (std::int64_t c = 0; c < d.out_channels; ++c)
          for (std::int64_t yy = 0; yy < out.height; ++yy)
            for (std::int64_t xx = 0; xx < out.width; ++xx)
              as_nchw[static_cast<std::size_t>(
                  convkit_test::tensor_offset(Layout::NCHW, d.out_channels, out.height, out.width, n, c, yy, xx))] =
                  y[static_cast<std::size_t>(
                      convkit_test::tensor_offset(layout, d.out_channels, out.height, out.width, n, c, yy, xx))];
      return as_nchw;
    };
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      const std::vector<float> unfolded_nhwc = run("im2col_gemm_convkit", Layout::NHWC, threads);
      CHECK(run("implicit_gemm_convkit", Layout::NHWC, threads) == unfolded_nhwc);
      const std::vector<float> expected = s.native ? run("im2col_gemm_convkit", Layout::NCHW, threads) : unfolded_nhwc;
      CHECK(run("implicit_gemm_convkit", Layout::NCHW, threads) == expected);
    }
  }
}

TEST_CASE("implicit_gemm against the oracle: NCHW outputs 64 and more wide, padding, strides, groups, epilogues") {
  if (!has_gemm_microkernels()) return;
  for (std::int64_t width : {64, 65, 97})
    for (std::int64_t kernel : {1, 3, 5})
      for (std::int64_t stride : {1, 2, 3})
        convkit_test::ConvTester()
            .batch(2)
            .channels(12, 20)
            .groups(kernel == 5 ? 2 : 1)
            .input(7, stride * (width - 1) + kernel)
            .kernel(kernel, kernel)
            .stride(stride, stride)
            .padding(kernel / 2, kernel / 2, 1, kernel / 2)
            .dilation(1, kernel == 3 ? 2 : 1)
            .bias(true)
            .activation(convkit::Activation::Clamp)
            .threads(stride == 1 ? 1 : 2)
            .layout(Layout::NCHW)
            .test(Algorithm::ImplicitGemm);
}

namespace {

// Runs the entry `name` by name (as a plan, in a workspace of NaNs) on random tensors and counts the output elements
// outside 1e-4 of the oracle's magnitude; nothing may be written around the output.
std::int64_t wrong_outputs(const char* name, const convkit::Conv2dDesc& d, bool bias, const convkit::Options& options) {
  const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
  const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 91);
  const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 92);
  const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 93);
  const convkit::Plan plan = convkit::detail::plan_with(d, w.data(), bias ? b.data() : nullptr, options, name);
  CHECK(convkit_test::implementation_of(plan.description()) == name);
  constexpr std::size_t kGuard = 8;
  std::vector<float> y(static_cast<std::size_t>(sizes.output) + 2 * kGuard, 777.0f);
  std::vector<unsigned char> workspace(plan.workspace_size(), 0xFF);
  plan.run(x.data(), y.data() + kGuard, workspace.data(), workspace.size());
  for (std::size_t i = 0; i < kGuard; ++i) {
    CHECK(y[i] == 777.0f);
    CHECK(y[y.size() - 1 - i] == 777.0f);
  }
  const convkit::OutputSize out = convkit::output_size(d);
  std::int64_t wrong = 0;
  for (std::int64_t n = 0; n < d.batch; ++n)
    for (std::int64_t o = 0; o < d.out_channels; ++o)
      for (std::int64_t yy = 0; yy < out.height; ++yy)
        for (std::int64_t xx = 0; xx < out.width; ++xx) {
          const auto want = convkit_test::oracle_at(d, x.data(), w.data(), bias ? b.data() : nullptr, n, o, yy, xx);
          const double expected = convkit_test::oracle_activate(want.value, options);
          const double got = y[kGuard + static_cast<std::size_t>(convkit_test::tensor_offset(
                                            d.layout, d.out_channels, out.height, out.width, n, o, yy, xx))];
          if (!(std::fabs(got - expected) <= 1e-4 * want.magnitude)) ++wrong;
        }
  return wrong;
}

}  // namespace

TEST_CASE("direct_tiny: channels around its lane blocks, interior pixels in fours and alone, borders, every feature") {
  // Each pixel's output channels fill vectors of the baseline ISA (4 floats with SSE2) in blocks of two; interior
  // pixels run four at a time and the rest one at a time; border pixels have their own tap lists.
  struct Shape {
    std::int64_t in_h, in_w, k_h, k_w, stride, pad_top, pad_left, pad_bottom, pad_right, dilation;
  };
  const Shape shapes[] = {
      {3, 3, 2, 2, 1, 0, 0, 0, 0, 1},  // the lesson's: 4 interior pixels
      {1, 1, 1, 1, 1, 0, 0, 0, 0, 1},  // one pixel
      {3, 5, 1, 1, 1, 0, 0, 0, 0, 1},  // 15 interior pixels: three fours and three alone
      {4, 4, 3, 3, 1, 1, 1, 1, 1, 1},  // 4 interior, 12 on the border
      {5, 4, 1, 3, 2, 0, 1, 0, 0, 1},  // stride 2, padding on the left only
      {6, 5, 3, 2, 1, 2, 0, 1, 1, 2},  // asymmetric padding, dilation 2
      {2, 2, 3, 3, 1, 1, 1, 1, 1, 1},  // every pixel on the border
  };
  for (const Layout layout : {Layout::NCHW, Layout::NHWC})
    for (const Shape& s : shapes)
      for (const std::int64_t group_out : {1, 3, 4, 5, 8, 9, 13})
        for (const std::int64_t groups : {1, 2}) {
          convkit::Conv2dDesc d;
          d.batch = groups == 2 ? 2 : 1;
          d.in_channels = 2 * groups;
          d.out_channels = group_out * groups;
          d.groups = groups;
          d.in_height = s.in_h;
          d.in_width = s.in_w;
          d.kernel_height = s.k_h;
          d.kernel_width = s.k_w;
          d.stride_height = d.stride_width = s.stride;
          d.pad_top = s.pad_top;
          d.pad_left = s.pad_left;
          d.pad_bottom = s.pad_bottom;
          d.pad_right = s.pad_right;
          d.dilation_height = d.dilation_width = s.dilation;
          d.layout = layout;
          d.weights_layout = group_out % 2 == 0 ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
          convkit::Options options;
          options.activation = group_out % 3 == 0   ? convkit::Activation::Relu
                               : group_out % 3 == 1 ? convkit::Activation::Clamp
                                                    : convkit::Activation::None;
          options.clamp_min = -0.3f;
          options.clamp_max = 0.4f;
          CAPTURE(convkit_test::describe(d, options, groups == 1));
          CHECK(wrong_outputs("direct_tiny", d, /*bias=*/groups == 1, options) == 0);
        }
  // A reduction of a whole summation block (441 taps) on one pixel, and one tap more, which it declines.
  convkit::Conv2dDesc d = convkit_test::square_desc(49, 6, 1, 3, 3, Layout::NHWC);
  d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 0;
  CHECK(wrong_outputs("direct_tiny", d, true, convkit::Options{}) == 0);
  d.in_channels = 50;
  try {
    convkit::detail::plan_with(d, std::vector<float>(50 * 6 * 9).data(), nullptr, convkit::Options{}, "direct_tiny");
    FAIL("no error");
  } catch (const convkit::Error& error) {
    CHECK(error.status() == convkit::Status::Unsupported);
  }
}

// ---- Every entry on the caller's thread pool (Plan::run_on) ----

namespace {

void pool_reverse_serial(void*, std::size_t count, void (*task)(void*, std::size_t), void* argument) {
  for (std::size_t i = count; i-- > 0;) task(argument, i);
}

// Threads of this process now, and how many of them are named as convkit's own workers.
struct ThreadCensus {
  int threads = 0, convkit_workers = 0;
};

ThreadCensus thread_census() {
  ThreadCensus census;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      ++census.threads;
      const std::string comm_path = std::string("/proc/self/task/") + entry->d_name + "/comm";
      if (std::FILE* file = std::fopen(comm_path.c_str(), "r")) {
        char name[64] = {};
        if (std::fgets(name, sizeof name, file) != nullptr && std::strncmp(name, "convkit-worker", 14) == 0)
          ++census.convkit_workers;
        std::fclose(file);
      }
    }
    closedir(dir);
  }
  return census;
}

// Runs every entry (both layouts, an epilogue with an in-place residual every other time) on `pool` and on
// convkit's own workers, and checks that the bits agree.
void check_every_entry_on(const convkit::ThreadPool& pool) {
  for (const EntryCase& c : entry_cases())
    for (const bool fused : {false, true}) {
      const convkit::Conv2dDesc& d = c.desc;
      CAPTURE(c.expectation.entry);
      CAPTURE(c.layout_name());
      CAPTURE(fused);
      const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
      const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 61);
      const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 62);
      const auto b = convkit_test::random_floats(static_cast<std::size_t>(sizes.bias), 63);
      const auto r = convkit_test::random_floats(static_cast<std::size_t>(sizes.output), 64);
      convkit::Options options;
      options.threads = 2;
      convkit::Epilogue epilogue;
      epilogue.activation = convkit::Activation::Silu;
      epilogue.residual = true;
      const convkit::Plan plan =
          convkit::detail::plan_with(d, w.data(), b.data(), options, c.expectation.entry, fused ? &epilogue : nullptr);
      std::vector<float> own = r, on_pool = r;
      if (fused) {
        plan.run_residual(x.data(), own.data(), own.data());
        plan.run_residual_on(pool, x.data(), on_pool.data(), on_pool.data());
      } else {
        plan.run(x.data(), own.data());
        plan.run_on(pool, x.data(), on_pool.data());
      }
      CHECK(std::memcmp(own.data(), on_pool.data(), own.size() * sizeof(float)) == 0);
    }
}

}  // namespace

TEST_CASE("on the caller's thread pool every entry gives the bits of convkit's own workers, whatever the pool") {
  convkit_examples::StdThreadPool two(2), three(3);
  check_every_entry_on(two.handle());
  check_every_entry_on(three.handle());
  convkit::ThreadPool reverse;
  reverse.parallel_for = pool_reverse_serial;
  reverse.width = 4;
  check_every_entry_on(reverse);
  convkit::ThreadPool narrow = two.handle();
  narrow.width = 1;
  check_every_entry_on(narrow);
}

TEST_CASE("a run on the caller's thread pool starts no thread: only the pool's threads work") {
  // Counted before any call of this process could have started convkit's workers (ctest runs each case alone; run
  // with the other cases, only the count's difference is checked).
  convkit_examples::StdThreadPool pool(2);
  const ThreadCensus before = thread_census();
  for (const EntryCase& c : entry_cases()) {
    const convkit::Conv2dDesc& d = c.desc;
    const convkit::TensorSizes sizes = convkit::tensor_sizes(d);
    const auto x = convkit_test::random_floats(static_cast<std::size_t>(sizes.input), 61);
    const auto w = convkit_test::random_floats(static_cast<std::size_t>(sizes.weights), 62);
    convkit::Options options;
    options.threads = 2;
    const convkit::Plan plan = convkit::detail::plan_with(d, w.data(), nullptr, options, c.expectation.entry);
    std::vector<float> y(static_cast<std::size_t>(sizes.output));
    for (int repeat = 0; repeat < 3; ++repeat) plan.run_on(pool.handle(), x.data(), y.data());
  }
  const ThreadCensus after = thread_census();
  CHECK(after.threads == before.threads);
  CHECK(after.convkit_workers == before.convkit_workers);
  MESSAGE("threads of the process: ", after.threads, " (the main thread and the pool's ", pool.width() - 1, ")");
}

TEST_CASE("run_on rejects a pool without parallel_for or with a width below 1, and reports the plan's threads") {
  const convkit::Conv2dDesc d = convkit_test::square_desc(8, 8, 1, 9, 3, Layout::NCHW);
  const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
  std::vector<float> x(static_cast<std::size_t>(convkit::tensor_sizes(d).input), 1.0f);
  std::vector<float> y(static_cast<std::size_t>(convkit::tensor_sizes(d).output), -1.0f);
  convkit::Options options;
  options.threads = 1;
  const convkit::Plan plan(d, w.data(), nullptr, options);
  CHECK(plan.threads() == 1);
  CHECK(plan.description().find(" [1 thread]") != std::string::npos);
  convkit::ThreadPool pool;
  CHECK_THROWS_WITH_AS(plan.run_on(pool, x.data(), y.data()), "pool.parallel_for is null", convkit::Error);
  pool.parallel_for = pool_reverse_serial;
  pool.width = 0;
  CHECK_THROWS_WITH_AS(plan.run_on(pool, x.data(), y.data()), "pool.width = 0 must be at least 1", convkit::Error);
  CHECK(y == std::vector<float>(y.size(), -1.0f));
  options.threads = 0;
  CHECK(convkit::Plan(d, w.data(), nullptr, options).threads() == convkit::default_threads());
}
