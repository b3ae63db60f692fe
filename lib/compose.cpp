// Two stacked convolutions as one: the composed descriptor, and its weights and bias accumulated in double.
//
// Why the identity holds, per dimension (no padding, no dilation, one group): the second's output y reads the
// first's outputs y*s2 + i2, and each of those reads the inputs (y*s2 + i2)*s1 + i1 = y*(s1*s2) + (i2*s1 + i1). So
// the composed convolution has stride S = s1*s2 and the tap u = i2*s1 + i1, whose largest value gives the kernel
// K = k1 + (k2 - 1)*s1; a tap reached by several (i2, i1) pairs sums their products. The first's bias b1 reaches
// every output through every weight of the second, which gives the composed bias.
//
// Why its output has exactly the second's size, for every stride: write H - k1 = q*s1 + r with 0 <= r < s1. The
// first's output size is H1 = q + 1, and the second's is H2 = floor((q + 1 - k2) / s2) + 1, where q + 1 - k2 >= 0
// because the second is valid (k2 <= H1). The composed convolution gives
//   floor((H - K) / S) + 1 = floor(((q + 1 - k2)*s1 + r) / (s1*s2)) + 1
//                          = floor(floor(((q + 1 - k2)*s1 + r) / s1) / s2) + 1    (floor(floor(a/b)/c) = floor(a/(bc)))
//                          = floor((q + 1 - k2 + floor(r / s1)) / s2) + 1 = H2     (floor(r / s1) = 0).
// The same numerator, (q + 1 - k2)*s1 + r >= 0, shows K <= H: the composed kernel fits its input, and computing K
// cannot overflow. tests/test_compose.cpp checks the equality on every shape of its sweep.
#include <convkit/convkit.hpp>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "error.hpp"
#include "problem.hpp"

