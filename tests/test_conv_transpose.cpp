// Transposed convolution (convkit::ConvTranspose2dDesc) and the 1-D convolutions, against an oracle of their own: the
// definition in its scatter form (every input element times every tap added into a double output), written from
// convkit.hpp's formula, independently of the forward oracle and of the library. Every entry of the transposed
// implementation list is asked for by name (lib/transposed.hpp) on sweeps of every parameter around its edges, and
// auto and the one-shot call beside them; the adjoint identity <conv2d(x), y> = <x, conv_transpose2d(y)> ties the
// transposed convolution to the forward one; epilogues, threads and the caller's pool, validation, ONNX's output_shape
// and the 1-D calls follow.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "conv_tester.hpp"
#include "std_thread_pool.hpp"
#include "transposed.hpp"
#include "transposed_oracle.hpp"

using convkit::Algorithm;
using convkit::Layout;
using convkit::TransposedWeightsLayout;
using TDesc = convkit::ConvTranspose2dDesc;
using i64 = std::int64_t;

namespace {

using convkit_test::at_layout;
using convkit_test::at_nchw;
using convkit_test::Shape;
using convkit_test::t_oracle;
using convkit_test::t_output_shape;
using convkit_test::TransposedOracle;
using Oracle = TransposedOracle;

std::string describe(const TDesc& d, bool bias = false) {
  std::ostringstream s;
  s << "N=" << d.batch << " Ci=" << d.in_channels << " H=" << d.in_height << " W=" << d.in_width
    << " Co=" << d.out_channels << " K=" << d.kernel_height << "x" << d.kernel_width << " stride=" << d.stride_height
    << "," << d.stride_width << " pad(t,l,b,r)=" << d.pad_top << "," << d.pad_left << "," << d.pad_bottom << ","
    << d.pad_right << " output_padding=" << d.output_padding_height << "," << d.output_padding_width
    << " dilation=" << d.dilation_height << "," << d.dilation_width << " groups=" << d.groups
    << " layout=" << (d.layout == Layout::NCHW ? "NCHW" : "NHWC")
    << " weights=" << (d.weights_layout == TransposedWeightsLayout::IOHW ? "IOHW" : "OHWI") << " bias=" << bias;
  return s.str();
}

// ---- Running and comparing ----

constexpr std::size_t kGuard = 16;
constexpr float kGuardValue = 12345.0f;

// An output buffer: NaN (a skipped element fails) between guards (a write outside fails).
struct Output {
  std::vector<float> buffer;
  explicit Output(std::size_t count) : buffer(count + 2 * kGuard, kGuardValue) {
    std::fill(buffer.begin() + kGuard, buffer.end() - kGuard, std::nanf(""));
  }
  float* data() { return buffer.data() + kGuard; }
  const float* data() const { return buffer.data() + kGuard; }
  std::size_t size() const { return buffer.size() - 2 * kGuard; }
  std::vector<float> values() const { return std::vector<float>(data(), data() + size()); }
  bool guards_intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (buffer[i] != kGuardValue || buffer[buffer.size() - 1 - i] != kGuardValue) return false;
    return true;
  }
};

bool same_bits(const float* a, const float* b, std::size_t count) {
  return std::memcmp(a, b, count * sizeof(float)) == 0;
}

// got (in d.layout) against the oracle, through the epilogue when given (residual: in d.layout). Every element within
// 1e-4 * (|bias| + sum |products|) (plus the activation's slope and its own few ulps); and the worst error, relative
// to that scale, not several times the worst of a naive loop accumulating in float.
void compare(const TDesc& d, const Oracle& want, const float* got, const char* what,
             const convkit::Epilogue* epilogue = nullptr, const float* residual = nullptr) {
  const i64 Ho = want.shape.height, Wo = want.shape.width, Co = d.out_channels;
  i64 wrong = 0;
  double worst = 0, worst_naive = 0;
  for (i64 n = 0; n < d.batch; ++n)
    for (i64 o = 0; o < Co; ++o)
      for (i64 y = 0; y < Ho; ++y)
        for (i64 x = 0; x < Wo; ++x) {
          const std::size_t k = static_cast<std::size_t>(at_nchw(Co, Ho, Wo, n, o, y, x));
          const std::size_t at = static_cast<std::size_t>(at_layout(d.layout, Co, Ho, Wo, n, o, y, x));
          double value = want.value[k], magnitude = want.magnitude[k], expected = value, slope = 1.0;
          if (epilogue != nullptr) {
            if (epilogue->residual) {
              const double r = static_cast<double>(epilogue->residual_scale) * residual[at];
              value += r;
              magnitude += std::fabs(r);
            }
            expected = convkit_test::oracle_activation(value, *epilogue);
            slope = convkit_test::oracle_activation_slope(*epilogue);
          }
          const double error = std::fabs(got[at] - expected);
          const double tolerance = slope * 1e-4 * magnitude + 1e-6 * std::fabs(expected);
          if (!(error <= tolerance) && wrong++ < 3)
            FAIL_CHECK(what, ": output (n=", n, ", o=", o, ", y=", y, ", x=", x, ") = ", got[at], ", oracle ", expected,
                       " (tolerance ", tolerance, ")");
          if (epilogue == nullptr && magnitude > 0) {
            worst = std::max(worst, error / magnitude);
            worst_naive = std::max(worst_naive, std::fabs(want.naive[k] - value) / magnitude);
          }
        }
  CHECK_MESSAGE(wrong == 0, what, ": ", wrong, " outputs outside tolerance");
  CHECK_MESSAGE(worst <= 8 * std::max(worst_naive, 0x1p-24), what, ": worst relative error ", worst,
                " against a float loop's ", worst_naive);
}

// One problem with its random tensors and its oracle.
struct Problem {
  TDesc desc;
  bool with_bias;
  std::vector<float> in, w, b;
  Oracle oracle;
  const float* bias() const { return with_bias ? b.data() : nullptr; }
  std::size_t out_count() const { return oracle.value.size(); }

  Problem(const TDesc& d, bool has_bias, std::uint32_t seed) : desc(d), with_bias(has_bias) {
    const TDesc& t = d;
    in =
        convkit_test::random_floats(static_cast<std::size_t>(t.batch * t.in_channels * t.in_height * t.in_width), seed);
    w = convkit_test::random_floats(
        static_cast<std::size_t>(t.in_channels * (t.out_channels / t.groups) * t.kernel_height * t.kernel_width),
        seed + 1);
    b = convkit_test::random_floats(static_cast<std::size_t>(t.out_channels), seed + 2);
    oracle = t_oracle(d, in.data(), w.data(), bias());
  }
};

