// The C API: a translation of the C++ API in which no exception escapes. Enum fields are read as integers because a
// C caller may store any value in them; the C++ validation then names it.
#include <convkit/convkit.h>

#include <cmath>
#include <convkit/convkit.hpp>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace {

static_assert(static_cast<int>(convkit::Status::Unsupported) == CONVKIT_STATUS_UNSUPPORTED, "status values differ");
static_assert(static_cast<int>(convkit::Algorithm::Direct) == CONVKIT_ALGORITHM_DIRECT, "algorithm values differ");
static_assert(static_cast<int>(convkit::Algorithm::Winograd) == CONVKIT_ALGORITHM_WINOGRAD, "algorithm values differ");
static_assert(static_cast<int>(convkit::Algorithm::ImplicitGemm) == CONVKIT_ALGORITHM_IMPLICIT_GEMM,
              "algorithm values differ");
static_assert(static_cast<int>(convkit::Activation::Clamp) == CONVKIT_ACTIVATION_CLAMP, "activation values differ");
static_assert(static_cast<int>(convkit::Layout::NHWC) == CONVKIT_LAYOUT_NHWC, "layout values differ");
static_assert(static_cast<int>(convkit::WeightsLayout::OHWI) == CONVKIT_WEIGHTS_OHWI, "weights layouts differ");
static_assert(static_cast<int>(convkit::TransposedWeightsLayout::OHWI) == CONVKIT_TRANSPOSED_WEIGHTS_OHWI,
              "transposed weights layouts differ");
static_assert(static_cast<int>(convkit::MathMode::Fast) == CONVKIT_MATH_FAST, "math modes differ");
static_assert(static_cast<int>(convkit::SamePadding::Lower) == CONVKIT_SAME_LOWER, "same padding modes differ");

static_assert(static_cast<int>(convkit::Activation::GeluTanh) == CONVKIT_ACTIVATION_GELU_TANH, "activations differ");
static_assert(static_cast<int>(convkit::Activation::LeakyRelu) == CONVKIT_ACTIVATION_LEAKY_RELU, "activations differ");

// The message of this thread's last failed call; the one piece of state the C API keeps, by its contract.
thread_local std::string last_error;

template <typename Enum, typename CEnum>
Enum read_enum(const CEnum& field) {
  static_assert(sizeof(CEnum) == sizeof(int), "C enums are int-sized on supported ABIs");
  int value;
  std::memcpy(&value, &field, sizeof value);
  return static_cast<Enum>(value);
}

// The integer fields of convkit_conv2d_desc and convkit::Conv2dDesc, which share their names: one list for both
// directions of the translation.
// Laid out by hand: clang-format's layout of this macro does not settle from one run to the next.
// clang-format off
#define CONVKIT_DESC_INTEGER_FIELDS(X) \
  X(batch) X(in_channels) X(in_height) X(in_width) X(out_channels)  \
  X(kernel_height) X(kernel_width) X(stride_height) X(stride_width) \
  X(pad_top) X(pad_left) X(pad_bottom) X(pad_right) \
  X(dilation_height) X(dilation_width) X(groups)
// clang-format on
#define CONVKIT_COPY_FIELD(name) desc.name = d.name;

convkit::Conv2dDesc to_cpp(const convkit_conv2d_desc& d) {
  convkit::Conv2dDesc desc;
  CONVKIT_DESC_INTEGER_FIELDS(CONVKIT_COPY_FIELD)
  desc.layout = read_enum<convkit::Layout>(d.layout);
  desc.weights_layout = read_enum<convkit::WeightsLayout>(d.weights_layout);
  return desc;
}

convkit_conv2d_desc from_cpp(const convkit::Conv2dDesc& d) {
  convkit_conv2d_desc desc;
  CONVKIT_DESC_INTEGER_FIELDS(CONVKIT_COPY_FIELD)
  desc.layout = static_cast<convkit_layout>(static_cast<int>(d.layout));
  desc.weights_layout = static_cast<convkit_weights_layout>(static_cast<int>(d.weights_layout));
  return desc;
}

#undef CONVKIT_COPY_FIELD
#undef CONVKIT_DESC_INTEGER_FIELDS

convkit::Options to_cpp(const convkit_options& o) {
  convkit::Options options;
  options.algorithm = read_enum<convkit::Algorithm>(o.algorithm);
  options.threads = o.threads;
  options.activation = read_enum<convkit::Activation>(o.activation);
  options.clamp_min = o.clamp_min;
  options.clamp_max = o.clamp_max;
  options.math_mode = read_enum<convkit::MathMode>(o.math_mode);
  return options;
}

