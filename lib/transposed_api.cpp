// The C++ API of transposed and 1-D convolutions: validation, one-shot calls and plans, all through PlanState.
#include <convkit/convkit.hpp>
#include <string>
#include <utility>

#include "error.hpp"
#include "plan.hpp"
#include "problem.hpp"
#include "transposed.hpp"

namespace convkit {
namespace detail {
namespace {

// The field names of a 1-D descriptor in place of those of the 2-D one it maps to, so that a message names what the
// caller wrote. Height fields never fail for a mapped descriptor (all 1 or 0).
Error with_1d_names(const Error& error) {
  static const std::pair<const char*, const char*> names[] = {{"pad_left + pad_right", "pad_begin + pad_end"},
                                                              {"output_padding_width", "output_padding"},
                                                              {"in_width", "in_length"},
                                                              {"kernel_width", "kernel_size"},
                                                              {"stride_width", "stride"},
                                                              {"dilation_width", "dilation"},
                                                              {"pad_left", "pad_begin"},
                                                              {"pad_right", "pad_end"},
                                                              {"out_width", "out_length"}};
  std::string message = error.what();
  for (const auto& [two_d, one_d] : names) {
    for (std::size_t at = message.find(two_d); at != std::string::npos; at = message.find(two_d, at)) {
      message.replace(at, std::string(two_d).size(), one_d);
      at += std::string(one_d).size();
    }
  }
  return Error(error.status(), message);
}

template <typename Call>
auto in_1d_terms(Call&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const Error& error) {
    throw with_1d_names(error);
  }
}

PlanState one_shot_transposed(const ConvTranspose2dDesc& desc, const float* input, const float* weights,
                              const float* bias, float* output, const Options& options, const Epilogue* epilogue) {
  const TransposedProblem problem = make_transposed_problem(desc);
  PlanState plan = make_transposed_plan(problem, weights, bias, options, epilogue);
  validate_buffers(plan.problem, input, weights, bias, output);
  return plan;
}

}  // namespace
}  // namespace detail

OutputSize output_size(const ConvTranspose2dDesc& desc) {
  const detail::TransposedProblem p = detail::make_transposed_problem(desc);
  return {p.out_height, p.out_width};
}

TensorSizes tensor_sizes(const ConvTranspose2dDesc& desc) {
  const detail::TransposedProblem p = detail::make_transposed_problem(desc);
  return {p.input_elements, p.weights_elements, p.out_channels, p.output_elements};
}

namespace {

// One dimension of set_output_shape: the pads (and output_padding) that give `out` elements.
void fit_output(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t dilation, std::int64_t out,
                SamePadding mode, std::int64_t& pad_begin, std::int64_t& pad_end, std::int64_t& output_padding,
                const char* out_field) {
  detail::require_positive(out, out_field);
  const std::int64_t reach =
      detail::checked_add(detail::checked_mul(stride, in - 1, out_field),
                          detail::checked_add(output_padding, dilation * (kernel - 1) + 1, out_field), out_field);
  const std::int64_t total = reach - out;
  if (total >= 0) {
    const std::int64_t small = total / 2, large = total - small;
    pad_begin = mode == SamePadding::Upper ? small : large;
    pad_end = mode == SamePadding::Upper ? large : small;
    return;
  }
  const std::int64_t padding = output_padding - total;
  if (padding >= stride && padding >= dilation)
    detail::invalid(out_field, " = ", out, " is beyond the ", reach, " elements the input reaches, and the ", -total,
                    " more would take an output_padding of ", padding, ", not below the stride (", stride,
                    ") or the dilation (", dilation, ")");
  pad_begin = pad_end = 0;
  output_padding = padding;
}

}  // namespace

void set_output_shape(ConvTranspose2dDesc& desc, std::int64_t out_height, std::int64_t out_width, SamePadding mode) {
  ConvTranspose2dDesc unpadded = desc;  // the pads are replaced, so pads that crop everything are no error here
  unpadded.pad_top = unpadded.pad_left = unpadded.pad_bottom = unpadded.pad_right = 0;
  detail::make_transposed_problem(unpadded);
  if (mode != SamePadding::Upper && mode != SamePadding::Lower)
    detail::invalid("mode = ", static_cast<int>(mode), " is not a padding mode (Upper = 0, Lower = 1)");
  ConvTranspose2dDesc fitted = desc;
  fit_output(desc.in_height, desc.kernel_height, desc.stride_height, desc.dilation_height, out_height, mode,
             fitted.pad_top, fitted.pad_bottom, fitted.output_padding_height, "out_height");
  fit_output(desc.in_width, desc.kernel_width, desc.stride_width, desc.dilation_width, out_width, mode, fitted.pad_left,
             fitted.pad_right, fitted.output_padding_width, "out_width");
  detail::make_transposed_problem(fitted);
  desc = fitted;
}