const std::vector<std::string>& entry_names() {
  static const std::vector<std::string> names = convkit::detail::transposed_implementation_names();
  return names;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// A plan bound to the entry, or none when the entry declines the shape (Unsupported: nothing else is acceptable).
std::optional<convkit::Plan> plan_of(const TDesc& desc, const float* w, const float* bias, const std::string& name,
                                     const convkit::Options& options, const convkit::Epilogue* epilogue = nullptr) {
  try {
    convkit::Plan plan = convkit::detail::transposed_plan_with(desc, w, bias, options, name.c_str(), epilogue);
    CHECK_MESSAGE(starts_with(plan.description(), name), "description '", plan.description(), "' for entry ", name);
    return plan;
  } catch (const convkit::Error& e) {
    CHECK_MESSAGE(e.status() == convkit::Status::Unsupported, name, " threw ", std::string(e.what()));
    CHECK_MESSAGE(name != "conv_transpose_reference", "the reference declined: ", std::string(e.what()));
    return std::nullopt;
  }
}

std::optional<convkit::Plan> plan_of(const Problem& p, const std::string& name, const convkit::Options& options,
                                     const convkit::Epilogue* epilogue = nullptr) {
  return plan_of(p.desc, p.w.data(), p.bias(), name, options, epilogue);
}

// Every entry by name (each from a plan whose caller weights are overwritten after it is made, run on a caller
// workspace of NaNs), auto's plan and the one-shot call, each against the oracle.
// How many problems each entry ran (not declined) in check_everywhere.
std::map<std::string, int>& entry_runs() {
  static std::map<std::string, int> runs;
  return runs;
}

void check_everywhere(const Problem& p, const convkit::Options& options) {
  INFO(describe(p.desc, p.with_bias), " threads=", options.threads);
  for (const std::string& name : entry_names()) {
    const std::optional<convkit::Plan> plan = plan_of(p, name, options);
    if (!plan) continue;
    ++entry_runs()[name];
    Output y(p.out_count());
    std::vector<unsigned char> workspace(plan->workspace_size(), 0xFF);
    plan->run(p.in.data(), y.data(), workspace.data(), workspace.size());
    CHECK_MESSAGE(y.guards_intact(), name, " wrote outside its output");
    compare(p.desc, p.oracle, y.data(), name.c_str());
  }
  {
    std::vector<float> w = p.w, b = p.b;
    const convkit::Plan plan(p.desc, w.data(), p.with_bias ? b.data() : nullptr, options);
    std::fill(w.begin(), w.end(), 1e6f);  // the plan holds its own copies
    std::fill(b.begin(), b.end(), -1e6f);
    CHECK(plan.algorithm() == convkit::chosen_algorithm(p.desc, options));
    CHECK(plan.algorithm() != Algorithm::Auto);
    Output y(p.out_count());
    plan.run(p.in.data(), y.data());
    CHECK(y.guards_intact());
    compare(p.desc, p.oracle, y.data(), ("auto plan: " + plan.description()).c_str());
  }
  Output y(p.out_count());
  const Algorithm used = convkit::conv_transpose2d(p.desc, p.in.data(), p.w.data(), p.bias(), y.data(), options);
  CHECK(used == convkit::chosen_algorithm(p.desc, options));
  CHECK(y.guards_intact());
  compare(p.desc, p.oracle, y.data(), "conv_transpose2d");
}

TDesc base_desc() {
  TDesc d;
  d.batch = 1;
  d.in_channels = 3;
  d.out_channels = 4;
  d.in_height = 5;
  d.in_width = 4;
  d.kernel_height = d.kernel_width = 3;
  d.stride_height = d.stride_width = 2;
  d.pad_top = 1, d.pad_left = 0, d.pad_bottom = 0, d.pad_right = 1;
  return d;
}

// Shapes whose GEMM columns outgrow one band of input rows (lib/algorithm_transposed.cpp keeps a band's columns near
// 64 Ki floats): bands of one or two rows, whose output rows each take taps from several bands, with the epilogue
// applied as rows are finished.
std::vector<TDesc> band_descs() {
  TDesc a;  // 5 x 5 stride 2: each output row from up to three bands
  a.batch = 1, a.in_channels = 4, a.out_channels = 64, a.in_height = 12, a.in_width = 40;
  a.kernel_height = a.kernel_width = 5, a.stride_height = a.stride_width = 2;
  a.pad_top = 2, a.pad_left = 1, a.pad_bottom = 3, a.pad_right = 2, a.output_padding_height = 1;
  TDesc b = a;  // stride 1 dilated: five bands per output row
  b.in_channels = 6, b.out_channels = 96, b.in_height = 10, b.in_width = 50, b.kernel_height = b.kernel_width = 3;
  b.stride_height = b.stride_width = 1, b.dilation_height = b.dilation_width = 2, b.pad_top = 3, b.pad_bottom = 0;
  b.pad_left = 4, b.pad_right = 1, b.output_padding_height = 1;
  TDesc c = a;  // stride == kernel: disjoint taps, bands of two rows, an odd last one
  c.in_channels = 5, c.out_channels = 128, c.in_height = 9, c.in_width = 64, c.kernel_height = c.kernel_width = 2;
  c.pad_top = 1, c.pad_left = 0, c.pad_bottom = 0, c.pad_right = 1, c.output_padding_height = 1;
  TDesc d = a;  // pads cropping more than a band's reach
  d.pad_top = 9, d.pad_bottom = 7, d.groups = 2, d.in_channels = 4, d.batch = 2;
  return {a, b, c, d};
}

bool output_nonempty(const TDesc& d) {
  const Shape s = t_output_shape(d);
  return s.height > 0 && s.width > 0;
}

// The sweep: every parameter varied around the base, then seeded random combinations of all of them.
std::vector<TDesc> sweep_descs() {
  std::vector<TDesc> all;
  const TDesc base = base_desc();
  const auto add = [&](const std::function<void(TDesc&)>& change) {
    TDesc d = base;
    change(d);
    if (output_nonempty(d)) all.push_back(d);
  };
  for (i64 sh = 1; sh <= 3; ++sh)
    for (i64 sw = 1; sw <= 3; ++sw) add([&](TDesc& d) { d.stride_height = sh, d.stride_width = sw; });
  for (i64 s : {4, 8}) {
    add([&](TDesc& d) { d.stride_height = d.stride_width = s, d.kernel_height = d.kernel_width = s; });
    add([&](TDesc& d) { d.stride_height = s, d.kernel_width = 5, d.output_padding_height = s - 1; });
  }
  for (i64 kh = 1; kh <= 5; ++kh)
    for (i64 kw = 1; kw <= 5; ++kw)
      if (kh == kw || kh + kw == 6) add([&](TDesc& d) { d.kernel_height = kh, d.kernel_width = kw; });
  for (i64 k = 1; k <= 5; ++k)  // stride 1: the pads may crop up to the kernel
    add([&](TDesc& d) { d.stride_height = d.stride_width = 1, d.kernel_height = d.kernel_width = k; });
  for (i64 dh = 1; dh <= 2; ++dh)
    for (i64 dw = 1; dw <= 2; ++dw) {
      add([&](TDesc& d) { d.dilation_height = dh, d.dilation_width = dw; });
      add([&](TDesc& d) { d.dilation_height = dh, d.dilation_width = dw, d.stride_height = d.stride_width = 1; });
    }
  // Pads: none, asymmetric, cropping more than a stride, cropping nearly everything.
  add([](TDesc& d) { d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 0; });
  add([](TDesc& d) { d.pad_top = 2, d.pad_left = 0, d.pad_bottom = 0, d.pad_right = 3; });
  add([](TDesc& d) { d.pad_top = 0, d.pad_left = 2, d.pad_bottom = 3, d.pad_right = 0; });
  add([](TDesc& d) { d.pad_top = 4, d.pad_left = 5, d.pad_bottom = 3, d.pad_right = 2; });
  add([](TDesc& d) { d.pad_top = 5, d.pad_left = 4, d.pad_bottom = 4, d.pad_right = 4; });  // 1 x 1 output
  add([](TDesc& d) { d.stride_height = d.stride_width = 1, d.pad_top = 2, d.pad_bottom = 2, d.pad_left = 1; });
  // output_padding: below the stride, and below the dilation at stride 1.
  add([](TDesc& d) { d.output_padding_height = 1; });
  add([](TDesc& d) { d.output_padding_width = 1, d.pad_right = 0; });
  add([](TDesc& d) { d.stride_height = d.stride_width = 3, d.output_padding_height = 2, d.output_padding_width = 1; });
  add([](TDesc& d) {
    d.stride_height = d.stride_width = 1, d.dilation_height = d.dilation_width = 2, d.output_padding_height = 1,
    d.output_padding_width = 1;
  });
  add([](TDesc& d) { d.stride_height = 1, d.dilation_height = 2, d.output_padding_height = 1, d.pad_top = 0; });
  // Groups, depthwise (with and without a channel multiplier).
  add([](TDesc& d) { d.groups = 2, d.in_channels = 4, d.out_channels = 6; });
  add([](TDesc& d) { d.groups = 3, d.in_channels = 6, d.out_channels = 3; });
  add([](TDesc& d) { d.groups = 3, d.in_channels = 9, d.out_channels = 12, d.stride_height = d.stride_width = 1; });
  for (i64 c : {1, 7, 16, 17, 33}) {
    add([&](TDesc& d) { d.groups = d.in_channels = d.out_channels = c; });
    add([&](TDesc& d) { d.groups = d.in_channels = d.out_channels = c, d.stride_height = d.stride_width = 1; });
  }
  add([](TDesc& d) { d.groups = d.in_channels = 5, d.out_channels = 10; });
  add([](TDesc& d) { d.groups = d.in_channels = 4, d.out_channels = 12, d.stride_height = d.stride_width = 1; });
  add([](TDesc& d) { d.groups = d.in_channels = 16, d.out_channels = 16, d.kernel_height = d.kernel_width = 2; });
  // Batch and channels.
  for (i64 n = 1; n <= 3; ++n) add([&](TDesc& d) { d.batch = n; });
  for (i64 ci : {1, 7, 16, 17, 33})
    for (i64 co : {1, 7, 16, 17, 33})
      if (ci == co || ci + co == 34 || ci == 1 || co == 1)
        add([&](TDesc& d) { d.in_channels = ci, d.out_channels = co; });
  add([](TDesc& d) { d.in_channels = 16, d.out_channels = 17, d.stride_height = d.stride_width = 1; });
  add([](TDesc& d) { d.in_channels = 17, d.out_channels = 16, d.kernel_height = d.kernel_width = 2; });
  // Image sizes, down to 1 x 1 inputs.
  for (const Shape s : {Shape{1, 1}, Shape{1, 5}, Shape{6, 1}, Shape{7, 3}, Shape{9, 9}}) {
    add([&](TDesc& d) { d.in_height = s.height, d.in_width = s.width; });
    add([&](TDesc& d) { d.in_height = s.height, d.in_width = s.width, d.pad_top = d.pad_left = 0, d.pad_right = 0; });
  }
  add([](TDesc& d) {
    d.in_height = d.in_width = 1, d.kernel_height = d.kernel_width = 1, d.pad_top = d.pad_right = 0;
  });
  // The fast entries' own shapes at their edges: 1x1, stride == kernel, stride 1.
  for (i64 s = 1; s <= 3; ++s) {
    add([&](TDesc& d) {
      d.kernel_height = d.kernel_width = s, d.stride_height = d.stride_width = s, d.pad_top = d.pad_right = 0;
    });
    add([&](TDesc& d) {
      d.kernel_height = d.kernel_width = 1, d.stride_height = d.stride_width = s, d.pad_top = d.pad_right = 0;
      d.in_channels = 17, d.out_channels = 16;
    });
  }
  // Larger layers, across the GEMM paths' blocks of channels and pixels.
  add([](TDesc& d) { d.in_channels = 64, d.out_channels = 48, d.in_height = d.in_width = 14; });
  add([](TDesc& d) {
    d.in_channels = 33, d.out_channels = 40, d.in_height = 13, d.in_width = 15, d.stride_height = d.stride_width = 1;
  });
  add([](TDesc& d) {
    d.in_channels = 96, d.out_channels = 24, d.in_height = d.in_width = 12, d.kernel_height = d.kernel_width = 2;
    d.pad_top = d.pad_right = 0;
  });
  add([](TDesc& d) { d.groups = d.in_channels = d.out_channels = 72, d.in_height = d.in_width = 15; });
  add([](TDesc& d) {
    d.groups = 4, d.in_channels = 64, d.out_channels = 32, d.in_height = d.in_width = 11, d.kernel_height = 4;
    d.kernel_width = 4, d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
  });
  // NCHW images of at most 16 pixels multiply in the NHWC orientation: around that edge, and DCGAN's 4 x 4 layer.
  for (const Shape s : {Shape{4, 4}, Shape{3, 5}, Shape{1, 16}, Shape{2, 8}, Shape{1, 17}, Shape{3, 6}})
    add([&](TDesc& d) {
      d.in_height = s.height, d.in_width = s.width, d.in_channels = 40, d.out_channels = 24;
      d.kernel_height = d.kernel_width = 4, d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1;
    });
  add([](TDesc& d) {
    d.in_channels = 128, d.out_channels = 64, d.in_height = d.in_width = 4, d.kernel_height = d.kernel_width = 4;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 1, d.batch = 2;
  });
  for (const TDesc& d : band_descs()) all.push_back(d);
  // Random combinations of everything.
  std::mt19937 random(convkit_test::kSeed);
  const auto pick = [&](i64 lo, i64 hi) {
    return lo + static_cast<i64>(random() % static_cast<unsigned>(hi - lo + 1));
  };
  for (int tries = 0, made = 0; made < 300 && tries < 3000; ++tries) {
    TDesc d;
    d.batch = pick(1, 3);
    d.groups = pick(0, 3) == 0 ? pick(2, 3) : 1;
    d.in_channels = d.groups * pick(1, 12);
    d.out_channels = d.groups * pick(1, 12);
    if (pick(0, 5) == 0) d.groups = d.in_channels = d.out_channels = pick(1, 20);
    if (pick(0, 9) == 0) d.out_channels = d.in_channels * pick(2, 3), d.groups = d.in_channels;  // a multiplier
    d.in_height = pick(1, 11);
    d.in_width = pick(1, 11);
    d.kernel_height = pick(1, 5);
    d.kernel_width = pick(1, 5);
    d.stride_height = pick(1, 4);
    d.stride_width = pick(1, 4);
    d.dilation_height = pick(1, 2);
    d.dilation_width = pick(1, 2);
    d.pad_top = pick(0, 4);
    d.pad_left = pick(0, 4);
    d.pad_bottom = pick(0, 4);
    d.pad_right = pick(0, 4);
    d.output_padding_height = pick(0, std::max(d.stride_height, d.dilation_height) - 1);
    d.output_padding_width = pick(0, std::max(d.stride_width, d.dilation_width) - 1);
    if (!output_nonempty(d)) continue;
    all.push_back(d);
    ++made;
  }
  return all;
}

}  // namespace