convkit_status fail(convkit_status status, const char* message) noexcept {
  try {
    last_error = message;
  } catch (...) {  // no memory even for the message: the status still tells
  }
  return status;
}

// Runs body and turns whatever it throws into a status and this thread's message.
template <typename Body>
convkit_status guarded(Body&& body) noexcept {
  try {
    body();
    return CONVKIT_STATUS_OK;
  } catch (const convkit::Error& error) {
    return fail(static_cast<convkit_status>(error.status()), error.what());
  } catch (const std::bad_alloc&) {
    return fail(CONVKIT_STATUS_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& error) {
    return fail(CONVKIT_STATUS_INTERNAL_ERROR, error.what());
  } catch (...) {
    return fail(CONVKIT_STATUS_INTERNAL_ERROR, "internal error: an unknown exception");
  }
}

// The transposed and 1-D descriptors: every field copied, the enums read as any integer a C caller may hold.
convkit::ConvTranspose2dDesc to_cpp(const convkit_conv_transpose2d_desc& d) {
  convkit::ConvTranspose2dDesc desc;
  desc.batch = d.batch;
  desc.in_channels = d.in_channels;
  desc.in_height = d.in_height;
  desc.in_width = d.in_width;
  desc.out_channels = d.out_channels;
  desc.kernel_height = d.kernel_height;
  desc.kernel_width = d.kernel_width;
  desc.stride_height = d.stride_height;
  desc.stride_width = d.stride_width;
  desc.pad_top = d.pad_top;
  desc.pad_left = d.pad_left;
  desc.pad_bottom = d.pad_bottom;
  desc.pad_right = d.pad_right;
  desc.output_padding_height = d.output_padding_height;
  desc.output_padding_width = d.output_padding_width;
  desc.dilation_height = d.dilation_height;
  desc.dilation_width = d.dilation_width;
  desc.groups = d.groups;
  desc.layout = read_enum<convkit::Layout>(d.layout);
  desc.weights_layout = read_enum<convkit::TransposedWeightsLayout>(d.weights_layout);
  return desc;
}

convkit_conv_transpose2d_desc from_cpp(const convkit::ConvTranspose2dDesc& d) {
  convkit_conv_transpose2d_desc desc;
  desc.batch = d.batch;
  desc.in_channels = d.in_channels;
  desc.in_height = d.in_height;
  desc.in_width = d.in_width;
  desc.out_channels = d.out_channels;
  desc.kernel_height = d.kernel_height;
  desc.kernel_width = d.kernel_width;
  desc.stride_height = d.stride_height;
  desc.stride_width = d.stride_width;
  desc.pad_top = d.pad_top;
  desc.pad_left = d.pad_left;
  desc.pad_bottom = d.pad_bottom;
  desc.pad_right = d.pad_right;
  desc.output_padding_height = d.output_padding_height;
  desc.output_padding_width = d.output_padding_width;
  desc.dilation_height = d.dilation_height;
  desc.dilation_width = d.dilation_width;
  desc.groups = d.groups;
  desc.layout = static_cast<convkit_layout>(static_cast<int>(d.layout));
  desc.weights_layout = static_cast<convkit_transposed_weights_layout>(static_cast<int>(d.weights_layout));
  return desc;
}

convkit::Conv1dDesc to_cpp(const convkit_conv1d_desc& d) {
  convkit::Conv1dDesc desc;
  desc.batch = d.batch;
  desc.in_channels = d.in_channels;
  desc.in_length = d.in_length;
  desc.out_channels = d.out_channels;
  desc.kernel_size = d.kernel_size;
  desc.stride = d.stride;
  desc.pad_begin = d.pad_begin;
  desc.pad_end = d.pad_end;
  desc.dilation = d.dilation;
  desc.groups = d.groups;
  desc.layout = read_enum<convkit::Layout>(d.layout);
  desc.weights_layout = read_enum<convkit::WeightsLayout>(d.weights_layout);
  return desc;
}

convkit::ConvTranspose1dDesc to_cpp(const convkit_conv_transpose1d_desc& d) {
  convkit::ConvTranspose1dDesc desc;
  desc.batch = d.batch;
  desc.in_channels = d.in_channels;
  desc.in_length = d.in_length;
  desc.out_channels = d.out_channels;
  desc.kernel_size = d.kernel_size;
  desc.stride = d.stride;
  desc.pad_begin = d.pad_begin;
  desc.pad_end = d.pad_end;
  desc.output_padding = d.output_padding;
  desc.dilation = d.dilation;
  desc.groups = d.groups;
  desc.layout = read_enum<convkit::Layout>(d.layout);
  desc.weights_layout = read_enum<convkit::TransposedWeightsLayout>(d.weights_layout);
  return desc;
}

convkit::Options options_or_default(const convkit_options* options) {
  return options != nullptr ? to_cpp(*options) : convkit::Options{};
}

}  // namespace