Algorithm conv_transpose2d(const ConvTranspose2dDesc& desc, const float* input, const float* weights, const float* bias,
                           float* output, const Options& options) {
  const detail::PlanState plan = detail::one_shot_transposed(desc, input, weights, bias, output, options, nullptr);
  detail::execute(plan, input, nullptr, output, nullptr, 0);
  return plan.primitive->algorithm();
}

Algorithm conv_transpose2d(const ConvTranspose2dDesc& desc, const float* input, const float* weights, const float* bias,
                           const float* residual, float* output, const Options& options, const Epilogue& epilogue) {
  const detail::PlanState plan = detail::one_shot_transposed(desc, input, weights, bias, output, options, &epilogue);
  detail::execute(plan, input, residual, output, nullptr, 0);
  return plan.primitive->algorithm();
}

Algorithm chosen_algorithm(const ConvTranspose2dDesc& desc, const Options& options) {
  return detail::chosen_transposed_algorithm(detail::make_transposed_problem(desc), options);
}

Plan::Plan(const ConvTranspose2dDesc& desc, const float* weights, const float* bias, const Options& options)
    : Plan(detail::PlanAccess::plan(
          detail::make_transposed_plan(detail::make_transposed_problem(desc), weights, bias, options, nullptr))) {}

Plan::Plan(const ConvTranspose2dDesc& desc, const float* weights, const float* bias, const Options& options,
           const Epilogue& epilogue)
    : Plan(detail::PlanAccess::plan(
          detail::make_transposed_plan(detail::make_transposed_problem(desc), weights, bias, options, &epilogue))) {}

// ---- 1-D ----

Conv2dDesc as_2d(const Conv1dDesc& d) {
  Conv2dDesc r;
  r.batch = d.batch;
  r.in_channels = d.in_channels;
  r.in_height = 1;
  r.in_width = d.in_length;
  r.out_channels = d.out_channels;
  r.kernel_height = 1;
  r.kernel_width = d.kernel_size;
  r.stride_width = d.stride;
  r.pad_left = d.pad_begin;
  r.pad_right = d.pad_end;
  r.dilation_width = d.dilation;
  r.groups = d.groups;
  r.layout = d.layout;
  r.weights_layout = d.weights_layout;
  return r;
}

ConvTranspose2dDesc as_2d(const ConvTranspose1dDesc& d) {
  ConvTranspose2dDesc r;
  r.batch = d.batch;
  r.in_channels = d.in_channels;
  r.in_height = 1;
  r.in_width = d.in_length;
  r.out_channels = d.out_channels;
  r.kernel_height = 1;
  r.kernel_width = d.kernel_size;
  r.stride_width = d.stride;
  r.pad_left = d.pad_begin;
  r.pad_right = d.pad_end;
  r.output_padding_width = d.output_padding;
  r.dilation_width = d.dilation;
  r.groups = d.groups;
  r.layout = d.layout;
  r.weights_layout = d.weights_layout;
  return r;
}

std::int64_t output_length(const Conv1dDesc& desc) {
  return detail::in_1d_terms([&] { return output_size(as_2d(desc)).width; });
}

std::int64_t output_length(const ConvTranspose1dDesc& desc) {
  return detail::in_1d_terms([&] { return output_size(as_2d(desc)).width; });
}

Algorithm conv1d(const Conv1dDesc& desc, const float* input, const float* weights, const float* bias, float* output,
                 const Options& options) {
  return detail::in_1d_terms([&] { return conv2d(as_2d(desc), input, weights, bias, output, options); });
}

Algorithm conv_transpose1d(const ConvTranspose1dDesc& desc, const float* input, const float* weights, const float* bias,
                           float* output, const Options& options) {
  return detail::in_1d_terms([&] { return conv_transpose2d(as_2d(desc), input, weights, bias, output, options); });
}

Plan::Plan(const Conv1dDesc& desc, const float* weights, const float* bias, const Options& options)
    : Plan(detail::in_1d_terms([&] { return Plan(as_2d(desc), weights, bias, options); })) {}

Plan::Plan(const ConvTranspose1dDesc& desc, const float* weights, const float* bias, const Options& options)
    : Plan(detail::in_1d_terms([&] { return Plan(as_2d(desc), weights, bias, options); })) {}

}  // namespace convkit