TEST_CASE("the transposed implementation list names the expected entries, the reference last") {
  const std::vector<std::string>& names = entry_names();
  REQUIRE(!names.empty());
  for (const char* name : {"conv_transpose_as_conv", "conv_transpose_direct_depthwise", "conv_transpose_gemm_disjoint",
                           "conv_transpose_gemm_col2im", "conv_transpose_reference"})
    CHECK_MESSAGE(std::find(names.begin(), names.end(), name) != names.end(), name, " is not in the list");
  CHECK(names.back() == "conv_transpose_reference");
  TDesc d = base_desc();
  const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.5f);
  try {
    convkit::detail::transposed_plan_with(d, w.data(), nullptr, convkit::Options{}, "conv_transpose_fastest");
    FAIL("an unknown entry name was accepted");
  } catch (const convkit::Error& e) {
    CHECK(e.status() == convkit::Status::InvalidArgument);
    CHECK(std::string(e.what()).find("conv_transpose_fastest") != std::string::npos);
  }
}

TEST_CASE("the oracle itself: a hand-computed transposed convolution") {
  // One channel, 2 x 2 input, 2 x 2 kernel, stride 2: each input pixel scales the kernel into its own 2 x 2 block.
  TDesc d;
  d.batch = d.in_channels = d.out_channels = 1;
  d.in_height = d.in_width = 2;
  d.kernel_height = d.kernel_width = 2;
  d.stride_height = d.stride_width = 2;
  const float in[] = {1, 2, 3, 4}, w[] = {1, 10, 100, 1000}, bias[] = {0.5f};
  const Oracle o = t_oracle(d, in, w, bias);
  REQUIRE(o.shape.height == 4);
  const double want[] = {1.5, 10.5, 2.5, 20.5, 100.5, 1000.5, 200.5, 2000.5,
                         3.5, 30.5, 4.5, 40.5, 300.5, 3000.5, 400.5, 4000.5};
  for (int k = 0; k < 16; ++k) CHECK(o.value[static_cast<std::size_t>(k)] == want[k]);
  // Stride 1, 3-tap row, pads cropping one at each side: the "same" output, a full correlation's middle.
  TDesc e;
  e.batch = e.in_channels = e.out_channels = 1;
  e.in_height = 1, e.in_width = 3, e.kernel_height = 1, e.kernel_width = 3, e.pad_left = e.pad_right = 1;
  const float x[] = {1, 2, 3}, k3[] = {1, 10, 100};
  const Oracle p = t_oracle(e, x, k3, nullptr);
  REQUIRE(p.shape.width == 3);
  // out[x'] = sum in[ix] * w[j] with x' = ix - 1 + j: out[0] = in0*w1 + in1*w0, ...
  CHECK(p.value[0] == 12);
  CHECK(p.value[1] == 100 + 20 + 3);
  CHECK(p.value[2] == 200 + 30);
}

TEST_CASE("every entry, auto and the one-shot call match the oracle over sweeps of every parameter") {
  const std::vector<TDesc> descs = sweep_descs();
  MESSAGE(descs.size(), " shapes x 2 layouts x 2 weights layouts x (", entry_names().size(), " entries + 2)");
  std::uint32_t seed = convkit_test::kSeed;
  int index = 0;
  for (const TDesc& base : descs) {
    ++index;
    int combo = 0;
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (TransposedWeightsLayout weights : {TransposedWeightsLayout::IOHW, TransposedWeightsLayout::OHWI}) {
        TDesc d = base;
        d.layout = layout;
        d.weights_layout = weights;
        const Problem p(d, (combo++ + index) % 2 == 0, seed += 7);
        convkit::Options options;
        options.threads = 1 + index % 2;
        check_everywhere(p, options);
      }
  }
  // Every entry met shapes it takes.
  for (const std::string& name : entry_names()) {
    MESSAGE(name, " ran ", entry_runs()[name], " problems");
    CHECK(entry_runs()[name] > 0);
  }
}

