// A validated convolution: the public descriptor and options checked once, with every derived size computed
// without overflow. Everything past validation works on a Problem and may trust it.
#pragma once

#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>

#include "post_ops.hpp"

namespace convkit::detail {

struct Problem {
  std::int64_t batch, in_channels, in_height, in_width, out_channels;
  std::int64_t kernel_height, kernel_width;
  std::int64_t stride_height, stride_width;
  std::int64_t pad_top, pad_left, pad_bottom, pad_right;
  std::int64_t dilation_height, dilation_width;
  std::int64_t groups;
  Layout layout;
  WeightsLayout weights_layout;

  std::int64_t out_height, out_width;
  std::int64_t group_in_channels, group_out_channels;  // per group
  std::int64_t reduction;                              // group_in_channels * kernel_height * kernel_width
  std::int64_t input_elements, weights_elements, output_elements;

  bool is_1x1() const { return kernel_height == 1 && kernel_width == 1; }
  bool is_unit_stride() const { return stride_height == 1 && stride_width == 1; }
  bool is_unpadded() const { return pad_top == 0 && pad_left == 0 && pad_bottom == 0 && pad_right == 0; }
  std::int64_t in_pixels() const { return in_height * in_width; }
  std::int64_t out_pixels() const { return out_height * out_width; }
  // 2 * multiply-adds of the definition, as benchmarks count them.
  double flops() const;
};

// The checks of every descriptor: Error(InvalidArgument) naming `what` or the field.
std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what);
std::int64_t checked_add(std::int64_t a, std::int64_t b, const char* what);
void require_positive(std::int64_t value, const char* field);
void require_non_negative(std::int64_t value, const char* field);

// Throws Error(InvalidArgument) naming the field, value and rule. Enum fields may hold any integer.
Problem make_problem(const Conv2dDesc& desc);
void validate_options(const Options& options);

// Validates an epilogue (Error(InvalidArgument) naming the field) and turns it into the kernels' form. The options
// given with it must have no activation of their own.
PostOps make_post_ops(const Epilogue& epilogue, const Options& options);

// The epilogue of a plan made from options alone: their activation, no residual.
Epilogue epilogue_of(const Options& options);

// A residual given to a run: not null, and either the output itself or disjoint from it, and disjoint from the
// input (which may not overlap the output either) and from the workspace's first workspace_bytes.
void check_residual(const Problem& problem, const float* input, const float* residual, const float* output,
                    const void* workspace, std::size_t workspace_bytes);

// Checks the caller's buffers: not null (bias may be), and the output overlapping none of the others.
void validate_buffers(const Problem& problem, const float* input, const float* weights, const float* bias,
                      const float* output);

// Checks that output (output_elements floats) and input (input_elements floats) are disjoint.
void check_disjoint_output(const Problem& problem, const float* input, const float* output);

// Checks that the first workspace_bytes of the workspace, which a run writes, overlap neither the input nor the output.
// (A plan reads its own copy of the weights and bias, so the caller's may lie anywhere.)
void check_disjoint_workspace(const Problem& problem, const float* input, const float* output, const void* workspace,
                              std::size_t workspace_bytes);

// Resolves threads = 0 to the library default, and caps any count at what this process can run (usable_threads).
int resolve_threads(const Options& options);

}  // namespace convkit::detail
