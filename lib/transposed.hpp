// Transposed convolution (convkit::ConvTranspose2dDesc): its validated problem, its ordered implementation list and
// the plans made of them. A transposed plan is an ordinary PlanState (plan.hpp): it runs, checks its buffers, takes the
// caller's pool and workspace exactly as a forward plan does.
#pragma once

#include <convkit/convkit.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plan.hpp"
#include "post_ops.hpp"
#include "problem.hpp"
#include "tuning.hpp"

namespace convkit::detail {

struct TransposedProblem {
  std::int64_t batch, in_channels, in_height, in_width, out_channels;
  std::int64_t kernel_height, kernel_width;
  std::int64_t stride_height, stride_width;
  std::int64_t pad_top, pad_left, pad_bottom, pad_right;
  std::int64_t output_padding_height, output_padding_width;
  std::int64_t dilation_height, dilation_width;
  std::int64_t groups;
  Layout layout;
  TransposedWeightsLayout weights_layout;

  std::int64_t out_height, out_width;
  std::int64_t group_in_channels, group_out_channels;
  std::int64_t input_elements, weights_elements, output_elements;

  std::int64_t in_pixels() const { return in_height * in_width; }
  std::int64_t out_pixels() const { return out_height * out_width; }
  bool is_depthwise() const { return group_in_channels == 1; }
  // No output element receives two taps: each stride at least its dilated kernel extent (stride equal to the kernel,
  // 1x1 kernels): the product is stored, never accumulated.
  bool taps_disjoint() const {
    return stride_height >= dilation_height * (kernel_height - 1) + 1 &&
           stride_width >= dilation_width * (kernel_width - 1) + 1;
  }
  // 2 * multiply-adds of the definition (Ci * Co/groups * Kh * Kw per input pixel).
  double flops() const;
};

// Throws Error(InvalidArgument) naming the field, value and rule.
TransposedProblem make_transposed_problem(const ConvTranspose2dDesc& desc);

// A stride-1 transposed convolution is the forward convolution with the kernel turned half a turn, the channels'
// roles swapped within each group and the pads d * (k - 1) - pad (the end's plus output_padding): when those pads are
// not negative, the descriptor of that convolution (weights OIHW), else false.
bool forward_equivalent(const TransposedProblem& problem, Conv2dDesc& forward);

// The weights of that forward convolution (OIHW) from the transposed ones.
std::vector<float> forward_equivalent_weights(const TransposedProblem& problem, const float* weights);

// The transposed plan: validated options and epilogue, the implementation chosen (or the one named) and bound.
// `implementation`: null for the options' choice.
PlanState make_transposed_plan(const TransposedProblem& problem, const float* weights, const float* bias,
                               const Options& options, const Epilogue* epilogue, const char* implementation = nullptr);

// The algorithm make_transposed_plan would choose.
Algorithm chosen_transposed_algorithm(const TransposedProblem& problem, const Options& options);

// Test hooks: the names of the transposed implementation list in the order auto tries them, and a plan bound to one
// of them (InvalidArgument for an unknown name, Unsupported when it declines the problem).
std::vector<std::string> transposed_implementation_names();
Plan transposed_plan_with(const ConvTranspose2dDesc& desc, const float* weights, const float* bias,
                          const Options& options, const char* implementation, const Epilogue* epilogue = nullptr);

}  // namespace convkit::detail