TEST_CASE("adjoint: <conv2d(x), y> equals <x, conv_transpose2d(y)> for every entry, both layouts") {
  std::vector<TDesc> descs;
  for (TDesc d : sweep_descs()) {
    // The forward convolution's output is the transposed one's input when output_padding < stride.
    if (d.output_padding_height >= d.stride_height || d.output_padding_width >= d.stride_width) continue;
    descs.push_back(d);
  }
  std::uint32_t seed = convkit_test::kSeed + 1000;
  for (const TDesc& base : descs)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      TDesc t = base;
      t.layout = layout;
      t.weights_layout = TransposedWeightsLayout::IOHW;
      const Shape out = t_output_shape(t);
      convkit::Conv2dDesc f;
      f.batch = t.batch;
      f.in_channels = t.out_channels;
      f.out_channels = t.in_channels;
      f.in_height = out.height;
      f.in_width = out.width;
      f.kernel_height = t.kernel_height, f.kernel_width = t.kernel_width;
      f.stride_height = t.stride_height, f.stride_width = t.stride_width;
      f.pad_top = t.pad_top, f.pad_left = t.pad_left, f.pad_bottom = t.pad_bottom, f.pad_right = t.pad_right;
      f.dilation_height = t.dilation_height, f.dilation_width = t.dilation_width;
      f.groups = t.groups;
      f.layout = layout;
      f.weights_layout = convkit::WeightsLayout::OIHW;
      INFO(describe(t));
      const convkit::OutputSize fo = convkit::output_size(f);
      REQUIRE(fo.height == t.in_height);
      REQUIRE(fo.width == t.in_width);
      const std::size_t x_count = static_cast<std::size_t>(t.batch * t.out_channels * out.height * out.width);
      const std::size_t y_count = static_cast<std::size_t>(t.batch * t.in_channels * t.in_height * t.in_width);
      const auto x = convkit_test::random_floats(x_count, seed += 3);
      const auto y = convkit_test::random_floats(y_count, seed + 1);
      const auto w = convkit_test::random_floats(
          static_cast<std::size_t>(t.in_channels * (t.out_channels / t.groups) * t.kernel_height * t.kernel_width),
          seed + 2);
      std::vector<float> fx(y_count);
      convkit::Options reference;
      reference.algorithm = Algorithm::Reference;
      convkit::conv2d(f, x.data(), w.data(), nullptr, fx.data(), reference);
      double lhs = 0;
      for (std::size_t k = 0; k < y_count; ++k) lhs += static_cast<double>(fx[k]) * y[k];
      // The scale: every product |x| |w| |y| of either side, from the oracle on absolute values.
      std::vector<float> abs_y(y), abs_w(w);
      for (float& v : abs_y) v = std::fabs(v);
      for (float& v : abs_w) v = std::fabs(v);
      const Oracle abs_t = t_oracle(t, abs_y.data(), abs_w.data(), nullptr);
      double scale = 0;
      for (i64 n = 0; n < t.batch; ++n)
        for (i64 o = 0; o < t.out_channels; ++o)
          for (i64 yy = 0; yy < out.height; ++yy)
            for (i64 xx = 0; xx < out.width; ++xx)
              scale +=
                  abs_t.value[static_cast<std::size_t>(at_nchw(t.out_channels, out.height, out.width, n, o, yy, xx))] *
                  std::fabs(x[static_cast<std::size_t>(
                      at_layout(layout, t.out_channels, out.height, out.width, n, o, yy, xx))]);
      const auto check_side = [&](const float* ty, const std::string& what) {
        double rhs = 0;
        for (std::size_t k = 0; k < x_count; ++k) rhs += static_cast<double>(x[k]) * ty[k];
        CHECK_MESSAGE(std::fabs(lhs - rhs) <= 1e-4 * scale + 1e-30, what, ": <conv2d(x), y> = ", lhs,
                      ", <x, conv_transpose2d(y)> = ", rhs, " (scale ", scale, ")");
      };
      convkit::Options options;
      options.threads = 1;
      for (const std::string& name : entry_names()) {
        const std::optional<convkit::Plan> plan = plan_of(t, w.data(), nullptr, name, options);
        if (!plan) continue;
        Output ty(x_count);
        plan->run(y.data(), ty.data());
        check_side(ty.data(), name);
      }
      Output ty(x_count);
      convkit::conv_transpose2d(t, y.data(), w.data(), nullptr, ty.data());
      check_side(ty.data(), "auto");
    }
}

TEST_CASE("epilogues: every activation and the residual, apart and in place, through every entry") {
  const convkit::Activation activations[] = {
      convkit::Activation::None,        convkit::Activation::Relu,      convkit::Activation::Clamp,
      convkit::Activation::LeakyRelu,   convkit::Activation::Sigmoid,   convkit::Activation::Tanh,
      convkit::Activation::HardSigmoid, convkit::Activation::HardSwish, convkit::Activation::Silu,
      convkit::Activation::GeluErf,     convkit::Activation::GeluTanh};
  std::vector<TDesc> shapes;
  {
    TDesc d = base_desc();  // stride 2, 3x3, asymmetric pads
    d.batch = 2, d.groups = 2, d.in_channels = 4, d.out_channels = 6, d.output_padding_width = 1;
    shapes.push_back(d);
    TDesc s = base_desc();  // stride 1
    s.stride_height = s.stride_width = 1, s.in_channels = 7, s.out_channels = 5;
    shapes.push_back(s);
    TDesc dw = base_desc();  // depthwise
    dw.groups = dw.in_channels = dw.out_channels = 8;
    shapes.push_back(dw);
    TDesc k2 = base_desc();  // stride == kernel
    k2.kernel_height = k2.kernel_width = 2, k2.pad_top = k2.pad_right = 0, k2.in_channels = 5, k2.out_channels = 9;
    shapes.push_back(k2);
  }
  const std::size_t small_shapes = shapes.size();
  for (const TDesc& band : band_descs()) shapes.push_back(band);
  std::uint32_t seed = convkit_test::kSeed + 2000;
  for (std::size_t shape = 0; shape < shapes.size(); ++shape)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      TDesc d = shapes[shape];
      d.layout = layout;
      d.weights_layout = layout == Layout::NCHW ? TransposedWeightsLayout::IOHW : TransposedWeightsLayout::OHWI;
      const Problem p(d, true, seed += 5);
      const auto r = convkit_test::random_floats(p.out_count(), seed + 3, -2.0f, 2.0f);
      INFO(describe(d, true));
      for (convkit::Activation activation : activations)
        for (int residual = 0; residual < 3; ++residual) {  // none, apart, in place
          // The band shapes are large: there, the activations of each kind (none, piecewise linear, transcendental).
          const bool band = shape >= small_shapes;
          if (band && activation != convkit::Activation::None && activation != convkit::Activation::Relu &&
              activation != convkit::Activation::Silu)
            continue;
          CAPTURE(static_cast<int>(activation));
          CAPTURE(residual);
          convkit::Epilogue e;
          e.activation = activation;
          e.clamp_min = -0.3f;
          e.clamp_max = 0.4f;
          e.leaky_relu_alpha = 0.2f;
          e.residual = residual != 0;
          e.residual_scale = residual == 1 ? -0.5f : 1.75f;
          const auto run_plan = [&](const convkit::Plan& plan, const std::string& what) {
            Output y(p.out_count());
            if (residual == 2) std::copy(r.begin(), r.end(), y.data());
            if (residual == 0) {
              plan.run(p.in.data(), y.data());
            } else {
              plan.run_residual(p.in.data(), residual == 2 ? y.data() : r.data(), y.data());
            }
            CHECK(y.guards_intact());
            compare(d, p.oracle, y.data(), what.c_str(), &e, r.data());
          };
          for (const std::string& name : entry_names()) {
            const std::optional<convkit::Plan> plan = plan_of(p, name, convkit::Options{}, &e);
            if (plan) run_plan(*plan, name);
          }
          run_plan(convkit::Plan(p.desc, p.w.data(), p.bias(), convkit::Options{}, e), "auto plan");
          Output y(p.out_count());
          if (residual == 2) std::copy(r.begin(), r.end(), y.data());
          const float* res = residual == 0 ? nullptr : residual == 2 ? y.data() : r.data();
          convkit::conv_transpose2d(d, p.in.data(), p.w.data(), p.bias(), res, y.data(), convkit::Options{}, e);
          compare(d, p.oracle, y.data(), "conv_transpose2d with epilogue", &e, r.data());
        }
      // Options' own activations (Relu, Clamp) without an epilogue.
      convkit::Options relu;
      relu.activation = convkit::Activation::Relu;
      convkit::Epilogue as_relu;
      as_relu.activation = convkit::Activation::Relu;
      Output y(p.out_count());
      convkit::conv_transpose2d(d, p.in.data(), p.w.data(), p.bias(), y.data(), relu);
      compare(d, p.oracle, y.data(), "options.activation relu", &as_relu);
    }
}

