#include "problem.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include "error.hpp"
#include "threading.hpp"

namespace convkit::detail {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// floor((size + pad_before + pad_after - dilation*(kernel-1) - 1) / stride) + 1, or throws when empty.
std::int64_t output_extent(std::int64_t size, std::int64_t pad_before, std::int64_t pad_after, std::int64_t kernel,
                           std::int64_t stride, std::int64_t dilation, const char* size_field,
                           const char* kernel_field) {
  const std::int64_t padded = checked_add(checked_add(size, pad_before, size_field), pad_after, size_field);
  const std::int64_t span = checked_add(checked_mul(dilation, kernel - 1, kernel_field), 1, kernel_field);
  if (span > padded)
    invalid("the output would be empty: ", kernel_field, " = ", kernel, " spans ", span,
            " elements with its dilation, more than the padded ", size_field, " of ", padded);
  return (padded - span) / stride + 1;
}

}  // namespace

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) invalid(what, " overflows 64 bits (", a, " * ", b, ")");
  return r;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) invalid(what, " overflows 64 bits (", a, " + ", b, ")");
  return r;
}

void require_positive(std::int64_t value, const char* field) {
  if (value <= 0) invalid(field, " = ", value, " must be positive");
}

void require_non_negative(std::int64_t value, const char* field) {
  if (value < 0) invalid(field, " = ", value, " must not be negative");
}

double Problem::flops() const { return 2.0 * static_cast<double>(output_elements) * static_cast<double>(reduction); }

Problem make_problem(const Conv2dDesc& desc) {
  require_positive(desc.batch, "batch");
  require_positive(desc.in_channels, "in_channels");
  require_positive(desc.in_height, "in_height");
  require_positive(desc.in_width, "in_width");
  require_positive(desc.out_channels, "out_channels");
  require_positive(desc.kernel_height, "kernel_height");
  require_positive(desc.kernel_width, "kernel_width");
  require_positive(desc.stride_height, "stride_height");
  require_positive(desc.stride_width, "stride_width");
  require_non_negative(desc.pad_top, "pad_top");
  require_non_negative(desc.pad_left, "pad_left");
  require_non_negative(desc.pad_bottom, "pad_bottom");
  require_non_negative(desc.pad_right, "pad_right");
  require_positive(desc.dilation_height, "dilation_height");
  require_positive(desc.dilation_width, "dilation_width");
  require_positive(desc.groups, "groups");
  // Enum fields may come from C callers holding any integer; scoped enums with int storage make reading them defined.
  const int layout = static_cast<int>(desc.layout);
  if (layout != static_cast<int>(Layout::NCHW) && layout != static_cast<int>(Layout::NHWC))
    invalid("layout = ", layout, " is not a layout (NCHW = 0, NHWC = 1)");
  const int weights_layout = static_cast<int>(desc.weights_layout);
  if (weights_layout != static_cast<int>(WeightsLayout::OIHW) &&
      weights_layout != static_cast<int>(WeightsLayout::OHWI))
    invalid("weights_layout = ", weights_layout, " is not a weights layout (OIHW = 0, OHWI = 1)");
  if (desc.in_channels % desc.groups != 0)
    invalid("groups = ", desc.groups, " must divide in_channels = ", desc.in_channels);
  if (desc.out_channels % desc.groups != 0)
    invalid("groups = ", desc.groups, " must divide out_channels = ", desc.out_channels);

  Problem p{};
  p.batch = desc.batch;
  p.in_channels = desc.in_channels;
  p.in_height = desc.in_height;
  p.in_width = desc.in_width;
  p.out_channels = desc.out_channels;
  p.kernel_height = desc.kernel_height;
  p.kernel_width = desc.kernel_width;
  p.stride_height = desc.stride_height;
  p.stride_width = desc.stride_width;
  p.pad_top = desc.pad_top;
  p.pad_left = desc.pad_left;
  p.pad_bottom = desc.pad_bottom;
  p.pad_right = desc.pad_right;
  p.dilation_height = desc.dilation_height;
  p.dilation_width = desc.dilation_width;
  p.groups = desc.groups;
  p.layout = desc.layout;
  p.weights_layout = desc.weights_layout;

  p.out_height = output_extent(p.in_height, p.pad_top, p.pad_bottom, p.kernel_height, p.stride_height,
                               p.dilation_height, "in_height", "kernel_height");
  p.out_width = output_extent(p.in_width, p.pad_left, p.pad_right, p.kernel_width, p.stride_width, p.dilation_width,
                              "in_width", "kernel_width");
  p.group_in_channels = p.in_channels / p.groups;
  p.group_out_channels = p.out_channels / p.groups;

  const std::int64_t kernel_area = checked_mul(p.kernel_height, p.kernel_width, "kernel_height * kernel_width");
  p.reduction = checked_mul(p.group_in_channels, kernel_area, "in_channels / groups * kernel area");
  p.weights_elements = checked_mul(p.out_channels, p.reduction, "the weights' element count");
  const std::int64_t in_pixels = checked_mul(p.in_height, p.in_width, "in_height * in_width");
  p.input_elements =
      checked_mul(checked_mul(p.batch, p.in_channels, "batch * in_channels"), in_pixels, "the input's element count");
  const std::int64_t out_pixels = checked_mul(p.out_height, p.out_width, "out_height * out_width");
  p.output_elements = checked_mul(checked_mul(p.batch, p.out_channels, "batch * out_channels"), out_pixels,
                                  "the output's element count");
  // Every buffer must also be addressable in bytes, and an im2col column buffer of one image and group too.
  constexpr std::int64_t kMaxElements = kMax / static_cast<std::int64_t>(sizeof(float));
  for (std::int64_t elements : {p.input_elements, p.weights_elements, p.output_elements}) {
    if (elements > kMaxElements) invalid("a tensor of ", elements, " floats overflows 64-bit byte sizes");
  }
  if (checked_mul(p.reduction, out_pixels, "the im2col buffer's element count") > kMaxElements)
    invalid("the im2col buffer of ", p.reduction, " x ", out_pixels, " floats overflows 64-bit byte sizes");
  // Coordinates reach at most (out-1)*stride + dilation*(kernel-1) - pad; keep them within int64 too.
  checked_mul(p.out_height, p.stride_height, "out_height * stride_height");
  checked_mul(p.out_width, p.stride_width, "out_width * stride_width");
  return p;
}