// The C handle is the C++ plan.
struct convkit_plan {
  convkit::Plan plan;
};

struct convkit_packed_weights {
  convkit::PackedWeights packed;
};

extern "C" {

void convkit_conv2d_desc_init(convkit_conv2d_desc* desc) {
  if (desc == nullptr) return;
  std::memset(desc, 0, sizeof *desc);
  desc->stride_height = desc->stride_width = 1;
  desc->dilation_height = desc->dilation_width = 1;
  desc->groups = 1;
  desc->layout = CONVKIT_LAYOUT_NCHW;
  desc->weights_layout = CONVKIT_WEIGHTS_OIHW;
}

void convkit_options_init(convkit_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->algorithm = CONVKIT_ALGORITHM_AUTO;
  options->threads = 0;
  options->activation = CONVKIT_ACTIVATION_NONE;
  options->clamp_min = -INFINITY;
  options->clamp_max = INFINITY;
  options->math_mode = CONVKIT_MATH_STRICT;
}

convkit_status convkit_conv2d_output_size(const convkit_conv2d_desc* desc, int64_t* out_height, int64_t* out_width) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (out_height == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_height is null");
  if (out_width == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_width is null");
  return guarded([&] {
    const convkit::OutputSize size = convkit::output_size(to_cpp(*desc));
    *out_height = size.height;
    *out_width = size.width;
  });
}

convkit_status convkit_conv2d_tensor_sizes(const convkit_conv2d_desc* desc, convkit_tensor_sizes* sizes) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (sizes == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "sizes is null");
  return guarded([&] {
    const convkit::TensorSizes s = convkit::tensor_sizes(to_cpp(*desc));
    *sizes = convkit_tensor_sizes{s.input, s.weights, s.bias, s.output};
  });
}

convkit_status convkit_conv2d(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                              const float* bias, float* output, const convkit_options* options) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    convkit::conv2d(to_cpp(*desc), input, weights, bias, output, cpp_options);
  });
}

convkit_status convkit_conv2d_algorithm(const convkit_conv2d_desc* desc, const convkit_options* options,
                                        convkit_algorithm* algorithm) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (algorithm == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "algorithm is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *algorithm = static_cast<convkit_algorithm>(convkit::chosen_algorithm(to_cpp(*desc), cpp_options));
  });
}

convkit_status convkit_conv2d_reporting(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                                        const float* bias, float* output, const convkit_options* options,
                                        convkit_algorithm* algorithm_used) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    const convkit::Algorithm used = convkit::conv2d(to_cpp(*desc), input, weights, bias, output, cpp_options);
    if (algorithm_used != nullptr) *algorithm_used = static_cast<convkit_algorithm>(used);
  });
}

convkit_status convkit_plan_create(const convkit_conv2d_desc* desc, const float* weights, const float* bias,
                                   const convkit_options* options, convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *plan = new convkit_plan{convkit::Plan(to_cpp(*desc), weights, bias, cpp_options)};
  });
}

namespace {

std::vector<convkit::ConcatBranch> to_branches(const convkit_conv2d_desc* descs, const float* const* weights,
                                               const float* const* biases, size_t count) {
  std::vector<convkit::ConcatBranch> branches(count);
  for (size_t b = 0; b < count; ++b) {
    branches[b].desc = to_cpp(descs[b]);
    branches[b].weights = weights[b];
    branches[b].bias = biases != nullptr ? biases[b] : nullptr;
  }
  return branches;
}

}  // namespace

convkit_status convkit_plan_create_concat(const convkit_conv2d_desc* descs, const float* const* weights,
                                          const float* const* biases, size_t count, const convkit_options* options,
                                          convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (count == 0)
    return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "count = 0: a concatenated plan needs at least one branch");
  if (descs == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "descs is null");
  if (weights == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "weights is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *plan = new convkit_plan{convkit::Plan(to_branches(descs, weights, biases, count), cpp_options)};
  });
}