TEST_CASE("threads 1, 2, 3 and a caller's pool of width 2 and 3 give the bits of one thread, for every entry") {
  std::vector<TDesc> shapes;
  {
    TDesc a = base_desc();
    a.batch = 2, a.in_channels = 16, a.out_channels = 17, a.in_height = a.in_width = 9, a.output_padding_height = 1;
    shapes.push_back(a);
    TDesc s = a;
    s.stride_height = s.stride_width = 1, s.batch = 3, s.in_channels = 8, s.output_padding_height = 0;
    shapes.push_back(s);
    TDesc dw = a;
    dw.groups = dw.in_channels = dw.out_channels = 32, dw.kernel_height = dw.kernel_width = 4;
    shapes.push_back(dw);
    TDesc k2 = a;
    k2.kernel_height = k2.kernel_width = 2, k2.pad_top = k2.pad_right = 0, k2.output_padding_height = 0;
    shapes.push_back(k2);
    TDesc g = a;
    g.groups = 3, g.in_channels = 9, g.out_channels = 12, g.dilation_height = 2;
    shapes.push_back(g);
    for (const TDesc& band : band_descs()) shapes.push_back(band);
  }
  convkit_examples::StdThreadPool pool2(2), pool3(3);
  std::uint32_t seed = convkit_test::kSeed + 3000;
  for (TDesc d : shapes)
    for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
      d.layout = layout;
      const Problem p(d, true, seed += 5);
      INFO(describe(d, true));
      {
        // An epilogue with a residual (apart and in place), on the caller's pools: the bits of one thread.
        convkit::Epilogue e;
        e.activation = convkit::Activation::Silu;
        e.residual = true;
        e.residual_scale = 0.5f;
        const auto r = convkit_test::random_floats(p.out_count(), seed + 7);
        convkit::Options one_thread, three;
        one_thread.threads = 1;
        three.threads = 3;
        const convkit::Plan serial(p.desc, p.w.data(), p.bias(), one_thread, e);
        const convkit::Plan wide(p.desc, p.w.data(), p.bias(), three, e);
        Output want(p.out_count());
        serial.run_residual(p.in.data(), r.data(), want.data());
        compare(d, p.oracle, want.data(), "residual, one thread", &e, r.data());
        for (convkit_examples::StdThreadPool* pool : {&pool2, &pool3}) {
          Output apart(p.out_count()), in_place(p.out_count());
          wide.run_residual_on(pool->handle(), p.in.data(), r.data(), apart.data());
          std::copy(r.begin(), r.end(), in_place.data());
          wide.run_residual_on(pool->handle(), p.in.data(), in_place.data(), in_place.data());
          CHECK_MESSAGE(same_bits(apart.data(), want.data(), p.out_count()), "residual on a pool of width ",
                        pool->width());
          CHECK_MESSAGE(same_bits(in_place.data(), want.data(), p.out_count()), "residual in place on a pool of width ",
                        pool->width());
        }
      }
      std::vector<std::string> names = entry_names();
      names.push_back("");  // auto
      for (const std::string& name : names) {
        CAPTURE(name);
        const auto make = [&](int threads) -> std::optional<convkit::Plan> {
          convkit::Options options;
          options.threads = threads;
          if (name.empty()) return convkit::Plan(p.desc, p.w.data(), p.bias(), options);
          return plan_of(p, name, options);
        };
        const std::optional<convkit::Plan> one = make(1);
        if (!one) continue;
        Output want(p.out_count());
        one->run(p.in.data(), want.data());
        compare(d, p.oracle, want.data(), name.empty() ? "auto" : name.c_str());
        for (int threads : {2, 3}) {
          const std::optional<convkit::Plan> made = make(threads);
          REQUIRE(made.has_value());
          const convkit::Plan& plan = *made;
          Output y(p.out_count());
          plan.run(p.in.data(), y.data());
          CHECK_MESSAGE(same_bits(y.data(), want.data(), p.out_count()), threads, " threads");
          // The caller's workspace and none give the same bits.
          std::vector<unsigned char> workspace(plan.workspace_size() + 64, 0xFF);
          Output z(p.out_count());
          plan.run(p.in.data(), z.data(), workspace.data() + 3, plan.workspace_size());
          CHECK_MESSAGE(same_bits(z.data(), want.data(), p.out_count()), threads, " threads, caller workspace");
          for (convkit_examples::StdThreadPool* pool : {&pool2, &pool3}) {
            Output q(p.out_count());
            plan.run_on(pool->handle(), p.in.data(), q.data());
            CHECK_MESSAGE(same_bits(q.data(), want.data(), p.out_count()), threads, " threads on a pool of width ",
                          pool->width());
            Output qw(p.out_count());
            plan.run_on(pool->handle(), p.in.data(), qw.data(), workspace.data(), plan.workspace_size());
            CHECK_MESSAGE(same_bits(qw.data(), want.data(), p.out_count()), threads, " threads on a pool of width ",
                          pool->width(), " with the caller's workspace");
          }
        }
      }
    }
}

namespace {

// The call throws Error(status) whose message contains every one of `words`.
void expect_error(const std::function<void()>& call, const std::vector<std::string>& words, const std::string& what,
                  convkit::Status status = convkit::Status::InvalidArgument) {
  try {
    call();
    FAIL_CHECK(what, ": no error");
  } catch (const convkit::Error& e) {
    CHECK_MESSAGE(e.status() == status, what, ": status ", static_cast<int>(e.status()), ": ", std::string(e.what()));
    for (const std::string& word : words)
      CHECK_MESSAGE(std::string(e.what()).find(word) != std::string::npos, what, ": the message '",
                    std::string(e.what()), "' does not name ", word);
  }
}

}  // namespace