void validate_options(const Options& options) {
  const int algorithm = static_cast<int>(options.algorithm);
  if (algorithm < static_cast<int>(Algorithm::Auto) || algorithm > static_cast<int>(Algorithm::ImplicitGemm))
    invalid("algorithm = ", algorithm, " is not an algorithm (0 to 6)");
  if (options.threads < 0) invalid("threads = ", options.threads, " must not be negative (0 = library default)");
  const int activation = static_cast<int>(options.activation);
  if (activation < static_cast<int>(Activation::None) || activation > static_cast<int>(Activation::Clamp))
    invalid("activation = ", activation, " is not an activation (NONE = 0, RELU = 1, CLAMP = 2)");
  if (options.activation == Activation::Clamp) {
    if (std::isnan(options.clamp_min)) invalid("clamp_min is NaN; a clamp bound must be a number");
    if (std::isnan(options.clamp_max)) invalid("clamp_max is NaN; a clamp bound must be a number");
    if (options.clamp_min > options.clamp_max)
      invalid("clamp_min = ", options.clamp_min, " must not exceed clamp_max = ", options.clamp_max);
  }
  const int math_mode = static_cast<int>(options.math_mode);
  if (math_mode != static_cast<int>(MathMode::Strict) && math_mode != static_cast<int>(MathMode::Fast))
    invalid("math_mode = ", math_mode, " is not a math mode (STRICT = 0, FAST = 1)");
}

PostOps make_post_ops(const Epilogue& e, const Options& options) {
  if (options.activation != Activation::None)
    invalid("options.activation = ", static_cast<int>(options.activation),
            " with an epilogue: the epilogue holds the activation, so options.activation must be NONE");
  const int activation = static_cast<int>(e.activation);
  if (activation < static_cast<int>(Activation::None) || activation > static_cast<int>(Activation::GeluTanh))
    invalid("epilogue.activation = ", activation, " is not an activation (NONE = 0 to GELU_TANH = 10)");
  PostOps post;
  post.activation = e.activation;
  switch (e.activation) {
    case Activation::Clamp:
      if (std::isnan(e.clamp_min)) invalid("epilogue.clamp_min is NaN; a clamp bound must be a number");
      if (std::isnan(e.clamp_max)) invalid("epilogue.clamp_max is NaN; a clamp bound must be a number");
      if (e.clamp_min > e.clamp_max)
        invalid("epilogue.clamp_min = ", e.clamp_min, " must not exceed epilogue.clamp_max = ", e.clamp_max);
      post.clamp_min = e.clamp_min;
      post.clamp_max = e.clamp_max;
      break;
    case Activation::LeakyRelu:
      if (!std::isfinite(e.leaky_relu_alpha))
        invalid("epilogue.leaky_relu_alpha = ", e.leaky_relu_alpha, " must be a finite number");
      post.alpha = e.leaky_relu_alpha;
      break;
    case Activation::HardSigmoid:
      if (!std::isfinite(e.hard_sigmoid_alpha))
        invalid("epilogue.hard_sigmoid_alpha = ", e.hard_sigmoid_alpha, " must be a finite number");
      if (!std::isfinite(e.hard_sigmoid_beta))
        invalid("epilogue.hard_sigmoid_beta = ", e.hard_sigmoid_beta, " must be a finite number");
      post.alpha = e.hard_sigmoid_alpha;
      post.beta = e.hard_sigmoid_beta;
      break;
    default:
      break;
  }
  if (e.residual && !std::isfinite(e.residual_scale))
    invalid("epilogue.residual_scale = ", e.residual_scale, " must be a finite number");
  post.residual = e.residual;
  post.residual_scale = e.residual ? e.residual_scale : 0.0f;
  return post;
}