const char* convkit_plan_description(const convkit_plan* plan) {
  return plan != nullptr ? plan->plan.description().c_str() : "";
}

size_t convkit_plan_workspace_size(const convkit_plan* plan) {
  return plan != nullptr ? plan->plan.workspace_size() : 0;
}

const char* convkit_plan_algorithm(const convkit_plan* plan) {
  return plan != nullptr ? convkit::algorithm_name(plan->plan.algorithm()) : "";
}

convkit_status convkit_plan_get_algorithm(const convkit_plan* plan, convkit_algorithm* algorithm) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  if (algorithm == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "algorithm is null");
  *algorithm = static_cast<convkit_algorithm>(plan->plan.algorithm());
  return CONVKIT_STATUS_OK;
}

convkit_status convkit_plan_run(const convkit_plan* plan, const float* input, float* output, void* workspace,
                                size_t workspace_size) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  return guarded([&] { plan->plan.run(input, output, workspace, workspace_size); });
}

void convkit_plan_destroy(convkit_plan* plan) { delete plan; }

void convkit_thread_pool_init(convkit_thread_pool* pool) {
  if (pool == nullptr) return;
  pool->struct_size = sizeof(convkit_thread_pool);
  pool->width = 1;
  pool->context = nullptr;
  pool->parallel_for = nullptr;
}

convkit_status convkit_plan_run_on_pool(const convkit_plan* plan, const convkit_thread_pool* pool, const float* input,
                                        const float* residual, float* output, void* workspace, size_t workspace_size) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  if (pool == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "pool is null");
  return guarded([&] {
    // Version 1 is the only one; a later header's larger struct is refused rather than half read.
    if (pool->struct_size != sizeof(convkit_thread_pool))
      throw convkit::Error(convkit::Status::InvalidArgument,
                           "pool->struct_size = " + std::to_string(pool->struct_size) +
                               " is not the size of a convkit_thread_pool of this library (" +
                               std::to_string(sizeof(convkit_thread_pool)) +
                               "): initialise it with convkit_thread_pool_init");
    const convkit::ThreadPool cpp_pool{pool->context, pool->parallel_for, pool->width};
    if (residual != nullptr || plan->plan.epilogue().residual) {
      plan->plan.run_residual_on(cpp_pool, input, residual, output, workspace, workspace_size);
    } else {
      plan->plan.run_on(cpp_pool, input, output, workspace, workspace_size);
    }
  });
}

convkit_status convkit_plan_get_threads(const convkit_plan* plan, int32_t* threads) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  if (threads == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "threads is null");
  *threads = plan->plan.threads();
  return CONVKIT_STATUS_OK;
}

int32_t convkit_default_threads(void) {
  try {
    return convkit::default_threads();
  } catch (...) {
    return 1;
  }
}

void convkit_epilogue_init(convkit_epilogue* epilogue) {
  if (epilogue == nullptr) return;
  const convkit::Epilogue defaults;
  epilogue->struct_size = sizeof(convkit_epilogue);
  epilogue->activation = CONVKIT_ACTIVATION_NONE;
  epilogue->clamp_min = defaults.clamp_min;
  epilogue->clamp_max = defaults.clamp_max;
  epilogue->leaky_relu_alpha = defaults.leaky_relu_alpha;
  epilogue->hard_sigmoid_alpha = defaults.hard_sigmoid_alpha;
  epilogue->hard_sigmoid_beta = defaults.hard_sigmoid_beta;
  epilogue->residual = 0;
  epilogue->residual_scale = defaults.residual_scale;
}

namespace {

// Version 1 is the only one; a later header's larger struct is refused rather than half read.
convkit::Epilogue to_cpp(const convkit_epilogue& e) {
  if (e.struct_size != sizeof(convkit_epilogue))
    throw convkit::Error(convkit::Status::InvalidArgument,
                         "epilogue->struct_size = " + std::to_string(e.struct_size) +
                             " is not the size of a convkit_epilogue of this library (" +
                             std::to_string(sizeof(convkit_epilogue)) + "): initialise it with convkit_epilogue_init");
  convkit::Epilogue epilogue;
  epilogue.activation = read_enum<convkit::Activation>(e.activation);
  epilogue.clamp_min = e.clamp_min;
  epilogue.clamp_max = e.clamp_max;
  epilogue.leaky_relu_alpha = e.leaky_relu_alpha;
  epilogue.hard_sigmoid_alpha = e.hard_sigmoid_alpha;
  epilogue.hard_sigmoid_beta = e.hard_sigmoid_beta;
  epilogue.residual = e.residual != 0;
  epilogue.residual_scale = e.residual_scale;
  return epilogue;
}

}  // namespace