TEST_CASE("validation: every bad field is an invalid argument naming the field, and nothing is written") {
  TDesc valid = base_desc();
  valid.batch = 2, valid.in_channels = 6, valid.out_channels = 6;
  std::vector<float> in(4096, 0.5f), w(4096, 0.25f), b(64, 0.125f), out(8192, 7.0f);
  struct Bad {
    std::string name;
    std::function<void(TDesc&)> change;
    std::vector<std::string> words;
  };
  std::vector<Bad> bad;
  const auto field = [&](const char* name, i64 TDesc::*member, i64 value) {
    bad.push_back({std::string(name) + " = " + std::to_string(value), [=](TDesc& d) { d.*member = value; }, {name}});
  };
  for (i64 v : {i64{0}, i64{-3}}) {
    field("batch", &TDesc::batch, v);
    field("in_channels", &TDesc::in_channels, v);
    field("in_height", &TDesc::in_height, v);
    field("in_width", &TDesc::in_width, v);
    field("out_channels", &TDesc::out_channels, v);
    field("kernel_height", &TDesc::kernel_height, v);
    field("kernel_width", &TDesc::kernel_width, v);
    field("stride_height", &TDesc::stride_height, v);
    field("stride_width", &TDesc::stride_width, v);
    field("dilation_height", &TDesc::dilation_height, v);
    field("dilation_width", &TDesc::dilation_width, v);
    field("groups", &TDesc::groups, v);
  }
  field("pad_top", &TDesc::pad_top, -1);
  field("pad_left", &TDesc::pad_left, -1);
  field("pad_bottom", &TDesc::pad_bottom, -1);
  field("pad_right", &TDesc::pad_right, -1);
  field("output_padding_height", &TDesc::output_padding_height, -1);
  field("output_padding_width", &TDesc::output_padding_width, -1);
  field("output_padding_height", &TDesc::output_padding_height, 2);  // stride 2, dilation 1
  field("output_padding_width", &TDesc::output_padding_width, 5);
  bad.push_back({"output_padding_height = dilation at stride 1",
                 [](TDesc& d) { d.stride_height = 1, d.dilation_height = 2, d.output_padding_height = 2; },
                 {"output_padding_height"}});
  bad.push_back({"groups not dividing in_channels",
                 [](TDesc& d) { d.groups = 4, d.out_channels = 8; },
                 {"groups", "in_channels"}});
  bad.push_back({"groups not dividing out_channels",
                 [](TDesc& d) { d.groups = 3, d.out_channels = 4; },
                 {"groups", "out_channels"}});
  // Output height 2 * 4 + 3 - pads: cropped to nothing, and below nothing.
  bad.push_back({"output height 0", [](TDesc& d) { d.pad_top = 6, d.pad_bottom = 5; }, {"pad_"}});
  bad.push_back({"output width < 0", [](TDesc& d) { d.pad_left = 9, d.pad_right = 9; }, {"pad_"}});
  for (int v : {2, -1, 1000}) {
    bad.push_back({"layout " + std::to_string(v), [=](TDesc& d) { d.layout = static_cast<Layout>(v); }, {"layout"}});
    bad.push_back({"weights_layout " + std::to_string(v),
                   [=](TDesc& d) { d.weights_layout = static_cast<TransposedWeightsLayout>(v); },
                   {"weights_layout"}});
  }
  const std::vector<float> before = out;
  for (const Bad& c : bad) {
    TDesc d = valid;
    c.change(d);
    const std::string what = c.name + " (" + describe(d) + ")";
    expect_error([&] { convkit::output_size(d); }, c.words, "output_size: " + what);
    expect_error([&] { convkit::tensor_sizes(d); }, c.words, "tensor_sizes: " + what);
    expect_error([&] { convkit::chosen_algorithm(d); }, c.words, "chosen_algorithm: " + what);
    expect_error([&] { convkit::conv_transpose2d(d, in.data(), w.data(), b.data(), out.data()); }, c.words,
                 "conv_transpose2d: " + what);
    expect_error([&] { convkit::Plan plan(d, w.data(), b.data()); }, c.words, "Plan: " + what);
  }
  CHECK(out == before);

  // Options and epilogues.
  const auto with_options = [&](const std::function<void(convkit::Options&)>& change, const std::string& word) {
    convkit::Options o;
    change(o);
    expect_error([&] { convkit::conv_transpose2d(valid, in.data(), w.data(), b.data(), out.data(), o); }, {word},
                 "options: " + word);
    expect_error([&] { convkit::Plan plan(valid, w.data(), b.data(), o); }, {word}, "plan options: " + word);
  };
  with_options([](convkit::Options& o) { o.algorithm = static_cast<Algorithm>(42); }, "algorithm");
  with_options([](convkit::Options& o) { o.threads = -1; }, "threads");
  with_options([](convkit::Options& o) { o.activation = static_cast<convkit::Activation>(99); }, "activation");
  with_options([](convkit::Options& o) { o.math_mode = static_cast<convkit::MathMode>(7); }, "math_mode");
  with_options(
      [](convkit::Options& o) { o.activation = convkit::Activation::Clamp, o.clamp_min = 1.0f, o.clamp_max = -1.0f; },
      "clamp_min");
  {
    convkit::Options o;
    o.activation = convkit::Activation::Relu;
    convkit::Epilogue e;
    e.activation = convkit::Activation::Silu;
    expect_error([&] { convkit::Plan plan(valid, w.data(), b.data(), o, e); }, {"options.activation"},
                 "activation in both");
    e.activation = static_cast<convkit::Activation>(42);
    expect_error([&] { convkit::Plan plan(valid, w.data(), b.data(), convkit::Options{}, e); }, {"epilogue.activation"},
                 "epilogue activation 42");
    e.activation = convkit::Activation::None;
    e.residual = true;
    e.residual_scale = std::nanf("");
    expect_error([&] { convkit::Plan plan(valid, w.data(), b.data(), convkit::Options{}, e); },
                 {"epilogue.residual_scale"}, "residual_scale NaN");
    e.residual_scale = 1.0f;
    expect_error(
        [&] {
          convkit::conv_transpose2d(valid, in.data(), w.data(), b.data(), nullptr, out.data(), convkit::Options{}, e);
        },
        {"residual"}, "null residual");
    const convkit::Plan with_residual(valid, w.data(), b.data(), convkit::Options{}, e);
    expect_error([&] { with_residual.run(in.data(), out.data()); }, {"run_residual"}, "plan with residual: run");
  }

  // Buffers: null, overlapping.
  expect_error([&] { convkit::conv_transpose2d(valid, nullptr, w.data(), b.data(), out.data()); }, {"input"},
               "null input");
  expect_error([&] { convkit::conv_transpose2d(valid, in.data(), nullptr, b.data(), out.data()); }, {"weights"},
               "null weights");
  expect_error([&] { convkit::conv_transpose2d(valid, in.data(), w.data(), b.data(), nullptr); }, {"output"},
               "null output");
  expect_error([&] { convkit::Plan plan(valid, nullptr, b.data()); }, {"weights"}, "plan: null weights");
  expect_error([&] { convkit::conv_transpose2d(valid, out.data() + 5, w.data(), b.data(), out.data()); },
               {"output overlaps input"}, "output over input");
  expect_error([&] { convkit::conv_transpose2d(valid, in.data(), out.data() + 1, b.data(), out.data()); },
               {"output overlaps weights"}, "output over weights");
  expect_error([&] { convkit::conv_transpose2d(valid, in.data(), w.data(), out.data() + 2, out.data()); },
               {"output overlaps bias"}, "output over bias");
  {
    convkit::Epilogue e;
    e.residual = true;
    expect_error(
        [&] {
          convkit::conv_transpose2d(valid, in.data(), w.data(), b.data(), in.data(), out.data(), convkit::Options{}, e);
        },
        {"residual overlaps input"}, "residual over input");
    expect_error(
        [&] {
          convkit::conv_transpose2d(valid, in.data(), w.data(), b.data(), out.data() + 1, out.data(),
                                    convkit::Options{}, e);
        },
        {"residual overlaps output"}, "residual partly over output");
  }
  const convkit::Plan plan(valid, w.data(), b.data());
  expect_error([&] { plan.run(nullptr, out.data()); }, {"input"}, "plan: null input");
  expect_error([&] { plan.run(in.data(), nullptr); }, {"output"}, "plan: null output");
  expect_error([&] { plan.run(out.data() + 3, out.data()); }, {"output overlaps input"}, "plan: output over input");
  if (plan.workspace_size() > 0) {
    std::vector<unsigned char> small(plan.workspace_size() - 1);
    expect_error([&] { plan.run(in.data(), out.data(), small.data(), small.size()); }, {"workspace"},
                 "plan: small workspace");
    expect_error([&] { plan.run(in.data(), out.data(), out.data() + 4, plan.workspace_size()); },
                 {"workspace overlaps output"}, "plan: workspace over output");
  }
  convkit::ThreadPool no_pool;
  expect_error([&] { plan.run_on(no_pool, in.data(), out.data()); }, {"parallel_for"}, "plan: null parallel_for");
}

TEST_CASE("set_output_shape follows ONNX's output_shape, and leaves the desc unchanged when it fails") {
  std::mt19937 random(convkit_test::kSeed + 4000);
  const auto pick = [&](i64 lo, i64 hi) {
    return lo + static_cast<i64>(random() % static_cast<unsigned>(hi - lo + 1));
  };
  int negative_totals = 0, impossible = 0, set = 0;
  for (int trial = 0; trial < 600; ++trial) {
    TDesc d = base_desc();
    d.in_height = pick(1, 9), d.in_width = pick(1, 9);
    d.kernel_height = pick(1, 5), d.kernel_width = pick(1, 5);
    d.stride_height = pick(1, 4), d.stride_width = pick(1, 4);
    d.dilation_height = pick(1, 2), d.dilation_width = pick(1, 2);
    d.pad_top = pick(0, 2), d.pad_left = pick(0, 2), d.pad_bottom = pick(0, 2), d.pad_right = pick(0, 2);
    d.output_padding_height = pick(0, std::max(d.stride_height, d.dilation_height) - 1);
    d.output_padding_width = pick(0, std::max(d.stride_width, d.dilation_width) - 1);
    if (!output_nonempty(d)) d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 0;  // a valid desc to start from
    const convkit::SamePadding mode = trial % 2 ? convkit::SamePadding::Upper : convkit::SamePadding::Lower;
    const i64 full_h =
        d.stride_height * (d.in_height - 1) + d.output_padding_height + d.dilation_height * (d.kernel_height - 1) + 1;
    const i64 full_w =
        d.stride_width * (d.in_width - 1) + d.output_padding_width + d.dilation_width * (d.kernel_width - 1) + 1;
    const i64 want_h = pick(std::max<i64>(-1, full_h - 6), full_h + 3);
    const i64 want_w = pick(std::max<i64>(-1, full_w - 6), full_w + 3);
    INFO(describe(d), " mode=", static_cast<int>(mode), " target ", want_h, " x ", want_w);
    // The ONNX rule per dimension: {pad_begin, pad_end, output_padding}, or ok = false.
    struct Dim {
      bool ok;
      i64 begin, end, output_padding;
    };
    const auto rule = [&](i64 full, i64 stride, i64 dilation, i64 output_padding, i64 target) -> Dim {
      if (target <= 0) return {false, 0, 0, 0};
      const i64 total = full - target;
      if (total >= 0) {
        const i64 small = total / 2, large = total - small;
        return mode == convkit::SamePadding::Upper ? Dim{true, small, large, output_padding}
                                                   : Dim{true, large, small, output_padding};
      }
      const i64 op = output_padding - total;
      if (op < stride || op < dilation) return {true, 0, 0, op};
      return {false, 0, 0, 0};
    };
    const Dim h = rule(full_h, d.stride_height, d.dilation_height, d.output_padding_height, want_h);
    const Dim w = rule(full_w, d.stride_width, d.dilation_width, d.output_padding_width, want_w);
    TDesc t = d;
    if (h.ok && w.ok) {
      convkit::set_output_shape(t, want_h, want_w, mode);
      ++set;
      if (h.output_padding != d.output_padding_height || w.output_padding != d.output_padding_width) ++negative_totals;
      CHECK(t.pad_top == h.begin);
      CHECK(t.pad_bottom == h.end);
      CHECK(t.pad_left == w.begin);
      CHECK(t.pad_right == w.end);
      CHECK(t.output_padding_height == h.output_padding);
      CHECK(t.output_padding_width == w.output_padding);
      const convkit::OutputSize o = convkit::output_size(t);
      CHECK(o.height == want_h);
      CHECK(o.width == want_w);
      // Nothing else changed.
      TDesc u = t;
      u.pad_top = d.pad_top, u.pad_bottom = d.pad_bottom, u.pad_left = d.pad_left, u.pad_right = d.pad_right;
      u.output_padding_height = d.output_padding_height, u.output_padding_width = d.output_padding_width;
      CHECK(std::memcmp(&u, &d, sizeof u) == 0);
    } else {
      ++impossible;
      expect_error([&] { convkit::set_output_shape(t, want_h, want_w, mode); }, {h.ok ? "out_width" : "out_height"},
                   "impossible output shape");
      CHECK(std::memcmp(&t, &d, sizeof t) == 0);
    }
  }
  MESSAGE(set, " shapes set (", negative_totals, " through output_padding), ", impossible, " refused");
  CHECK(negative_totals > 0);
  CHECK(impossible > 0);
  // An invalid desc is refused too, unchanged.
  TDesc d = base_desc();
  d.stride_height = 0;
  const TDesc before = d;
  expect_error([&] { convkit::set_output_shape(d, 5, 5); }, {"stride_height"}, "set_output_shape of an invalid desc");
  CHECK(std::memcmp(&d, &before, sizeof d) == 0);
  // The pads it replaces are not checked: pads that would crop the whole output (as ONNX ignores pads when
  // output_shape is given).
  TDesc cropped = base_desc();
  cropped.in_height = 1;
  cropped.kernel_height = 1;
  cropped.stride_height = 2;
  cropped.pad_top = 2;
  cropped.pad_bottom = 2;
  cropped.output_padding_height = 0;
  CHECK_THROWS_AS(convkit::output_size(cropped), convkit::Error);
  convkit::set_output_shape(cropped, 1, convkit::output_size(base_desc()).width);
  CHECK(convkit::output_size(cropped).height == 1);
  CHECK(cropped.pad_top + cropped.pad_bottom == 0);
}