namespace convkit {
namespace detail {
namespace {

const char* layout_name(Layout layout) { return layout == Layout::NCHW ? "NCHW" : "NHWC"; }

// make_problem's message, prefixed with the convolution it is about, since both have the same field names.
Problem make_named_problem(const Conv2dDesc& desc, const char* name) {
  try {
    return make_problem(desc);
  } catch (const Error& error) {
    fail(error.status(), name, " convolution: ", error.what());
  }
}

// The second reads the first's output tensor, so everything that describes that tensor must agree.
void check_chain(const Problem& first, const Problem& second) {
  if (second.batch != first.batch)
    invalid("second.batch = ", second.batch, " must equal first.batch = ", first.batch,
            ": the second convolution reads the first's output");
  if (second.layout != first.layout)
    invalid("second.layout = ", layout_name(second.layout), " must equal first.layout = ", layout_name(first.layout),
            ": the second convolution reads the first's output in that layout");
  if (second.in_channels != first.out_channels)
    invalid("second.in_channels = ", second.in_channels, " must equal first.out_channels = ", first.out_channels,
            ": the second convolution reads the first's output");
  if (second.in_height != first.out_height)
    invalid("second.in_height = ", second.in_height, " must equal the first's output height, ", first.out_height,
            " (first.in_height = ", first.in_height, ", kernel_height = ", first.kernel_height,
            ", stride_height = ", first.stride_height, ")");
  if (second.in_width != first.out_width)
    invalid("second.in_width = ", second.in_width, " must equal the first's output width, ", first.out_width,
            " (first.in_width = ", first.in_width, ", kernel_width = ", first.kernel_width,
            ", stride_width = ", first.stride_width, ")");
}

// Valid convolutions whose composition this function does not compute (and after the second's padding no single
// convolution of the input is equal at the borders): a valid request it does not handle, hence Unsupported.
void check_supported(const Problem& p, bool is_second) {
  const char* name = is_second ? "second" : "first";
  const std::pair<const char*, std::int64_t> pads[] = {
      {"pad_top", p.pad_top}, {"pad_left", p.pad_left}, {"pad_bottom", p.pad_bottom}, {"pad_right", p.pad_right}};
  for (const auto& [field, value] : pads) {
    if (value == 0) continue;
    if (is_second)
      fail(Status::Unsupported, name, ".", field, " = ", value,
           ": compose covers unpadded convolutions only; padding breaks the identity at the borders, since the "
           "second's zero padding would be applied to the first's output, not to its input");
    fail(Status::Unsupported, name, ".", field, " = ", value, ": compose covers unpadded convolutions only");
  }
  if (p.dilation_height != 1)
    fail(Status::Unsupported, name, ".dilation_height = ", p.dilation_height,
         ": compose covers undilated convolutions only (dilation 1)");
  if (p.dilation_width != 1)
    fail(Status::Unsupported, name, ".dilation_width = ", p.dilation_width,
         ": compose covers undilated convolutions only (dilation 1)");
  if (p.groups != 1)
    fail(Status::Unsupported, name, ".groups = ", p.groups, ": compose covers ungrouped convolutions only (groups 1)");
}

std::int64_t composed_stride(std::int64_t first, std::int64_t second, const char* field) {
  std::int64_t stride;
  if (__builtin_mul_overflow(first, second, &stride))
    invalid("the composed ", field, " overflows 64 bits (first.", field, " * second.", field, " = ", first, " * ",
            second, ")");
  return stride;
}

// Offset of weight (o, c, i, j) of an ungrouped convolution in its weights layout.
std::int64_t weights_offset(const Problem& p, std::int64_t o, std::int64_t c, std::int64_t i, std::int64_t j) {
  if (p.weights_layout == WeightsLayout::OIHW)
    return ((o * p.in_channels + c) * p.kernel_height + i) * p.kernel_width + j;
  return ((o * p.kernel_height + i) * p.kernel_width + j) * p.in_channels + c;
}

}  // namespace
}  // namespace detail

Conv2dDesc compose(const Conv2dDesc& first, const Conv2dDesc& second) {
  const detail::Problem a = detail::make_named_problem(first, "first");
  const detail::Problem b = detail::make_named_problem(second, "second");
  detail::check_chain(a, b);
  detail::check_supported(a, false);
  detail::check_supported(b, true);

  Conv2dDesc composed;
  composed.batch = a.batch;
  composed.in_channels = a.in_channels;
  composed.in_height = a.in_height;
  composed.in_width = a.in_width;
  composed.out_channels = b.out_channels;
  // No overflow: K <= H (see the top of this file).
  composed.kernel_height = a.kernel_height + (b.kernel_height - 1) * a.stride_height;
  composed.kernel_width = a.kernel_width + (b.kernel_width - 1) * a.stride_width;
  composed.stride_height = detail::composed_stride(a.stride_height, b.stride_height, "stride_height");
  composed.stride_width = detail::composed_stride(a.stride_width, b.stride_width, "stride_width");
  composed.layout = a.layout;
  composed.weights_layout = a.weights_layout;
  // Catches the composed tensors whose sizes overflow (the weights grow as Co2 * Ci1 * K * K).
  const detail::Problem c = detail::make_named_problem(composed, "the composed");
  if (c.out_height != b.out_height || c.out_width != b.out_width)
    detail::fail(Status::InternalError, "internal error: the composed output is ", c.out_height, "x", c.out_width,
                 ", the second's ", b.out_height, "x", b.out_width);
  return composed;
}

Composition compose(const Conv2dDesc& first, const float* first_weights, const float* first_bias,
                    const Conv2dDesc& second, const float* second_weights, const float* second_bias) {
  Composition result;
  result.desc = compose(first, second);
  if (first_weights == nullptr) detail::invalid("first_weights is null; composing the weights needs both weights");
  if (second_weights == nullptr) detail::invalid("second_weights is null; composing the weights needs both weights");
  const detail::Problem a = detail::make_problem(first);
  const detail::Problem b = detail::make_problem(second);
  const detail::Problem c = detail::make_problem(result.desc);

  try {
    // Logical OIHW order, whatever the layouts; written out in the composed weights layout at the end.
    std::vector<double> sum(static_cast<std::size_t>(c.weights_elements), 0.0);
    std::vector<double> bias(static_cast<std::size_t>(c.out_channels), 0.0);
    const std::int64_t s_h = a.stride_height, s_w = a.stride_width;
    for (std::int64_t o = 0; o < b.out_channels; ++o) {
      double& bias_o = bias[static_cast<std::size_t>(o)];
      if (second_bias != nullptr) bias_o = second_bias[o];
      for (std::int64_t m = 0; m < b.in_channels; ++m) {
        const double b1 = first_bias != nullptr ? first_bias[m] : 0.0;
        for (std::int64_t i2 = 0; i2 < b.kernel_height; ++i2) {
          for (std::int64_t j2 = 0; j2 < b.kernel_width; ++j2) {
            const double w2 = second_weights[detail::weights_offset(b, o, m, i2, j2)];
            bias_o += w2 * b1;
            for (std::int64_t ch = 0; ch < a.in_channels; ++ch) {
              double* plane = sum.data() + (o * c.in_channels + ch) * c.kernel_height * c.kernel_width;
              for (std::int64_t i1 = 0; i1 < a.kernel_height; ++i1) {
                double* row = plane + (i2 * s_h + i1) * c.kernel_width + j2 * s_w;
                // Float products are exact in double, so only the sum rounds until the final conversion.
                for (std::int64_t j1 = 0; j1 < a.kernel_width; ++j1)
                  row[j1] += w2 * first_weights[detail::weights_offset(a, m, ch, i1, j1)];
              }
            }
          }
        }
      }
    }
    result.weights.resize(sum.size());
    for (std::int64_t o = 0; o < c.out_channels; ++o)
      for (std::int64_t ch = 0; ch < c.in_channels; ++ch)
        for (std::int64_t u = 0; u < c.kernel_height; ++u)
          for (std::int64_t v = 0; v < c.kernel_width; ++v)
            result.weights[static_cast<std::size_t>(detail::weights_offset(c, o, ch, u, v))] = static_cast<float>(
                sum[static_cast<std::size_t>(((o * c.in_channels + ch) * c.kernel_height + u) * c.kernel_width + v)]);
    result.bias.assign(bias.begin(), bias.end());
  } catch (const std::bad_alloc&) {
    detail::fail(Status::OutOfMemory, "out of memory while composing ", c.weights_elements, " weights");
  }
  return result;
}

}  // namespace convkit