convkit_status convkit_plan_create_fused(const convkit_conv2d_desc* desc, const float* weights, const float* bias,
                                         const convkit_options* options, const convkit_epilogue* epilogue,
                                         convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (epilogue == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "epilogue is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *plan = new convkit_plan{convkit::Plan(to_cpp(*desc), weights, bias, cpp_options, to_cpp(*epilogue))};
  });
}

convkit_status convkit_plan_create_concat_fused(const convkit_conv2d_desc* descs, const float* const* weights,
                                                const float* const* biases, size_t count,
                                                const convkit_options* options, const convkit_epilogue* epilogue,
                                                convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (count == 0)
    return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "count = 0: a concatenated plan needs at least one branch");
  if (descs == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "descs is null");
  if (weights == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "weights is null");
  if (epilogue == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "epilogue is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *plan = new convkit_plan{convkit::Plan(to_branches(descs, weights, biases, count), cpp_options, to_cpp(*epilogue))};
  });
}

convkit_status convkit_plan_run_residual(const convkit_plan* plan, const float* input, const float* residual,
                                         float* output, void* workspace, size_t workspace_size) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  return guarded([&] { plan->plan.run_residual(input, residual, output, workspace, workspace_size); });
}

convkit_status convkit_conv2d_fused(const convkit_conv2d_desc* desc, const float* input, const float* weights,
                                    const float* bias, const float* residual, float* output,
                                    const convkit_options* options, const convkit_epilogue* epilogue) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (epilogue == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "epilogue is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    const convkit::Epilogue cpp_epilogue = to_cpp(*epilogue);
    if (!cpp_epilogue.residual && residual != nullptr)
      throw convkit::Error(convkit::Status::InvalidArgument, "residual is given but epilogue->residual is 0");
    convkit::conv2d(to_cpp(*desc), input, weights, bias, residual, output, cpp_options, cpp_epilogue);
  });
}

convkit_status convkit_same_padding(int64_t input_size, int64_t kernel_size, int64_t stride, int64_t dilation,
                                    convkit_same_padding_mode mode, int64_t* pad_begin, int64_t* pad_end) {
  if (pad_begin == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "pad_begin is null");
  if (pad_end == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "pad_end is null");
  return guarded([&] {
    const convkit::Padding padding =
        convkit::same_padding(input_size, kernel_size, stride, dilation, read_enum<convkit::SamePadding>(mode));
    *pad_begin = padding.begin;
    *pad_end = padding.end;
  });
}

convkit_status convkit_conv2d_desc_set_same_padding(convkit_conv2d_desc* desc, convkit_same_padding_mode mode) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    convkit::Conv2dDesc cpp = to_cpp(*desc);
    convkit::set_same_padding(cpp, read_enum<convkit::SamePadding>(mode));
    desc->pad_top = cpp.pad_top;
    desc->pad_bottom = cpp.pad_bottom;
    desc->pad_left = cpp.pad_left;
    desc->pad_right = cpp.pad_right;
  });
}

const char* convkit_version(void) { return convkit::version(); }

const char* convkit_simd_isa(void) { return convkit::simd_isa(); }

const char* convkit_last_error(void) { return last_error.c_str(); }

const char* convkit_status_string(convkit_status status) {
  int value;
  std::memcpy(&value, &status, sizeof value);
  switch (value) {
    case CONVKIT_STATUS_OK:
      return "ok";
    case CONVKIT_STATUS_INVALID_ARGUMENT:
      return "invalid argument";
    case CONVKIT_STATUS_UNSUPPORTED:
      return "unsupported";
    case CONVKIT_STATUS_OUT_OF_MEMORY:
      return "out of memory";
    case CONVKIT_STATUS_INTERNAL_ERROR:
      return "internal error";
    default:
      return "unknown status";
  }
}

const char* convkit_algorithm_name(convkit_algorithm algorithm) {
  return convkit::algorithm_name(read_enum<convkit::Algorithm>(algorithm));
}