TEST_CASE("the fast entries are chosen on their shapes, and Algorithm::Reference gives the reference entry") {
  const auto chosen = [](TDesc d, const convkit::Options& options = convkit::Options{}) {
    const std::vector<float> w(static_cast<std::size_t>(convkit::tensor_sizes(d).weights), 0.25f);
    const convkit::Plan plan(d, w.data(), nullptr, options);
    CHECK(plan.algorithm() == convkit::chosen_algorithm(d, options));
    return plan.description();
  };
  TDesc k2 = base_desc();  // stride 2 kernel 2, NHWC: taps disjoint
  k2.in_channels = 32, k2.out_channels = 16, k2.in_height = k2.in_width = 8, k2.layout = Layout::NHWC;
  k2.kernel_height = k2.kernel_width = 2, k2.pad_top = k2.pad_right = 0;
  CHECK(starts_with(chosen(k2), "conv_transpose_gemm_disjoint"));
  TDesc one = k2;  // 1x1 stride 2
  one.kernel_height = one.kernel_width = 1;
  CHECK(starts_with(chosen(one), "conv_transpose_gemm_disjoint"));
  TDesc one_s1 = one;  // 1x1 stride 1: the forward 1x1 or the disjoint product, both fast
  one_s1.stride_height = one_s1.stride_width = 1;
  const std::string d11 = chosen(one_s1);
  const bool fast = starts_with(d11, "conv_transpose_as_conv") || starts_with(d11, "conv_transpose_gemm_disjoint");
  CHECK_MESSAGE(fast, d11);
  TDesc depthwise = base_desc();
  depthwise.groups = depthwise.in_channels = depthwise.out_channels = 32, depthwise.in_height = depthwise.in_width = 8;
  depthwise.kernel_height = depthwise.kernel_width = 4;
  for (Layout layout : {Layout::NCHW, Layout::NHWC}) {
    depthwise.layout = layout;
    CHECK(starts_with(chosen(depthwise), "conv_transpose_direct_depthwise"));
  }
  TDesc s1 = base_desc();
  s1.stride_height = s1.stride_width = 1, s1.in_channels = s1.out_channels = 16, s1.in_height = s1.in_width = 8;
  CHECK(starts_with(chosen(s1), "conv_transpose_as_conv"));
  convkit::Options reference;
  reference.algorithm = Algorithm::Reference;
  for (const TDesc& d : {k2, depthwise, s1}) {
    CHECK(starts_with(chosen(d, reference), "conv_transpose_reference"));
    CHECK(convkit::chosen_algorithm(d, reference) == Algorithm::Reference);
  }
}

// ---- 1-D ----

namespace {

convkit::Conv1dDesc conv1d_base() {
  convkit::Conv1dDesc d;
  d.batch = 2, d.in_channels = 3, d.in_length = 11, d.out_channels = 5, d.kernel_size = 3;
  d.stride = 2, d.pad_begin = 1, d.pad_end = 0;
  return d;
}

convkit::ConvTranspose1dDesc transpose1d_base() {
  convkit::ConvTranspose1dDesc d;
  d.batch = 2, d.in_channels = 4, d.in_length = 9, d.out_channels = 6, d.kernel_size = 4;
  d.stride = 2, d.pad_begin = 1, d.pad_end = 2, d.output_padding = 1;
  return d;
}

}  // namespace

TEST_CASE("1-D: as_2d, output_length, and conv1d and conv_transpose1d equal the 2-D calls bit for bit and the oracle") {
  std::vector<convkit::Conv1dDesc> forward;
  std::vector<convkit::ConvTranspose1dDesc> transposed;
  for (i64 k : {1, 3, 5, 16})
    for (i64 s : {1, 2, 4}) {
      convkit::Conv1dDesc f = conv1d_base();
      f.kernel_size = k, f.stride = s, f.in_length = 20, f.dilation = k == 3 ? 2 : 1;
      forward.push_back(f);
      convkit::ConvTranspose1dDesc t = transpose1d_base();
      t.kernel_size = k, t.stride = s, t.output_padding = s > 1 ? s - 1 : 0;
      t.pad_begin = std::min<i64>(t.pad_begin, k - 1);
      transposed.push_back(t);
    }
  {
    convkit::ConvTranspose1dDesc t = transpose1d_base();  // audio upsampling: kernel 16, stride 8, pads 4
    t.kernel_size = 16, t.stride = 8, t.pad_begin = t.pad_end = 4, t.output_padding = 0, t.in_channels = 17;
    t.out_channels = 16;
    transposed.push_back(t);
    t.groups = t.in_channels = t.out_channels = 16, t.dilation = 2, t.output_padding = 1;
    transposed.push_back(t);
    convkit::Conv1dDesc f = conv1d_base();
    f.groups = f.in_channels = f.out_channels = 7, f.kernel_size = 16, f.pad_begin = f.pad_end = 7, f.stride = 1;
    forward.push_back(f);
  }
  std::uint32_t seed = convkit_test::kSeed + 5000;
  for (convkit::Conv1dDesc f : forward)
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (convkit::WeightsLayout wl : {convkit::WeightsLayout::OIHW, convkit::WeightsLayout::OHWI}) {
        f.layout = layout, f.weights_layout = wl;
        const convkit::Conv2dDesc d2 = convkit::as_2d(f);
        CHECK(d2.in_height == 1);
        CHECK(d2.kernel_height == 1);
        CHECK(d2.in_width == f.in_length);
        CHECK(d2.kernel_width == f.kernel_size);
        CHECK(d2.stride_width == f.stride);
        CHECK(d2.pad_left == f.pad_begin);
        CHECK(d2.pad_right == f.pad_end);
        CHECK(d2.dilation_width == f.dilation);
        CHECK(d2.groups == f.groups);
        const i64 length =
            (f.in_length + f.pad_begin + f.pad_end - f.dilation * (f.kernel_size - 1) - 1) / f.stride + 1;
        CHECK(convkit::output_length(f) == length);
        CAPTURE(f.kernel_size);
        CAPTURE(f.stride);
        const auto x =
            convkit_test::random_floats(static_cast<std::size_t>(f.batch * f.in_channels * f.in_length), seed += 3);
        const auto w = convkit_test::random_floats(
            static_cast<std::size_t>(f.out_channels * (f.in_channels / f.groups) * f.kernel_size), seed + 1);
        const auto b = convkit_test::random_floats(static_cast<std::size_t>(f.out_channels), seed + 2);
        const std::size_t count = static_cast<std::size_t>(f.batch * f.out_channels * length);
        Output one(count), two(count), planned(count);
        convkit::conv1d(f, x.data(), w.data(), b.data(), one.data());
        convkit::conv2d(d2, x.data(), w.data(), b.data(), two.data());
        const convkit::Plan plan(f, w.data(), b.data());
        plan.run(x.data(), planned.data());
        CHECK(same_bits(one.data(), two.data(), count));
        CHECK(same_bits(planned.data(), two.data(), count));
        CHECK(one.guards_intact());
        i64 wrong = 0;
        for (i64 n = 0; n < f.batch; ++n)
          for (i64 o = 0; o < f.out_channels; ++o)
            for (i64 l = 0; l < length; ++l) {
              const auto want = convkit_test::oracle_at(d2, x.data(), w.data(), b.data(), n, o, 0, l);
              const float got = one.data()[at_layout(layout, f.out_channels, 1, length, n, o, 0, l)];
              if (!(std::fabs(got - want.value) <= 1e-4 * want.magnitude)) ++wrong;
            }
        CHECK(wrong == 0);
      }
  for (convkit::ConvTranspose1dDesc t : transposed)
    for (Layout layout : {Layout::NCHW, Layout::NHWC})
      for (TransposedWeightsLayout wl : {TransposedWeightsLayout::IOHW, TransposedWeightsLayout::OHWI}) {
        t.layout = layout, t.weights_layout = wl;
        const TDesc d2 = convkit::as_2d(t);
        CHECK(d2.in_height == 1);
        CHECK(d2.kernel_height == 1);
        CHECK(d2.in_width == t.in_length);
        CHECK(d2.kernel_width == t.kernel_size);
        CHECK(d2.stride_width == t.stride);
        CHECK(d2.pad_left == t.pad_begin);
        CHECK(d2.pad_right == t.pad_end);
        CHECK(d2.output_padding_width == t.output_padding);
        CHECK(d2.output_padding_height == 0);
        CHECK(d2.pad_top == 0);
        CHECK(d2.pad_bottom == 0);
        CHECK(d2.dilation_width == t.dilation);
        CHECK(d2.groups == t.groups);
        CHECK(d2.layout == layout);
        CHECK(d2.weights_layout == wl);
        const i64 length = t.stride * (t.in_length - 1) + t.output_padding + t.dilation * (t.kernel_size - 1) + 1 -
                           t.pad_begin - t.pad_end;
        CHECK(convkit::output_length(t) == length);
        const Problem p(d2, true, seed += 3);
        INFO(describe(d2, true));
        Output one(p.out_count()), two(p.out_count()), planned(p.out_count());
        convkit::conv_transpose1d(t, p.in.data(), p.w.data(), p.bias(), one.data());
        convkit::conv_transpose2d(d2, p.in.data(), p.w.data(), p.bias(), two.data());
        const convkit::Plan plan(t, p.w.data(), p.bias());
        plan.run(p.in.data(), planned.data());
        CHECK(same_bits(one.data(), two.data(), p.out_count()));
        CHECK(same_bits(planned.data(), two.data(), p.out_count()));
        CHECK(one.guards_intact());
        compare(d2, p.oracle, one.data(), "conv_transpose1d");
        // And every entry on the 2-D form (1-D shapes are the 1 x L edge of every tiling).
        for (const std::string& name : entry_names()) {
          const std::optional<convkit::Plan> entry = plan_of(p, name, convkit::Options{});
          if (!entry) continue;
          Output y(p.out_count());
          entry->run(p.in.data(), y.data());
          compare(d2, p.oracle, y.data(), name.c_str());
        }
      }
}