Epilogue epilogue_of(const Options& options) {
  Epilogue e;
  e.activation = options.activation;
  e.clamp_min = options.clamp_min;
  e.clamp_max = options.clamp_max;
  return e;
}

namespace {

// Compare addresses as integers: relational operators on pointers into different objects are unspecified.
bool overlaps_bytes(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
  const auto a_begin = reinterpret_cast<std::uintptr_t>(a);
  const auto b_begin = reinterpret_cast<std::uintptr_t>(b);
  return a_begin < b_begin + b_bytes && b_begin < a_begin + a_bytes;
}

bool overlaps(const float* a, std::int64_t a_count, const float* b, std::int64_t b_count) {
  return overlaps_bytes(a, static_cast<std::size_t>(a_count) * sizeof(float), b,
                        static_cast<std::size_t>(b_count) * sizeof(float));
}

}  // namespace

void check_disjoint_output(const Problem& problem, const float* input, const float* output) {
  if (overlaps(output, problem.output_elements, input, problem.input_elements))
    invalid("output overlaps input; they must be disjoint");
}

void check_disjoint_workspace(const Problem& problem, const float* input, const float* output, const void* workspace,
                              std::size_t workspace_bytes) {
  if (workspace == nullptr || workspace_bytes == 0) return;
  const std::size_t float_bytes = sizeof(float);
  if (overlaps_bytes(workspace, workspace_bytes, input, static_cast<std::size_t>(problem.input_elements) * float_bytes))
    invalid("workspace overlaps input: the ", workspace_bytes,
            " bytes of the workspace are written during the run, "
            "so they must be disjoint from the input");
  if (overlaps_bytes(workspace, workspace_bytes, output,
                     static_cast<std::size_t>(problem.output_elements) * float_bytes))
    invalid("workspace overlaps output: the ", workspace_bytes,
            " bytes of the workspace are written during the run, "
            "so they must be disjoint from the output");
}

void validate_buffers(const Problem& problem, const float* input, const float* weights, const float* bias,
                      const float* output) {
  if (input == nullptr) invalid("input is null");
  if (weights == nullptr) invalid("weights is null");
  if (output == nullptr) invalid("output is null");
  const std::int64_t out = problem.output_elements;
  check_disjoint_output(problem, input, output);
  if (overlaps(output, out, weights, problem.weights_elements))
    invalid("output overlaps weights; they must be disjoint");
  if (bias != nullptr && overlaps(output, out, bias, problem.out_channels))
    invalid("output overlaps bias; they must be disjoint");
}

void check_residual(const Problem& problem, const float* input, const float* residual, const float* output,
                    const void* workspace, std::size_t workspace_bytes) {
  if (residual == nullptr) invalid("residual is null; a plan with a residual epilogue needs one for every run");
  if (residual != output && overlaps(output, problem.output_elements, residual, problem.output_elements))
    invalid("residual overlaps output without being equal to it; it must be the output itself (in place) or disjoint");
  if (residual != output && overlaps(residual, problem.output_elements, input, problem.input_elements))
    invalid("residual overlaps input; they must be disjoint");
  if (workspace != nullptr && workspace_bytes != 0 &&
      overlaps_bytes(workspace, workspace_bytes, residual,
                     static_cast<std::size_t>(problem.output_elements) * sizeof(float)))
    invalid("workspace overlaps residual: the workspace is written during the run, so they must be disjoint");
}

int resolve_threads(const Options& options) {
  return usable_threads(options.threads > 0 ? options.threads : default_thread_count());
}

}  // namespace convkit::detail