void convkit_get_blas_info(convkit_blas_info* info) {
  if (info == nullptr) return;
  try {
    static const convkit::BlasInfo cached = convkit::blas_info();
    info->library = cached.library.c_str();
    info->core = cached.core.c_str();
    info->recommended_core = cached.recommended_core.c_str();
    info->degraded = cached.degraded ? 1 : 0;
  } catch (...) {
    info->library = info->core = info->recommended_core = "";
    info->degraded = 0;
  }
}

convkit_status convkit_compose_conv2d(const convkit_conv2d_desc* first, const float* first_weights,
                                      const float* first_bias, const convkit_conv2d_desc* second,
                                      const float* second_weights, const float* second_bias,
                                      convkit_conv2d_desc* composed, float* composed_weights, float* composed_bias) {
  if (first == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "first is null");
  if (second == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "second is null");
  if (composed == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "composed is null");
  return guarded([&] {
    const convkit::Conv2dDesc a = to_cpp(*first), b = to_cpp(*second);
    if (composed_weights == nullptr) {
      *composed = from_cpp(convkit::compose(a, b));
      return;
    }
    // Validate the descriptors first, so that their errors come before this one, as in descriptor-only mode.
    convkit::compose(a, b);
    if (composed_bias == nullptr && (first_bias != nullptr || second_bias != nullptr))
      throw convkit::Error(convkit::Status::InvalidArgument,
                           std::string("composed_bias is null but ") + (first_bias != nullptr ? "first" : "second") +
                               "_bias is not; composed_bias may be NULL only when both biases are");
    const convkit::Composition result = convkit::compose(a, first_weights, first_bias, b, second_weights, second_bias);
    // Nothing below can fail: the outputs are written all or not at all.
    std::memcpy(composed_weights, result.weights.data(), result.weights.size() * sizeof(float));
    if (composed_bias != nullptr) std::memcpy(composed_bias, result.bias.data(), result.bias.size() * sizeof(float));
    *composed = from_cpp(result.desc);
  });
}

convkit_status convkit_packed_weights_create(const convkit_conv2d_desc* desc, const float* weights, const float* bias,
                                             const convkit_options* options, convkit_packed_weights** packed) {
  if (packed == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "packed is null");
  *packed = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *packed = new convkit_packed_weights{convkit::PackedWeights(to_cpp(*desc), weights, bias, cpp_options)};
  });
}

void convkit_packed_weights_destroy(convkit_packed_weights* packed) { delete packed; }

size_t convkit_packed_weights_size(const convkit_packed_weights* packed) {
  return packed != nullptr ? packed->packed.size_bytes() : 0;
}

convkit_status convkit_plan_create_packed(const convkit_conv2d_desc* desc, const convkit_packed_weights* packed,
                                          const convkit_options* options, const convkit_epilogue* epilogue,
                                          convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (packed == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "packed is null");
  return guarded([&] {
    const convkit::Options cpp_options = options != nullptr ? to_cpp(*options) : convkit::Options{};
    *plan = epilogue == nullptr
                ? new convkit_plan{convkit::Plan(packed->packed, to_cpp(*desc), cpp_options)}
                : new convkit_plan{convkit::Plan(packed->packed, to_cpp(*desc), cpp_options, to_cpp(*epilogue))};
  });
}

convkit_status convkit_packed_weights_save(const convkit_packed_weights* packed, void* buffer, size_t capacity,
                                           size_t* size) {
  if (size == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "size is null");
  if (packed == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "packed is null");
  return guarded([&] {
    const std::vector<unsigned char> blob = packed->packed.save();
    *size = blob.size();
    if (buffer == nullptr) return;
    if (capacity < blob.size())
      throw convkit::Error(convkit::Status::InvalidArgument, "capacity = " + std::to_string(capacity) +
                                                                 " is smaller than the " + std::to_string(blob.size()) +
                                                                 " bytes of the saved weights");
    std::memcpy(buffer, blob.data(), blob.size());
  });
}

convkit_status convkit_packed_weights_load(const void* data, size_t size, convkit_packed_weights** packed) {
  if (packed == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "packed is null");
  *packed = nullptr;
  return guarded([&] { *packed = new convkit_packed_weights{convkit::PackedWeights::load(data, size)}; });
}

// ---- transposed and 1-D convolutions ----

void convkit_conv_transpose2d_desc_init(convkit_conv_transpose2d_desc* desc) {
  if (desc != nullptr) *desc = from_cpp(convkit::ConvTranspose2dDesc{});
}