TEST_CASE("1-D: errors name the 1-D fields") {
  std::vector<float> in(4096, 0.5f), w(4096, 0.25f), out(8192);
  struct Bad {
    std::string name;
    std::function<void(convkit::Conv1dDesc&)> change;
    std::string word, not_word;  // the message names `word` and not the 2-D field `not_word`
  };
  const std::vector<Bad> forward = {
      {"in_length 0", [](convkit::Conv1dDesc& d) { d.in_length = 0; }, "in_length", "in_width"},
      {"kernel_size 0", [](convkit::Conv1dDesc& d) { d.kernel_size = 0; }, "kernel_size", "kernel_width"},
      {"stride 0", [](convkit::Conv1dDesc& d) { d.stride = 0; }, "stride", "stride_width"},
      {"dilation 0", [](convkit::Conv1dDesc& d) { d.dilation = 0; }, "dilation", "dilation_width"},
      {"pad_begin -1", [](convkit::Conv1dDesc& d) { d.pad_begin = -1; }, "pad_begin", "pad_left"},
      {"pad_end -1", [](convkit::Conv1dDesc& d) { d.pad_end = -1; }, "pad_end", "pad_right"},
      {"batch 0", [](convkit::Conv1dDesc& d) { d.batch = 0; }, "batch", "in_height"},
      {"groups 2 of 3 channels", [](convkit::Conv1dDesc& d) { d.groups = 2; }, "groups", "in_height"},
      {"kernel longer than the input", [](convkit::Conv1dDesc& d) { d.kernel_size = 15; }, "kernel_size",
       "kernel_width"},
  };
  for (const Bad& c : forward) {
    convkit::Conv1dDesc d = conv1d_base();
    c.change(d);
    const auto check = [&](const std::function<void()>& call, const std::string& what) {
      try {
        call();
        FAIL_CHECK(what, ": no error");
      } catch (const convkit::Error& e) {
        const std::string message = std::string(e.what());
        CHECK_MESSAGE(e.status() == convkit::Status::InvalidArgument, what, ": ", message);
        CHECK_MESSAGE(message.find(c.word) != std::string::npos, what, ": '", message, "' does not name ", c.word);
        CHECK_MESSAGE(message.find(c.not_word) == std::string::npos, what, ": '", message, "' names the 2-D field ",
                      c.not_word);
      }
    };
    check([&] { convkit::output_length(d); }, "output_length: " + c.name);
    check([&] { convkit::conv1d(d, in.data(), w.data(), nullptr, out.data()); }, "conv1d: " + c.name);
    check([&] { convkit::Plan plan(d, w.data(), nullptr); }, "Plan(Conv1dDesc): " + c.name);
  }
  struct BadT {
    std::string name;
    std::function<void(convkit::ConvTranspose1dDesc&)> change;
    std::string word, not_word;
  };
  const std::vector<BadT> transposed = {
      {"in_length 0", [](convkit::ConvTranspose1dDesc& d) { d.in_length = 0; }, "in_length", "in_width"},
      {"kernel_size 0", [](convkit::ConvTranspose1dDesc& d) { d.kernel_size = 0; }, "kernel_size", "kernel_width"},
      {"stride 0", [](convkit::ConvTranspose1dDesc& d) { d.stride = 0; }, "stride", "stride_width"},
      {"dilation 0", [](convkit::ConvTranspose1dDesc& d) { d.dilation = 0; }, "dilation", "dilation_width"},
      {"pad_begin -1", [](convkit::ConvTranspose1dDesc& d) { d.pad_begin = -1; }, "pad_begin", "pad_left"},
      {"pad_end -1", [](convkit::ConvTranspose1dDesc& d) { d.pad_end = -1; }, "pad_end", "pad_right"},
      {"output_padding 2 at stride 2", [](convkit::ConvTranspose1dDesc& d) { d.output_padding = 2; }, "output_padding",
       "output_padding_width"},
      {"output_padding -1", [](convkit::ConvTranspose1dDesc& d) { d.output_padding = -1; }, "output_padding",
       "output_padding_width"},
      {"pads cropping everything", [](convkit::ConvTranspose1dDesc& d) { d.pad_begin = d.pad_end = 30; }, "pad_",
       "pad_left"},
      {"groups 3 of 4 channels", [](convkit::ConvTranspose1dDesc& d) { d.groups = 3; }, "groups", "in_height"},
  };
  for (const BadT& c : transposed) {
    convkit::ConvTranspose1dDesc d = transpose1d_base();
    c.change(d);
    const auto check = [&](const std::function<void()>& call, const std::string& what) {
      try {
        call();
        FAIL_CHECK(what, ": no error");
      } catch (const convkit::Error& e) {
        const std::string message = std::string(e.what());
        CHECK_MESSAGE(e.status() == convkit::Status::InvalidArgument, what, ": ", message);
        CHECK_MESSAGE(message.find(c.word) != std::string::npos, what, ": '", message, "' does not name ", c.word);
        CHECK_MESSAGE(message.find(c.not_word) == std::string::npos, what, ": '", message, "' names the 2-D field ",
                      c.not_word);
      }
    };
    check([&] { convkit::output_length(d); }, "output_length: " + c.name);
    check([&] { convkit::conv_transpose1d(d, in.data(), w.data(), nullptr, out.data()); },
          "conv_transpose1d: " + c.name);
    check([&] { convkit::Plan plan(d, w.data(), nullptr); }, "Plan(ConvTranspose1dDesc): " + c.name);
  }
}
