// libFuzzer target: bytes -> a convolution descriptor, options and small tensors -> the C API, one-shot, through a
// plan, or as the first of two branches of a concatenated plan (the second reads the same input with other output
// channels, so the two share one convolution when ungrouped; now and then it reads a different input on purpose). A
// valid problem must match the tests' oracle (within the algorithm's bound) or, for an algorithm asked for by name that
// declines the shape, answer CONVKIT_STATUS_UNSUPPORTED; an invalid one must answer CONVKIT_STATUS_INVALID_ARGUMENT
// with a message. The GEMM path's tile size, orientation and multiplier (convkit's kernels or OpenBLAS) are fuzzed as
// well, and so are thread counts up to INT32_MAX and a plan's workspace (its own, the caller's, or the caller's
// overlapping the input or the output, which must be rejected), and the fused epilogue: every activation (and now and
// then an unknown one, or one set in the options too), with a residual apart from the output or in it (in place).
// Whatever fails leaves the output untouched. Any other
// outcome aborts, which is a finding. Validity is decided here from the API's documented rules, independently of the
// library.
//
// Run by scripts/fuzz.sh (CI: about a minute; longer runs: scripts/fuzz.sh SECONDS).
#include <convkit/convkit.h>

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../c_enum_fields.hpp"
#include "../oracle.hpp"