convkit_status convkit_conv_transpose2d_output_size(const convkit_conv_transpose2d_desc* desc, int64_t* out_height,
                                                    int64_t* out_width) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (out_height == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_height is null");
  if (out_width == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_width is null");
  return guarded([&] {
    const convkit::OutputSize size = convkit::output_size(to_cpp(*desc));
    *out_height = size.height;
    *out_width = size.width;
  });
}

convkit_status convkit_conv_transpose2d_tensor_sizes(const convkit_conv_transpose2d_desc* desc,
                                                     convkit_tensor_sizes* sizes) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (sizes == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "sizes is null");
  return guarded([&] {
    const convkit::TensorSizes s = convkit::tensor_sizes(to_cpp(*desc));
    *sizes = convkit_tensor_sizes{s.input, s.weights, s.bias, s.output};
  });
}

convkit_status convkit_conv_transpose2d_set_output_shape(convkit_conv_transpose2d_desc* desc, int64_t out_height,
                                                         int64_t out_width, convkit_same_padding_mode mode) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    convkit::ConvTranspose2dDesc cpp = to_cpp(*desc);
    convkit::set_output_shape(cpp, out_height, out_width, read_enum<convkit::SamePadding>(mode));
    *desc = from_cpp(cpp);
  });
}

convkit_status convkit_conv_transpose2d(const convkit_conv_transpose2d_desc* desc, const float* input,
                                        const float* weights, const float* bias, const float* residual, float* output,
                                        const convkit_options* options, const convkit_epilogue* epilogue,
                                        convkit_algorithm* algorithm_used) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options_or_default(options);
    convkit::Algorithm used;
    if (epilogue == nullptr) {
      if (residual != nullptr)
        throw convkit::Error(convkit::Status::InvalidArgument, "residual is given but epilogue is null");
      used = convkit::conv_transpose2d(to_cpp(*desc), input, weights, bias, output, cpp_options);
    } else {
      used = convkit::conv_transpose2d(to_cpp(*desc), input, weights, bias, residual, output, cpp_options,
                                       to_cpp(*epilogue));
    }
    if (algorithm_used != nullptr) *algorithm_used = static_cast<convkit_algorithm>(used);
  });
}

convkit_status convkit_plan_create_transposed(const convkit_conv_transpose2d_desc* desc, const float* weights,
                                              const float* bias, const convkit_options* options,
                                              const convkit_epilogue* epilogue, convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options_or_default(options);
    *plan = new convkit_plan{epilogue == nullptr
                                 ? convkit::Plan(to_cpp(*desc), weights, bias, cpp_options)
                                 : convkit::Plan(to_cpp(*desc), weights, bias, cpp_options, to_cpp(*epilogue))};
  });
}

convkit_status convkit_conv_transpose2d_algorithm(const convkit_conv_transpose2d_desc* desc,
                                                  const convkit_options* options, convkit_algorithm* algorithm) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (algorithm == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "algorithm is null");
  return guarded([&] {
    *algorithm = static_cast<convkit_algorithm>(convkit::chosen_algorithm(to_cpp(*desc), options_or_default(options)));
  });
}

void convkit_conv1d_desc_init(convkit_conv1d_desc* desc) {
  if (desc == nullptr) return;
  *desc = convkit_conv1d_desc{};
  desc->stride = desc->dilation = desc->groups = 1;
  desc->layout = CONVKIT_LAYOUT_NCHW;
  desc->weights_layout = CONVKIT_WEIGHTS_OIHW;
}

void convkit_conv_transpose1d_desc_init(convkit_conv_transpose1d_desc* desc) {
  if (desc == nullptr) return;
  *desc = convkit_conv_transpose1d_desc{};
  desc->stride = desc->dilation = desc->groups = 1;
  desc->layout = CONVKIT_LAYOUT_NCHW;
  desc->weights_layout = CONVKIT_TRANSPOSED_WEIGHTS_IOHW;
}

