// libFuzzer target: bytes -> a transposed or 1-D convolution through the C API: convkit_conv_transpose2d (with or
// without an epilogue and a residual, apart or in place), a transposed plan (run on its own workers or on a caller's
// pool, with its own workspace or the caller's), convkit_conv1d, convkit_conv_transpose1d and their plans, and ONNX's
// output_shape (convkit_conv_transpose2d_set_output_shape). A valid problem must match the tests' oracles (the scatter
// form of tests/transposed_oracle.hpp, the forward tests/oracle.hpp for conv1d) or, for an algorithm asked for by name
// that declines the shape, answer CONVKIT_STATUS_UNSUPPORTED; an invalid one must answer
// CONVKIT_STATUS_INVALID_ARGUMENT with a message. Whatever fails leaves the output untouched. Validity is decided here
// from the API's documented rules (convkit.h), independently of the library. Any other outcome aborts: a finding.
//
// Run by scripts/fuzz.sh beside fuzz_conv2d.
#include <convkit/convkit.h>

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../c_enum_fields.hpp"
#include "../oracle.hpp"
#include "../transposed_oracle.hpp"

namespace {

using convkit_test::load_int;
using convkit_test::store_int;
using i64 = std::int64_t;

// Reads the input a byte at a time; past its end every read is 0.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t next() { return position_ < size_ ? data_[position_++] : 0; }
  // A value in [lo, hi] most of the time, and now and then one just outside it (invalid on purpose).
  i64 field(i64 lo, i64 hi) {
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

enum Mode { kOneShot2d, kPlan2d, kConv1d, kConv1dPlan, kTranspose1d, kTranspose1dPlan, kOutputShape, kModes };
const char* const kModeNames[] = {"conv_transpose2d", "transposed plan",   "conv1d",          "conv1d plan",
                                  "conv_transpose1d", "transposed1d plan", "set_output_shape"};

[[noreturn]] void finding(const char* what, Mode mode, const convkit_conv_transpose2d_desc& d,
                          const convkit_options& o) {
  std::fprintf(stderr,
               "FINDING: %s (%s)\n  N=%lld Ci=%lld H=%lld W=%lld Co=%lld K=%lldx%lld stride=%lld,%lld "
               "pad=%lld,%lld,%lld,%lld output_padding=%lld,%lld dilation=%lld,%lld groups=%lld layout=%d weights=%d "
               "algorithm=%d activation=%d threads=%d\n  (1-D modes: height 1, the width fields are the 1-D ones)\n"
               "  last error: %s\n",
               what, kModeNames[mode], (long long)d.batch, (long long)d.in_channels, (long long)d.in_height,
               (long long)d.in_width, (long long)d.out_channels, (long long)d.kernel_height, (long long)d.kernel_width,
               (long long)d.stride_height, (long long)d.stride_width, (long long)d.pad_top, (long long)d.pad_left,
               (long long)d.pad_bottom, (long long)d.pad_right, (long long)d.output_padding_height,
               (long long)d.output_padding_width, (long long)d.dilation_height, (long long)d.dilation_width,
               (long long)d.groups, load_int(d.layout), load_int(d.weights_layout), load_int(o.algorithm),
               load_int(o.activation), (int)o.threads, convkit_last_error());
  std::abort();
}

bool options_valid(const convkit_options& o) {
  if (load_int(o.algorithm) < CONVKIT_ALGORITHM_AUTO || load_int(o.algorithm) > CONVKIT_ALGORITHM_IMPLICIT_GEMM)
    return false;
  if (load_int(o.activation) < CONVKIT_ACTIVATION_NONE || load_int(o.activation) > CONVKIT_ACTIVATION_CLAMP)
    return false;
  if (o.threads < 0) return false;
  if (load_int(o.activation) == CONVKIT_ACTIVATION_CLAMP && !(o.clamp_min <= o.clamp_max)) return false;
  return load_int(o.math_mode) == CONVKIT_MATH_STRICT || load_int(o.math_mode) == CONVKIT_MATH_FAST;
}

// The transposed convolution's rules (convkit.h), written again from the documentation.
bool transposed_valid(const convkit_conv_transpose2d_desc& d) {
  if (d.batch <= 0 || d.in_channels <= 0 || d.in_height <= 0 || d.in_width <= 0 || d.out_channels <= 0) return false;
  if (d.kernel_height <= 0 || d.kernel_width <= 0 || d.stride_height <= 0 || d.stride_width <= 0) return false;
  if (d.dilation_height <= 0 || d.dilation_width <= 0 || d.groups <= 0) return false;
  if (d.pad_top < 0 || d.pad_left < 0 || d.pad_bottom < 0 || d.pad_right < 0) return false;
  if (d.output_padding_height < 0 || d.output_padding_width < 0) return false;
  if (d.output_padding_height >= d.stride_height && d.output_padding_height >= d.dilation_height) return false;
  if (d.output_padding_width >= d.stride_width && d.output_padding_width >= d.dilation_width) return false;
  if (d.in_channels % d.groups != 0 || d.out_channels % d.groups != 0) return false;
  if (load_int(d.layout) != CONVKIT_LAYOUT_NCHW && load_int(d.layout) != CONVKIT_LAYOUT_NHWC) return false;
  if (load_int(d.weights_layout) != CONVKIT_TRANSPOSED_WEIGHTS_IOHW &&
      load_int(d.weights_layout) != CONVKIT_TRANSPOSED_WEIGHTS_OHWI)
    return false;
  const i64 ho = d.stride_height * (d.in_height - 1) + d.output_padding_height +
                 d.dilation_height * (d.kernel_height - 1) + 1 - d.pad_top - d.pad_bottom;
  const i64 wo = d.stride_width * (d.in_width - 1) + d.output_padding_width + d.dilation_width * (d.kernel_width - 1) +
                 1 - d.pad_left - d.pad_right;
  return ho > 0 && wo > 0;
}

bool conv1d_valid(const convkit_conv1d_desc& d) {
  if (d.batch <= 0 || d.in_channels <= 0 || d.in_length <= 0 || d.out_channels <= 0 || d.kernel_size <= 0) return false;
  if (d.stride <= 0 || d.dilation <= 0 || d.groups <= 0 || d.pad_begin < 0 || d.pad_end < 0) return false;
  if (d.in_channels % d.groups != 0 || d.out_channels % d.groups != 0) return false;
  if (load_int(d.layout) != CONVKIT_LAYOUT_NCHW && load_int(d.layout) != CONVKIT_LAYOUT_NHWC) return false;
  if (load_int(d.weights_layout) != CONVKIT_WEIGHTS_OIHW && load_int(d.weights_layout) != CONVKIT_WEIGHTS_OHWI)
    return false;
  return d.dilation * (d.kernel_size - 1) + 1 <= d.in_length + d.pad_begin + d.pad_end;
}

convkit::ConvTranspose2dDesc to_cpp(const convkit_conv_transpose2d_desc& d) {
  convkit::ConvTranspose2dDesc c;
  c.batch = d.batch, c.in_channels = d.in_channels, c.in_height = d.in_height, c.in_width = d.in_width;
  c.out_channels = d.out_channels, c.kernel_height = d.kernel_height, c.kernel_width = d.kernel_width;
  c.stride_height = d.stride_height, c.stride_width = d.stride_width;
  c.pad_top = d.pad_top, c.pad_left = d.pad_left, c.pad_bottom = d.pad_bottom, c.pad_right = d.pad_right;
  c.output_padding_height = d.output_padding_height, c.output_padding_width = d.output_padding_width;
  c.dilation_height = d.dilation_height, c.dilation_width = d.dilation_width, c.groups = d.groups;
  c.layout = static_cast<convkit::Layout>(load_int(d.layout));
  c.weights_layout = static_cast<convkit::TransposedWeightsLayout>(load_int(d.weights_layout));
  return c;
}

// The pool of a run: every task on the calling thread, last first.
void serial_parallel_for(void*, std::size_t count, convkit_task task, void* argument) {
  for (std::size_t i = count; i > 0; --i) task(argument, i - 1);
}

// ONNX's output_shape, one dimension: {ok, pad_begin, pad_end, output_padding}.
struct Dim {
  bool ok;
  i64 begin, end, output_padding;
};
Dim onnx_output_shape(i64 in, i64 kernel, i64 stride, i64 dilation, i64 output_padding, i64 target,
                      convkit_same_padding_mode mode) {
  if (target <= 0) return {false, 0, 0, 0};
  const i64 total = stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1 - target;
  if (total >= 0) {
    const i64 small = total / 2, large = total - small;
    return mode == CONVKIT_SAME_UPPER ? Dim{true, small, large, output_padding}
                                      : Dim{true, large, small, output_padding};
  }
  const i64 op = output_padding - total;
  if (op < stride || op < dilation) return {true, 0, 0, op};
  return {false, 0, 0, 0};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const Mode mode = static_cast<Mode>(in.next() % kModes);
  const bool one_d = mode == kConv1d || mode == kConv1dPlan || mode == kTranspose1d || mode == kTranspose1dPlan;
  const bool forward = mode == kConv1d || mode == kConv1dPlan;
  const bool through_plan = mode == kPlan2d || mode == kConv1dPlan || mode == kTranspose1dPlan;
  // One descriptor of every field; the 1-D modes read its width fields (and height 1).
  convkit_conv_transpose2d_desc d;
  convkit_conv_transpose2d_desc_init(&d);
  d.batch = in.field(1, 2);
  d.groups = in.field(1, 3);
  d.in_channels = d.groups * in.field(1, 5);
  d.out_channels = d.groups * in.field(1, 5);
  if (in.next() % 8 == 0) d.in_channels += 1;  // groups that do not divide, now and then
  if (in.next() % 8 == 0) d.groups = d.in_channels = d.out_channels = in.field(1, 9);  // depthwise
  d.in_height = one_d ? 1 : in.field(1, 8);
  d.in_width = in.field(1, one_d ? 16 : 8);
  d.kernel_height = one_d ? 1 : in.field(1, 5);
  d.kernel_width = in.field(1, one_d ? 9 : 5);
  d.stride_height = one_d ? 1 : in.field(1, 4);
  d.stride_width = in.field(1, 4);
  d.dilation_height = one_d ? 1 : in.field(1, 3);
  d.dilation_width = in.field(1, 3);
  d.pad_top = one_d ? 0 : in.field(0, 4);
  d.pad_left = in.field(0, 4);
  d.pad_bottom = one_d ? 0 : in.field(0, 4);
  d.pad_right = in.field(0, 4);
  d.output_padding_height = one_d ? 0 : in.field(0, 3);
  d.output_padding_width = in.field(0, 3);
  store_int(d.layout, in.field(0, 1));
  store_int(d.weights_layout, in.field(0, 1));
  convkit_options o;
  convkit_options_init(&o);
  store_int(o.algorithm, in.next() % 4 == 0 ? in.field(0, 6) : 0);
  store_int(o.activation, in.field(0, 2));
  o.clamp_min = -0.5f + 0.01f * static_cast<float>(in.next() % 64);
  o.clamp_max = -0.5f + 0.02f * static_cast<float>(in.next() % 64);
  const std::uint8_t threads = in.next();
  o.threads = threads == 255 ? -1 : threads >= 250 ? INT32_MAX : threads % 4;
  const bool with_bias = in.next() % 2 == 1;
  const std::uint32_t seed = in.next() | (std::uint32_t{in.next()} << 8);
  // The epilogue (2-D transposed modes only: the 1-D calls take none).
  const bool fused = !one_d && in.next() % 2 == 1;
  convkit_epilogue e;
  convkit_epilogue_init(&e);
  store_int(e.activation, in.field(0, 10));
  e.clamp_min = o.clamp_min;
  e.clamp_max = o.clamp_max;
  e.leaky_relu_alpha = 0.05f * static_cast<float>(in.next() % 16);
  enum ResidualChoice { kNoResidual, kApart, kInPlace };
  const auto residual_choice = static_cast<ResidualChoice>(in.next() % 3);
  e.residual = residual_choice != kNoResidual;
  e.residual_scale = residual_choice == kNoResidual ? 1.0f : 0.25f * static_cast<float>(in.next() % 8) - 1.0f;
  if (fused && in.next() % 16 != 0) store_int(o.activation, CONVKIT_ACTIVATION_NONE);  // else set twice: invalid
  enum WorkspaceChoice { kOwn, kCaller, kPool };
  const auto workspace_choice = static_cast<WorkspaceChoice>(in.next() % 3);
  const int pool_width = 1 + in.next() % 3;

  if (mode == kOutputShape) {
    const i64 target_h = in.field(1, 24), target_w = in.field(1, 24);
    const auto same = in.next() % 2 == 0 ? CONVKIT_SAME_UPPER : CONVKIT_SAME_LOWER;
    // The pads are what it sets: valid ones in, so that only the other fields decide the desc's validity.
    d.pad_top = std::abs(d.pad_top), d.pad_left = std::abs(d.pad_left);
    d.pad_bottom = std::abs(d.pad_bottom), d.pad_right = std::abs(d.pad_right);
    // Pads that leave the desc's own output non-empty (the library validates the desc as given, pads included).
    convkit_conv_transpose2d_desc probe = d;
    store_int(probe.layout, 0), store_int(probe.weights_layout, 0), probe.batch = 1, probe.in_channels = 1;
    probe.out_channels = 1, probe.groups = 1;
    if (transposed_valid(probe) == false) d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = 0;
    const convkit_conv_transpose2d_desc before = d;
    convkit_conv_transpose2d_desc unpadded = d;
    unpadded.pad_top = unpadded.pad_left = unpadded.pad_bottom = unpadded.pad_right = 0;
    const bool desc_valid = transposed_valid(unpadded);
    const convkit_status status = convkit_conv_transpose2d_set_output_shape(&d, target_h, target_w, same);
    if (!desc_valid) {
      if (status != CONVKIT_STATUS_INVALID_ARGUMENT) finding("an invalid desc was given an output shape", mode, d, o);
      if (std::memcmp(&before, &d, sizeof d) != 0) finding("a failed set_output_shape changed the desc", mode, d, o);
      return 0;
    }
    const Dim h = onnx_output_shape(d.in_height, d.kernel_height, d.stride_height, d.dilation_height,
                                    d.output_padding_height, target_h, same);
    const Dim w = onnx_output_shape(d.in_width, d.kernel_width, d.stride_width, d.dilation_width,
                                    d.output_padding_width, target_w, same);
    if (!h.ok || !w.ok) {
      if (status != CONVKIT_STATUS_INVALID_ARGUMENT) finding("an unreachable output shape was set", mode, before, o);
      if (std::strstr(convkit_last_error(), h.ok ? "out_width" : "out_height") == nullptr)
        finding("an unreachable output shape refused without naming out_height or out_width", mode, before, o);
      if (std::memcmp(&before, &d, sizeof d) != 0) finding("a failed set_output_shape changed the desc", mode, d, o);
      return 0;
    }
    if (status != CONVKIT_STATUS_OK) finding("a reachable output shape was refused", mode, before, o);
    if (d.pad_top != h.begin || d.pad_bottom != h.end || d.pad_left != w.begin || d.pad_right != w.end ||
        d.output_padding_height != h.output_padding || d.output_padding_width != w.output_padding)
      finding("set_output_shape set other pads than ONNX's", mode, before, o);
    i64 out_h = 0, out_w = 0;
    if (convkit_conv_transpose2d_output_size(&d, &out_h, &out_w) != CONVKIT_STATUS_OK || out_h != target_h ||
        out_w != target_w)
      finding("set_output_shape's desc has another output size", mode, before, o);
    return 0;
  }

  // The 1-D descriptors, from the width fields.
  convkit_conv1d_desc f;
  convkit_conv1d_desc_init(&f);
  f.batch = d.batch, f.in_channels = d.in_channels, f.in_length = d.in_width, f.out_channels = d.out_channels;
  f.kernel_size = d.kernel_width, f.stride = d.stride_width, f.pad_begin = d.pad_left, f.pad_end = d.pad_right;
  f.dilation = d.dilation_width, f.groups = d.groups;
  store_int(f.layout, load_int(d.layout));
  store_int(f.weights_layout, load_int(d.weights_layout));
  convkit_conv_transpose1d_desc t;
  convkit_conv_transpose1d_desc_init(&t);
  t.batch = d.batch, t.in_channels = d.in_channels, t.in_length = d.in_width, t.out_channels = d.out_channels;
  t.kernel_size = d.kernel_width, t.stride = d.stride_width, t.pad_begin = d.pad_left, t.pad_end = d.pad_right;
  t.output_padding = d.output_padding_width, t.dilation = d.dilation_width, t.groups = d.groups;
  store_int(t.layout, load_int(d.layout));
  store_int(t.weights_layout, load_int(d.weights_layout));

  const bool epilogue_valid =
      !fused || (load_int(o.activation) == CONVKIT_ACTIVATION_NONE && load_int(e.activation) >= 0 &&
                 load_int(e.activation) <= CONVKIT_ACTIVATION_GELU_TANH &&
                 (load_int(e.activation) != CONVKIT_ACTIVATION_CLAMP || e.clamp_min <= e.clamp_max));
  const bool expect_valid = options_valid(o) && epilogue_valid && (forward ? conv1d_valid(f) : transposed_valid(d));
  i64 out_h = 1, out_w = 1;
  if (expect_valid && forward) {
    out_w = (f.in_length + f.pad_begin + f.pad_end - f.dilation * (f.kernel_size - 1) - 1) / f.stride + 1;
  } else if (expect_valid) {
    const convkit_test::Shape s = convkit_test::t_output_shape(to_cpp(d));
    out_h = s.height, out_w = s.width;
  }
  const auto count = [](i64 v) { return static_cast<std::size_t>(v > 0 ? v : 1); };
  const std::vector<float> x =
      convkit_test::random_floats(expect_valid ? count(d.batch * d.in_channels * d.in_height * d.in_width) : 16, seed);
  const std::size_t weight_count =
      !expect_valid ? 16
      : forward     ? count(d.out_channels * (d.in_channels / d.groups) * d.kernel_width)
                    : count(d.in_channels * (d.out_channels / d.groups) * d.kernel_height * d.kernel_width);
  const std::vector<float> w = convkit_test::random_floats(weight_count, seed + 1);
  const std::vector<float> b = convkit_test::random_floats(expect_valid ? count(d.out_channels) : 16, seed + 2);
  const std::size_t out_count = expect_valid ? count(d.batch * d.out_channels * out_h * out_w) : 16;
  constexpr float kSentinel = -12345.0f;
  std::vector<float> y(out_count + 16, kSentinel);
  const std::vector<float> residual = convkit_test::random_floats(out_count, seed + 5);
  if (fused && residual_choice == kInPlace) std::copy(residual.begin(), residual.end(), y.begin());
  const float* residual_argument =
      !fused || residual_choice == kNoResidual ? nullptr : (residual_choice == kInPlace ? y.data() : residual.data());
  const std::vector<float> y_before = y;
  const float* bias = with_bias ? b.data() : nullptr;

  convkit_status status;
  convkit_algorithm used = CONVKIT_ALGORITHM_AUTO;
  if (through_plan) {
    convkit_plan* plan = nullptr;
    if (mode == kPlan2d) {
      status = convkit_plan_create_transposed(&d, w.data(), bias, &o, fused ? &e : nullptr, &plan);
    } else if (mode == kConv1dPlan) {
      status = convkit_plan_create_conv1d(&f, w.data(), bias, &o, nullptr, &plan);
    } else {
      status = convkit_plan_create_transposed1d(&t, w.data(), bias, &o, nullptr, &plan);
    }
    if (status == CONVKIT_STATUS_OK) {
      if (plan == nullptr) finding("plan_create answered ok without a plan", mode, d, o);
      if (convkit_plan_get_algorithm(plan, &used) != CONVKIT_STATUS_OK || used == CONVKIT_ALGORITHM_AUTO)
        finding("a plan without an algorithm", mode, d, o);
      const std::size_t workspace_bytes = convkit_plan_workspace_size(plan);
      std::vector<unsigned char> caller(workspace_bytes + 1, 0xFF);
      void* workspace = workspace_choice == kCaller ? caller.data() + 1 : nullptr;
      if (workspace_choice == kPool) {
        convkit_thread_pool pool;
        convkit_thread_pool_init(&pool);
        pool.width = pool_width;
        pool.parallel_for = serial_parallel_for;
        status = convkit_plan_run_on_pool(plan, &pool, x.data(), residual_argument, y.data(), nullptr, 0);
      } else if (residual_argument != nullptr) {
        status = convkit_plan_run_residual(plan, x.data(), residual_argument, y.data(), workspace, workspace_bytes);
      } else {
        status = convkit_plan_run(plan, x.data(), y.data(), workspace, workspace_bytes);
      }
      convkit_plan_destroy(plan);
      if (status != CONVKIT_STATUS_OK) finding("a plan made could not run", mode, d, o);
    } else if (plan != nullptr) {
      finding("plan_create failed but left a plan", mode, d, o);
    }
  } else if (mode == kOneShot2d) {
    status = convkit_conv_transpose2d(&d, x.data(), w.data(), bias, residual_argument, y.data(), &o,
                                      fused ? &e : nullptr, &used);
  } else if (mode == kConv1d) {
    status = convkit_conv1d(&f, x.data(), w.data(), bias, y.data(), &o, &used);
  } else {
    status = convkit_conv_transpose1d(&t, x.data(), w.data(), bias, y.data(), &o, &used);
  }

  const bool untouched = [&] {
    for (std::size_t i = 0; i < y.size(); ++i)
      if (std::memcmp(&y[i], &y_before[i], sizeof(float)) != 0) return false;
    return true;
  }();
  if (!expect_valid) {
    if (status != CONVKIT_STATUS_INVALID_ARGUMENT)
      finding("an invalid problem was not rejected as invalid", mode, d, o);
    if (convkit_last_error()[0] == '\0') finding("a rejection without a message", mode, d, o);
    if (!untouched) finding("a rejected call wrote to the output", mode, d, o);
    return 0;
  }
  if (status == CONVKIT_STATUS_UNSUPPORTED && load_int(o.algorithm) != CONVKIT_ALGORITHM_AUTO) {
    if (convkit_last_error()[0] == '\0') finding("unsupported without a message", mode, d, o);
    if (!untouched) finding("an unsupported call wrote to the output", mode, d, o);
    return 0;
  }
  if (status != CONVKIT_STATUS_OK) finding("a valid problem failed", mode, d, o);
  if (used == CONVKIT_ALGORITHM_AUTO) finding("the algorithm that ran is auto", mode, d, o);
  if (load_int(o.algorithm) != CONVKIT_ALGORITHM_AUTO && used != load_int(o.algorithm))
    finding("another algorithm ran than the one asked for", mode, d, o);
  for (std::size_t i = out_count; i < y.size(); ++i)
    if (y[i] != kSentinel) finding("a write past the output", mode, d, o);

  // The oracle, in logical N x Co x Ho x Wo order.
  std::vector<double> value(out_count), magnitude(out_count);
  const convkit::Layout layout = static_cast<convkit::Layout>(load_int(d.layout));
  if (forward) {
    convkit::Conv2dDesc c;
    c.batch = f.batch, c.in_channels = f.in_channels, c.in_height = 1, c.in_width = f.in_length;
    c.out_channels = f.out_channels, c.kernel_height = 1, c.kernel_width = f.kernel_size, c.stride_width = f.stride;
    c.pad_left = f.pad_begin, c.pad_right = f.pad_end, c.dilation_width = f.dilation, c.groups = f.groups;
    c.layout = layout;
    c.weights_layout = static_cast<convkit::WeightsLayout>(load_int(f.weights_layout));
    for (i64 n = 0; n < c.batch; ++n)
      for (i64 oc = 0; oc < c.out_channels; ++oc)
        for (i64 xx = 0; xx < out_w; ++xx) {
          const convkit_test::OracleValue v = convkit_test::oracle_at(c, x.data(), w.data(), bias, n, oc, 0, xx);
          const std::size_t k = static_cast<std::size_t>((n * c.out_channels + oc) * out_w + xx);
          value[k] = v.value, magnitude[k] = v.magnitude;
        }
  } else {
    const convkit_test::TransposedOracle want = convkit_test::t_oracle(to_cpp(d), x.data(), w.data(), bias);
    value = want.value, magnitude = want.magnitude;
  }
  double largest = 0;
  for (double m : magnitude) largest = std::max(largest, m);
  convkit::Options co;
  co.activation = static_cast<convkit::Activation>(load_int(o.activation));
  co.clamp_min = o.clamp_min;
  co.clamp_max = o.clamp_max;
  convkit::Epilogue ce;
  ce.activation = static_cast<convkit::Activation>(load_int(e.activation));
  ce.clamp_min = e.clamp_min;
  ce.clamp_max = e.clamp_max;
  ce.leaky_relu_alpha = e.leaky_relu_alpha;
  for (i64 n = 0; n < d.batch; ++n)
    for (i64 oc = 0; oc < d.out_channels; ++oc)
      for (i64 yy = 0; yy < out_h; ++yy)
        for (i64 xx = 0; xx < out_w; ++xx) {
          const std::size_t k =
              static_cast<std::size_t>(convkit_test::at_nchw(d.out_channels, out_h, out_w, n, oc, yy, xx));
          const std::size_t at =
              static_cast<std::size_t>(convkit_test::at_layout(layout, d.out_channels, out_h, out_w, n, oc, yy, xx));
          double v = value[k];
          // Winograd (asked for by name) mixes a tile's outputs: held to its bound on the largest magnitude.
          double scale = used == CONVKIT_ALGORITHM_WINOGRAD ? largest * convkit_test::winograd_error_bound(4) / 1e-4
                                                            : magnitude[k];
          double expected = convkit_test::oracle_activate(v, co), slope = 1.0;
          if (fused) {
            if (residual_argument != nullptr) {
              const double r = static_cast<double>(e.residual_scale) * residual[at];
              v += r;
              scale += std::fabs(r);
            }
            expected = convkit_test::oracle_activation(v, ce);
            slope = convkit_test::oracle_activation_slope(ce);
          }
          if (!(std::fabs(y[at] - expected) <= slope * 1e-4 * scale + 1e-6 * std::fabs(expected)))
            finding("a result off the oracle", mode, d, o);
        }
  return 0;
}