namespace {

// Reads the input a byte at a time; past its end every read is 0.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t next() { return position_ < size_ ? data_[position_++] : 0; }
  // A value in [lo, hi] most of the time, and now and then one just outside it (invalid on purpose).
  std::int64_t field(std::int64_t lo, std::int64_t hi) {
    const std::uint8_t b = next();
    if (b == 255) return lo - 1;
    if (b == 254) return hi + 1 + next() % 4;
    return lo + b % (hi - lo + 1);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

using convkit_test::load_int;
using convkit_test::store_int;

const char* knob(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "(unset)";
}

[[noreturn]] void finding(const char* what, const convkit_conv2d_desc& d, const convkit_options& o) {
  std::fprintf(
      stderr,
      "FINDING: %s\n  N=%lld Ci=%lld H=%lld W=%lld Co=%lld K=%lldx%lld stride=%lld,%lld pad=%lld,%lld,%lld,%lld "
      "dilation=%lld,%lld groups=%lld layout=%d weights=%d algorithm=%d activation=%d threads=%d math=%d\n"
      "  CONVKIT_GEMM_ORIENTATION=%s CONVKIT_GEMM_TILE_PIXELS=%s CONVKIT_GEMM_ENGINE=%s\n  last error: %s\n",
      what, (long long)d.batch, (long long)d.in_channels, (long long)d.in_height, (long long)d.in_width,
      (long long)d.out_channels, (long long)d.kernel_height, (long long)d.kernel_width, (long long)d.stride_height,
      (long long)d.stride_width, (long long)d.pad_top, (long long)d.pad_left, (long long)d.pad_bottom,
      (long long)d.pad_right, (long long)d.dilation_height, (long long)d.dilation_width, (long long)d.groups,
      load_int(d.layout), load_int(d.weights_layout), load_int(o.algorithm), load_int(o.activation), (int)o.threads,
      load_int(o.math_mode), knob("CONVKIT_GEMM_ORIENTATION"), knob("CONVKIT_GEMM_TILE_PIXELS"),
      knob("CONVKIT_GEMM_ENGINE"), convkit_last_error());
  std::abort();
}

// The API's rules (convkit.h), written again from the documentation.
bool valid(const convkit_conv2d_desc& d, const convkit_options& o) {
  if (d.batch <= 0 || d.in_channels <= 0 || d.in_height <= 0 || d.in_width <= 0 || d.out_channels <= 0) return false;
  if (d.kernel_height <= 0 || d.kernel_width <= 0 || d.stride_height <= 0 || d.stride_width <= 0) return false;
  if (d.dilation_height <= 0 || d.dilation_width <= 0 || d.groups <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  if (d.in_channels % d.groups != 0 || d.out_channels % d.groups != 0) return false;
  if (load_int(d.layout) != CONVKIT_LAYOUT_NCHW && load_int(d.layout) != CONVKIT_LAYOUT_NHWC) return false;
  if (load_int(d.weights_layout) != CONVKIT_WEIGHTS_OIHW && load_int(d.weights_layout) != CONVKIT_WEIGHTS_OHWI)
    return false;
  if (d.dilation_height * (d.kernel_height - 1) + 1 > d.in_height + d.pad_top + d.pad_bottom) return false;
  if (d.dilation_width * (d.kernel_width - 1) + 1 > d.in_width + d.pad_left + d.pad_right) return false;
  if (load_int(o.algorithm) < CONVKIT_ALGORITHM_AUTO || load_int(o.algorithm) > CONVKIT_ALGORITHM_IMPLICIT_GEMM)
    return false;
  if (load_int(o.activation) < CONVKIT_ACTIVATION_NONE || load_int(o.activation) > CONVKIT_ACTIVATION_CLAMP)
    return false;
  if (o.threads < 0) return false;
  if (load_int(o.activation) == CONVKIT_ACTIVATION_CLAMP && !(o.clamp_min <= o.clamp_max)) return false;
  if (load_int(o.math_mode) != CONVKIT_MATH_STRICT && load_int(o.math_mode) != CONVKIT_MATH_FAST) return false;
  return true;
}

convkit::Conv2dDesc to_cpp(const convkit_conv2d_desc& d) {
  convkit::Conv2dDesc c;
  c.batch = d.batch, c.in_channels = d.in_channels, c.in_height = d.in_height, c.in_width = d.in_width;
  c.out_channels = d.out_channels, c.kernel_height = d.kernel_height, c.kernel_width = d.kernel_width;
  c.stride_height = d.stride_height, c.stride_width = d.stride_width;
  c.pad_top = d.pad_top, c.pad_left = d.pad_left, c.pad_bottom = d.pad_bottom, c.pad_right = d.pad_right;
  c.dilation_height = d.dilation_height, c.dilation_width = d.dilation_width, c.groups = d.groups;
  c.layout = static_cast<convkit::Layout>(d.layout);
  c.weights_layout = static_cast<convkit::WeightsLayout>(d.weights_layout);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  convkit_conv2d_desc d;
  convkit_conv2d_desc_init(&d);
  d.batch = in.field(1, 2);
  d.groups = in.field(1, 3);
  d.in_channels = d.groups * in.field(1, 6);
  d.out_channels = d.groups * in.field(1, 6);
  if (in.next() % 8 == 0) d.in_channels += 1;  // groups that do not divide, now and then
  d.in_height = in.field(1, 12);
  d.in_width = in.field(1, 12);
  d.kernel_height = in.field(1, 5);
  d.kernel_width = in.field(1, 5);
  d.stride_height = in.field(1, 3);
  d.stride_width = in.field(1, 3);
  d.dilation_height = in.field(1, 3);
  d.dilation_width = in.field(1, 3);
  d.pad_top = in.field(0, 3);
  d.pad_left = in.field(0, 3);
  d.pad_bottom = in.field(0, 3);
  d.pad_right = in.field(0, 3);
  store_int(d.layout, in.field(0, 1));
  store_int(d.weights_layout, in.field(0, 1));
  convkit_options o;
  convkit_options_init(&o);
  store_int(o.algorithm, in.field(0, 6));
  store_int(o.activation, in.field(0, 2));
  o.clamp_min = -0.5f + 0.01f * static_cast<float>(in.next() % 64);
  o.clamp_max = -0.5f + 0.02f * static_cast<float>(in.next() % 64);
  // Mostly 0 to 3 threads, now and then a count no machine runs (capped by the library, never fatal) or -1.
  static const std::int32_t kHugeThreads[] = {INT32_MAX, INT32_MAX - 1, 1 << 20, 4096, 65};
  const std::uint8_t threads = in.next();
  o.threads = threads == 255 ? -1 : threads >= 240 ? kHugeThreads[threads % 5] : threads % 4;
  store_int(o.math_mode, in.field(0, 1));
  const int mode = in.next() % 3;  // 0 one-shot, 1 plan, 2 concatenated plan of d and d2
  const bool through_plan = mode == 1, concatenated = mode == 2;
  const bool with_bias = in.next() % 2 == 1;
  const std::uint32_t seed = in.next() | (std::uint32_t{in.next()} << 8);
  convkit_conv2d_desc d2 = d;
  d2.out_channels = (d.groups > 0 ? d.groups : 1) * in.field(1, 4);
  const bool same_input = in.next() % 8 != 0;
  if (!same_input) d2.in_height += 1;  // a branch that reads another input: the plan must be rejected
  // The GEMM path's tiling knobs (lib/tuning.hpp), read when a plan is made: the fuzzer's small shapes would
  // otherwise meet only whole-image tiles in the native orientation.
  const std::uint8_t tiling = in.next();
  static const char* const kOrientations[] = {nullptr, "native", "transposed"};
  static const char* const kTilePixels[] = {nullptr, "1", "7", "16"};
  const auto set_knob = [](const char* name, const char* value) {
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  };
  set_knob("CONVKIT_GEMM_ORIENTATION", kOrientations[tiling % 3]);
  set_knob("CONVKIT_GEMM_TILE_PIXELS", kTilePixels[tiling / 3 % 4]);
  set_knob("CONVKIT_GEMM_ENGINE", tiling / 12 % 2 == 1 ? "blas" : nullptr);  // OpenBLAS, not convkit's GEMM kernels
  // The epilogue: none (the calls without one), or the fused calls with an activation and a residual drawn.
  const bool fused = in.next() % 2 == 1;
  convkit_epilogue e;
  convkit_epilogue_init(&e);
  store_int(e.activation, in.field(0, 10));
  e.clamp_min = o.clamp_min;
  e.clamp_max = o.clamp_max;
  e.leaky_relu_alpha = 0.05f * static_cast<float>(in.next() % 16);
  e.hard_sigmoid_alpha = 0.1f * static_cast<float>(in.next() % 8);
  e.hard_sigmoid_beta = 0.1f * static_cast<float>(in.next() % 8);
  enum ResidualChoice { kNoResidual, kApart, kInPlace };
  const auto residual_choice = static_cast<ResidualChoice>(in.next() % 3);
  e.residual = residual_choice != kNoResidual;
  e.residual_scale = residual_choice == kNoResidual ? 1.0f : 0.25f * static_cast<float>(in.next() % 8) - 1.0f;
  if (fused && in.next() % 16 != 0) store_int(o.activation, CONVKIT_ACTIVATION_NONE);  // else set twice: invalid
  const std::int64_t out_channels = concatenated ? d.out_channels + d2.out_channels : d.out_channels;
  // A plan's workspace: its own (null), the caller's, or the caller's overlapping the input or the output, which
  // must be rejected before anything is written.
  enum WorkspaceChoice { kOwn, kCaller, kOverInput, kOverOutput };
  const auto workspace_choice = static_cast<WorkspaceChoice>(in.next() % 4);

  const bool epilogue_valid =
      !fused || (load_int(o.activation) == CONVKIT_ACTIVATION_NONE && load_int(e.activation) >= 0 &&
                 load_int(e.activation) <= CONVKIT_ACTIVATION_GELU_TANH &&
                 (load_int(e.activation) != CONVKIT_ACTIVATION_CLAMP || e.clamp_min <= e.clamp_max));
  const bool expect_valid = epilogue_valid && valid(d, o) && (!concatenated || (same_input && valid(d2, o)));
  // Sizes from the formula when valid; small fixed buffers otherwise (the call must not touch them).
  std::int64_t out_h = 1, out_w = 1;
  if (expect_valid) {
    out_h =
        (d.in_height + d.pad_top + d.pad_bottom - d.dilation_height * (d.kernel_height - 1) - 1) / d.stride_height + 1;
    out_w = (d.in_width + d.pad_left + d.pad_right - d.dilation_width * (d.kernel_width - 1) - 1) / d.stride_width + 1;
  }
  const auto count = [](std::int64_t v) { return static_cast<std::size_t>(v > 0 ? v : 1); };
  const std::vector<float> x =
      convkit_test::random_floats(expect_valid ? count(d.batch * d.in_channels * d.in_height * d.in_width) : 16, seed);
  const std::vector<float> w = convkit_test::random_floats(
      expect_valid ? count(d.out_channels * (d.in_channels / d.groups) * d.kernel_height * d.kernel_width) : 16,
      seed + 1);
  const std::vector<float> b = convkit_test::random_floats(expect_valid ? count(d.out_channels) : 16, seed + 2);
  const std::vector<float> w2 = convkit_test::random_floats(
      expect_valid ? count(d2.out_channels * (d2.in_channels / d2.groups) * d2.kernel_height * d2.kernel_width) : 16,
      seed + 3);
  const std::vector<float> b2 = convkit_test::random_floats(expect_valid ? count(d2.out_channels) : 16, seed + 4);
  const std::size_t out_count = expect_valid ? count(d.batch * out_channels * out_h * out_w) : 16;
  constexpr float kSentinel = -12345.0f;
  std::vector<float> y(out_count + 16, kSentinel);
  // The residual: apart, or the output's first content (in place). Either way the output holds sentinels past it.
  const std::vector<float> residual = convkit_test::random_floats(out_count, seed + 5);
  if (fused && residual_choice == kInPlace) std::copy(residual.begin(), residual.end(), y.begin());
  const float* residual_argument =
      !fused || residual_choice == kNoResidual ? nullptr : (residual_choice == kInPlace ? y.data() : residual.data());
  const std::vector<float> y_before = y;

  convkit_status status;
  bool winograd_ran = false;  // somewhere in a concatenated plan
  if (through_plan || concatenated) {
    convkit_plan* plan = nullptr;
    if (concatenated) {
      const convkit_conv2d_desc descs[2] = {d, d2};
      const float* weights[2] = {w.data(), w2.data()};
      const float* biases[2] = {with_bias ? b.data() : nullptr, b2.data()};
      status = fused ? convkit_plan_create_concat_fused(descs, weights, biases, 2, &o, &e, &plan)
                     : convkit_plan_create_concat(descs, weights, biases, 2, &o, &plan);
      if (plan != nullptr) winograd_ran = std::strstr(convkit_plan_description(plan), "winograd") != nullptr;
    } else {
      status = fused ? convkit_plan_create_fused(&d, w.data(), with_bias ? b.data() : nullptr, &o, &e, &plan)
                     : convkit_plan_create(&d, w.data(), with_bias ? b.data() : nullptr, &o, &plan);
    }
    if (status == CONVKIT_STATUS_OK) {
      if (plan == nullptr) finding("plan_create answered ok without a plan", d, o);
      const std::size_t workspace_bytes = convkit_plan_workspace_size(plan);
      const std::size_t workspace_floats = workspace_bytes / sizeof(float) + 1;
      // The input inside a larger buffer, so that a workspace starting on its last float stays inside it too.
      std::vector<float> input(x.size() + workspace_floats);
      std::copy(x.begin(), x.end(), input.begin());
      std::vector<unsigned char> caller(workspace_bytes + 1);
      // Likewise a workspace starting in the middle of the output stays inside y.
      const std::size_t middle = (out_count - 1) / 2;
      if (workspace_choice == kOverOutput && y.size() < middle + workspace_floats)
        y.resize(middle + workspace_floats, kSentinel);
      void* workspace = nullptr;
      switch (workspace_choice) {
        case kOwn:
          break;
        case kCaller:
          workspace = caller.data() + 1;
          break;  // any alignment works
        case kOverInput:
          workspace = input.data() + (x.size() - 1);
          break;
        case kOverOutput:
          workspace = y.data() + middle;
          break;
      }
      if (fused && residual_choice == kInPlace) residual_argument = y.data();  // y may have grown
      status =
          residual_argument != nullptr
              ? convkit_plan_run_residual(plan, input.data(), residual_argument, y.data(), workspace, workspace_bytes)
              : convkit_plan_run(plan, input.data(), y.data(), workspace, workspace_bytes);
      convkit_plan_destroy(plan);
      if (!std::equal(x.begin(), x.end(), input.begin())) finding("a plan run wrote to its input", d, o);
      const bool overlapping =
          workspace_bytes > 0 && (workspace_choice == kOverInput || workspace_choice == kOverOutput);
      if (overlapping) {
        if (status != CONVKIT_STATUS_INVALID_ARGUMENT) finding("an overlapping workspace was not rejected", d, o);
        if (std::strstr(convkit_last_error(), "workspace overlaps") == nullptr)
          finding("an overlapping workspace rejected without saying so", d, o);
        for (std::size_t i = 0; i < y.size(); ++i)
          if (y[i] != (i < y_before.size() ? y_before[i] : kSentinel))
            finding("a run with an overlapping workspace wrote to the output", d, o);
        return 0;
      }
    } else if (plan != nullptr) {
      finding("plan_create failed but left a plan", d, o);
    }
  } else {
    status = fused ? convkit_conv2d_fused(&d, x.data(), w.data(), with_bias ? b.data() : nullptr, residual_argument,
                                          y.data(), &o, &e)
                   : convkit_conv2d(&d, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data(), &o);
  }

  const bool untouched = [&] {
    for (std::size_t i = 0; i < y.size(); ++i)
      if (std::memcmp(&y[i], i < y_before.size() ? &y_before[i] : &kSentinel, sizeof(float)) != 0) return false;
    return true;
  }();
  if (!expect_valid) {
    if (status != CONVKIT_STATUS_INVALID_ARGUMENT) finding("an invalid problem was not rejected as invalid", d, o);
    if (convkit_last_error()[0] == '\0') finding("a rejection without a message", d, o);
    if (!untouched) finding("a rejected call wrote to the output", d, o);
    return 0;
  }
  if (status == CONVKIT_STATUS_UNSUPPORTED && load_int(o.algorithm) != CONVKIT_ALGORITHM_AUTO) {
    if (!untouched) finding("an unsupported call wrote to the output", d, o);
    return 0;
  }
  if (status != CONVKIT_STATUS_OK) finding("a valid problem failed", d, o);
  for (std::size_t i = out_count; i < y.size(); ++i)
    if (y[i] != kSentinel) finding("a write past the output", d, o);

  const convkit::Conv2dDesc cd = to_cpp(d);
  convkit::Options co;
  co.activation = static_cast<convkit::Activation>(load_int(o.activation));
  co.clamp_min = o.clamp_min;
  co.clamp_max = o.clamp_max;
  convkit::Epilogue ce;
  ce.activation = static_cast<convkit::Activation>(load_int(e.activation));
  ce.clamp_min = e.clamp_min;
  ce.clamp_max = e.clamp_max;
  ce.leaky_relu_alpha = e.leaky_relu_alpha;
  ce.hard_sigmoid_alpha = e.hard_sigmoid_alpha;
  ce.hard_sigmoid_beta = e.hard_sigmoid_beta;
  convkit_algorithm used = CONVKIT_ALGORITHM_AUTO;
  if (convkit_conv2d_algorithm(&d, &o, &used) != CONVKIT_STATUS_OK) finding("the algorithm query failed", d, o);
  const bool winograd = winograd_ran || used == CONVKIT_ALGORITHM_WINOGRAD;
  const double bound = winograd ? convkit_test::winograd_error_bound(4) : 1e-4;
  // Each branch against the oracle, in its channels of the output.
  struct Branch {
    convkit::Conv2dDesc desc;
    const float* weights;
    const float* bias;
    std::int64_t first_channel;
  };
  std::vector<Branch> branches{{cd, w.data(), with_bias ? b.data() : nullptr, 0}};
  if (concatenated) branches.push_back({to_cpp(d2), w2.data(), b2.data(), d.out_channels});
  for (const Branch& branch : branches)
    for (std::int64_t n = 0; n < d.batch; ++n)
      for (std::int64_t c = 0; c < branch.desc.out_channels; ++c)
        for (std::int64_t yy = 0; yy < out_h; ++yy)
          for (std::int64_t xx = 0; xx < out_w; ++xx) {
            convkit_test::OracleValue want =
                convkit_test::oracle_at(branch.desc, x.data(), branch.weights, branch.bias, n, c, yy, xx);
            const std::size_t at = static_cast<std::size_t>(convkit_test::tensor_offset(
                cd.layout, out_channels, out_h, out_w, n, branch.first_channel + c, yy, xx));
            double scale = winograd ? convkit_test::winograd_magnitude(branch.desc, x.data(), branch.weights,
                                                                       branch.bias, n, c, yy, xx)
                                    : want.magnitude;
            double expected = convkit_test::oracle_activate(want.value, co), slope = 1.0;
            if (fused) {
              if (residual_argument != nullptr) {
                const double r = static_cast<double>(e.residual_scale) * residual[at];
                want.value += r;
                scale += std::fabs(r);
              }
              expected = convkit_test::oracle_activation(want.value, ce);
              slope = convkit_test::oracle_activation_slope(ce);
            }
            const double got = y[at];
            if (!(std::fabs(got - expected) <= slope * bound * scale + 1e-6 * std::fabs(expected)))
              finding("a result off the oracle", d, o);
          }
  return 0;
}