void convkit_conv1d_desc_as_2d(const convkit_conv1d_desc* desc, convkit_conv2d_desc* desc_2d) {
  if (desc == nullptr || desc_2d == nullptr) return;
  convkit_conv2d_desc_init(desc_2d);
  desc_2d->batch = desc->batch;
  desc_2d->in_channels = desc->in_channels;
  desc_2d->in_height = 1;
  desc_2d->in_width = desc->in_length;
  desc_2d->out_channels = desc->out_channels;
  desc_2d->kernel_height = 1;
  desc_2d->kernel_width = desc->kernel_size;
  desc_2d->stride_width = desc->stride;
  desc_2d->pad_left = desc->pad_begin;
  desc_2d->pad_right = desc->pad_end;
  desc_2d->dilation_width = desc->dilation;
  desc_2d->groups = desc->groups;
  desc_2d->layout = desc->layout;
  desc_2d->weights_layout = desc->weights_layout;
}

void convkit_conv_transpose1d_desc_as_2d(const convkit_conv_transpose1d_desc* desc,
                                         convkit_conv_transpose2d_desc* desc_2d) {
  if (desc == nullptr || desc_2d == nullptr) return;
  convkit_conv_transpose2d_desc_init(desc_2d);
  desc_2d->batch = desc->batch;
  desc_2d->in_channels = desc->in_channels;
  desc_2d->in_height = 1;
  desc_2d->in_width = desc->in_length;
  desc_2d->out_channels = desc->out_channels;
  desc_2d->kernel_height = 1;
  desc_2d->kernel_width = desc->kernel_size;
  desc_2d->stride_width = desc->stride;
  desc_2d->pad_left = desc->pad_begin;
  desc_2d->pad_right = desc->pad_end;
  desc_2d->output_padding_width = desc->output_padding;
  desc_2d->dilation_width = desc->dilation;
  desc_2d->groups = desc->groups;
  desc_2d->layout = desc->layout;
  desc_2d->weights_layout = desc->weights_layout;
}

convkit_status convkit_conv1d_output_length(const convkit_conv1d_desc* desc, int64_t* out_length) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (out_length == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_length is null");
  return guarded([&] { *out_length = convkit::output_length(to_cpp(*desc)); });
}

convkit_status convkit_conv_transpose1d_output_length(const convkit_conv_transpose1d_desc* desc, int64_t* out_length) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  if (out_length == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "out_length is null");
  return guarded([&] { *out_length = convkit::output_length(to_cpp(*desc)); });
}

convkit_status convkit_conv1d(const convkit_conv1d_desc* desc, const float* input, const float* weights,
                              const float* bias, float* output, const convkit_options* options,
                              convkit_algorithm* algorithm_used) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Algorithm used =
        convkit::conv1d(to_cpp(*desc), input, weights, bias, output, options_or_default(options));
    if (algorithm_used != nullptr) *algorithm_used = static_cast<convkit_algorithm>(used);
  });
}

convkit_status convkit_conv_transpose1d(const convkit_conv_transpose1d_desc* desc, const float* input,
                                        const float* weights, const float* bias, float* output,
                                        const convkit_options* options, convkit_algorithm* algorithm_used) {
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Algorithm used =
        convkit::conv_transpose1d(to_cpp(*desc), input, weights, bias, output, options_or_default(options));
    if (algorithm_used != nullptr) *algorithm_used = static_cast<convkit_algorithm>(used);
  });
}

convkit_status convkit_plan_create_conv1d(const convkit_conv1d_desc* desc, const float* weights, const float* bias,
                                          const convkit_options* options, const convkit_epilogue* epilogue,
                                          convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options_or_default(options);
    const convkit::Conv1dDesc cpp = to_cpp(*desc);
    *plan = new convkit_plan{epilogue == nullptr
                                 ? convkit::Plan(cpp, weights, bias, cpp_options)
                                 : convkit::Plan(convkit::as_2d(cpp), weights, bias, cpp_options, to_cpp(*epilogue))};
  });
}

convkit_status convkit_plan_create_transposed1d(const convkit_conv_transpose1d_desc* desc, const float* weights,
                                                const float* bias, const convkit_options* options,
                                                const convkit_epilogue* epilogue, convkit_plan** plan) {
  if (plan == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "plan is null");
  *plan = nullptr;
  if (desc == nullptr) return fail(CONVKIT_STATUS_INVALID_ARGUMENT, "desc is null");
  return guarded([&] {
    const convkit::Options cpp_options = options_or_default(options);
    const convkit::ConvTranspose1dDesc cpp = to_cpp(*desc);
    *plan = new convkit_plan{epilogue == nullptr
                                 ? convkit::Plan(cpp, weights, bias, cpp_options)
                                 : convkit::Plan(convkit::as_2d(cpp), weights, bias, cpp_options, to_cpp(*epilogue))};
  });
}

}  // extern "C"
